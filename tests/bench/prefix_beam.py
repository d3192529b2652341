"""CTC prefix beam search (asr.decode.ctc, pure Python) against flashlight's lexicon-free beam search.

Both search the same log-posteriors (random but peaky, 300 frames x 30 units, a batch
of 4, as a 3 s utterance of a char model at 10 ms frames) with a beam of 8, without an
LM. ``baseline`` is ``torchaudio.models.decoder.ctc_decoder(lexicon=None)`` (C++
flashlight). ``ratio`` = baseline seconds / ours per repetition, median over repetitions:
above 1 means ours is faster. This replaces the timed assertion the unit tests had.

Usage::

    .venv/bin/python tests/bench/prefix_beam.py [--json FILE] [--reps 5] [--frames 300] [--units 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from asr.decode.ctc import prefix_beam_search


def log_probs(batch: int, frames: int, units: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(3.0 * torch.randn(batch, frames, units, generator=g), -1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write the record to this file")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--units", type=int, default=30)
    p.add_argument("--beam", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    from torchaudio.models.decoder import ctc_decoder

    lp = log_probs(4, args.frames, args.units)
    tokens = ["-", "|"] + [f"u{i}" for i in range(args.units - 2)]
    base = ctc_decoder(lexicon=None, tokens=tokens, lm=None, beam_size=args.beam, blank_token="-",
                       sil_token="|", nbest=1)
    ours_s, base_s, ratios = [], [], []
    prefix_beam_search(lp[:1], beam=args.beam)  # warm-up
    for _ in range(args.reps):
        t0 = time.perf_counter()
        prefix_beam_search(lp, beam=args.beam)
        t1 = time.perf_counter()
        base(lp)
        t2 = time.perf_counter()
        ours_s.append((t1 - t0) / 4)
        base_s.append((t2 - t1) / 4)
        ratios.append((t2 - t1) / (t1 - t0))
    rec = {"frames": args.frames, "units": args.units, "beam": args.beam,
           "ours_ms_per_utt": round(1000 * statistics.median(ours_s), 2),
           "baseline_ms_per_utt": round(1000 * statistics.median(base_s), 2),
           "baseline": "torchaudio ctc_decoder(lexicon=None)", "ratio": round(statistics.median(ratios), 3)}
    print(json.dumps(rec))
    if args.json:
        Path(args.json).write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
