#!/usr/bin/env python3
"""How close a CTM's word times are to where the words are: for local/make_sequences.py's test sets.

Usage: local/score_word_times.py [--tolerance 0.1] <data-dir>/word_times <ctm>
Only recordings whose words are all right (same words, same order) are compared. For each word it
counts whether its CTM span lies within [start - tolerance, end + tolerance] of the digit's audio,
and prints the median offset of the CTM start from the digit's start.
"""

from __future__ import annotations

import argparse
import statistics


def read(path: str, ctm: bool) -> dict[str, list[tuple[str, float, float]]]:
    out: dict[str, list[tuple[str, float, float]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if ctm:  # utt channel start duration word [confidence]
                out.setdefault(p[0], []).append((p[4], float(p[2]), float(p[2]) + float(p[3])))
            else:  # utt word start end
                out.setdefault(p[0], []).append((p[1], float(p[2]), float(p[3])))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tolerance", type=float, default=0.1, help="seconds either side (default 0.1)")
    p.add_argument("word_times")
    p.add_argument("ctm")
    args = p.parse_args()
    ref, hyp = read(args.word_times, False), read(args.ctm, True)
    tol = args.tolerance
    total = inside = 0
    offsets = []
    right = 0
    for utt, words in ref.items():
        h = hyp.get(utt, [])
        if [w for w, _, _ in h] != [w for w, _, _ in words]:
            continue
        right += 1
        for (_, s, e), (_, hs, he) in zip(words, h):
            total += 1
            inside += s - tol <= hs and he <= e + tol
            offsets.append(hs - s)
    if not total:
        raise SystemExit("no recording with all its words right: nothing to compare")
    print(f"{right} of {len(ref)} recordings all right, {total} words: {inside} ({100 * inside / total:.1f}%) "
          f"within {tol} s of their digit; median start offset {statistics.median(offsets):+.3f} s")


if __name__ == "__main__":
    main()
