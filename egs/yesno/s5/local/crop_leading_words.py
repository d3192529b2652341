#!/usr/bin/env python3
"""Data augmentation for yesno: copies of each training file with its first words cut off.

Sorted by name, every training file of yesno starts with NO and every test file with YES, so a
model trained on the files alone learns that utterances start with NO. The words of a yesno file
are separated by clear pauses: an energy detector finds them, and when it finds exactly as many
words as the transcript has, we add segments that start in the pause after word k (k = 1..K)
with the transcript's remaining words. Files where the count differs are used whole only.

Usage: local/crop_leading_words.py [--max-cut K] <src-data-dir> <dest-data-dir>
Writes wav.scp, segments, text, utt2spk, spk2utt (the whole files are segments too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from asr.audio import read_audio


def word_regions(wave: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """Speech regions (first, last frame) of 10 ms frames: energy within 20 dB of the loudest frame."""
    hop = sr // 100
    n = len(wave) // hop
    energy = (wave[: n * hop].reshape(n, hop) ** 2).sum(1)
    db = 10 * np.log10(energy + 1e-10)
    speech = db > db.max() - 20
    regions: list[list[int]] = []
    for i, s in enumerate(speech):
        if s and (not regions or regions[-1][1] != i):
            if regions and i - regions[-1][1] < 8:  # a short dip inside a word
                regions[-1][1] = i + 1
                continue
            regions.append([i, i + 1])
        elif s:
            regions[-1][1] = i + 1
    return [(a, b) for a, b in regions if b - a >= 10]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-cut", type=int, default=5, help="cut at most this many leading words (default 5)")
    p.add_argument("src")
    p.add_argument("dest")
    args = p.parse_args()
    src, dest = Path(args.src), Path(args.dest)
    wavs = dict(line.split(maxsplit=1) for line in (src / "wav.scp").read_text().splitlines())
    texts = dict(line.split(maxsplit=1) for line in (src / "text").read_text().splitlines())
    segments, text, used = {}, {}, 0
    for utt, spec in wavs.items():
        words = texts[utt].split()
        segments[utt] = f"{utt} 0.00 -1"
        text[utt] = " ".join(words)
        wave, sr = read_audio(spec, name=utt)
        regions = word_regions(wave, sr)
        if len(regions) != len(words):
            continue
        used += 1
        for k in range(1, min(args.max_cut, len(words) - 1) + 1):
            start = (regions[k - 1][1] + regions[k][0]) / 2 / 100
            cut = f"{utt}-cut{k}"
            segments[cut] = f"{utt} {start:.2f} -1"
            text[cut] = " ".join(words[k:])
    dest.mkdir(parents=True, exist_ok=True)
    ids = sorted(segments)
    (dest / "wav.scp").write_text("".join(f"{u} {wavs[u]}\n" for u in sorted(wavs)))
    (dest / "segments").write_text("".join(f"{u} {segments[u]}\n" for u in ids))
    (dest / "text").write_text("".join(f"{u} {text[u]}\n" for u in ids))
    (dest / "utt2spk").write_text("".join(f"{u} {u}\n" for u in ids))
    (dest / "spk2utt").write_text("".join(f"{u} {u}\n" for u in ids))
    print(f"{dest}: {len(ids)} utterances ({used} of {len(wavs)} files cut into words)")


if __name__ == "__main__":
    main()
