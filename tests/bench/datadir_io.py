"""Validating and loading a 100k-utterance data dir (asr.datadir) against reading it with no checks.

Both read the same data dir (wav.scp, text, utt2spk, spk2utt, utt2dur of 100,000
utterances). Ours is what every stage does first: ``validate_data_dir`` (sorting,
cross-file consistency, spk2utt/utt2spk agreement) and ``DataDir.load``. ``baseline``
reads the same five files into dicts with ``line.split(maxsplit=1)`` (no checks at all), so
``ratio`` = baseline seconds / ours (median over repetitions) is what the checks cost:
below 1 means ours is slower. This replaces the timed assertion the unit tests had.

Usage::

    .venv/bin/python tests/bench/datadir_io.py [--json FILE] [--reps 3] [--utts 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from asr.datadir import DataDir, validate_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinydata import write_large_dir  # noqa: E402

FILES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write the record to this file")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--utts", type=int, default=100_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "big"
        write_large_dir(d, args.utts)
        ours_s, base_s, ratios = [], [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            assert validate_data_dir(d, no_feats=True) == []
            DataDir.load(d)
            t1 = time.perf_counter()
            for f in FILES:
                with open(d / f, encoding="utf-8") as fh:
                    dict(line.split(maxsplit=1) for line in fh)
            t2 = time.perf_counter()
            ours_s.append(t1 - t0)
            base_s.append(t2 - t1)
            ratios.append((t2 - t1) / (t1 - t0))
    rec = {"utts": args.utts, "ours_s": round(statistics.median(ours_s), 3),
           "baseline_s": round(statistics.median(base_s), 3), "baseline": "dict(line.split(maxsplit=1)) of the 5 files",
           "ratio": round(statistics.median(ratios), 3)}
    print(json.dumps(rec))
    if args.json:
        Path(args.json).write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
