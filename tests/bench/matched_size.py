"""Training speed of the speechocean762 architectures at matched size, against its default BLSTM.

``egs/speechocean762/s5/run_comparison.sh`` trains eight architectures of about 1.6 M
parameters (its header lists the widths). Training them all takes a night on 2 CPU
cores; this script measures, in minutes, what each costs per training step, which
is the training-time column of that comparison up to a constant and the reason the
default model (``conf/train.yaml``) is a BLSTM and not a BLSTMP.

What is timed per step: frame stacking, the model's forward pass, a CTC loss, the
backward pass and an Adam step, on a batch shaped like the recipe's (``--batch``
utterances of ``--frames`` 10 ms input frames, 40 fbank dimensions, 29 outputs).
Repetitions of all systems are interleaved; ``ratio`` is the median over repetitions
of (reference seconds / system seconds), both measured in the same repetition, so
above 1 means faster than the reference ``blstm``.

Usage::

    .venv/bin/python tests/bench/matched_size.py [--json FILE] [--threads 2] [--reps 5]
        [--batch 7] [--frames 430] [--systems "blstm blstmp ..."]

Results of a run on the 2-core development machine: ``matched_size_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.losses import ctc_loss  # noqa: E402
from asr.models import EncoderConfig, build_model  # noqa: E402

# (cell, bidirectional, hidden, proj): the widths of run_comparison.sh (matched to 1.6 M parameters).
SYSTEMS = {
    "lstm": ("lstm", False, 270, 0),
    "lstmp": ("lstm", False, 352, 176),
    "blstm": ("lstm", True, 160, 0),
    "blstmp": ("lstm", True, 211, 106),
    "lstm-srnn": ("lstm-srnn", False, 292, 0),
    "lstm-srnn-out": ("lstm-srnn-out", False, 349, 0),
    "lstm-srnn-hidden": ("lstm-srnn-hidden", False, 485, 0),
    "lstm-gates": ("lstm-gates", False, 551, 0),
}
REFERENCE = "blstm"


def build(name: str) -> torch.nn.Module:
    """The model of system ``name``: 3 layers, 3 frames stacked, every 3rd kept (as conf/train.yaml)."""
    cell, bi, hidden, proj = SYSTEMS[name]
    cfg = EncoderConfig(cell=cell, hidden=hidden, proj=proj, layers=3, bidirectional=bi, stack=3, subsample=3)
    torch.manual_seed(0)
    return build_model(cfg, 40, 29)


def step_seconds(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, lens: torch.Tensor,
                 targets: torch.Tensor, target_lens: torch.Tensor) -> float:
    """Seconds of one training step."""
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    logits, out_lens = model(x, lens)
    loss, count = ctc_loss(logits, out_lens, targets, target_lens)
    (loss / count).backward()
    opt.step()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", help="write the records to this file")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2: the recipe's)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (median used; default 5)")
    p.add_argument("--batch", type=int, default=7, help="utterances per batch (default 7)")
    p.add_argument("--frames", type=int, default=430, help="input frames per utterance (default 430)")
    p.add_argument("--systems", default=" ".join(SYSTEMS), help="systems to time (default all)")
    args = p.parse_args(argv)
    names = args.systems.split()
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        p.error(f"unknown system(s) {unknown}; known: {' '.join(SYSTEMS)}")
    if REFERENCE not in names:
        names.insert(0, REFERENCE)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.frames, 40, generator=g)
    # Lengths as in a length-sorted batch: within 10% of the longest.
    lens = torch.linspace(args.frames * 0.9, args.frames, args.batch).round().long().flip(0)
    target_lens = (lens // 3 // 5).clamp(min=1)  # about 5 output frames per character
    targets = torch.randint(1, 29, (args.batch, int(target_lens.max())), generator=g)
    models = {n: build(n) for n in names}
    opts = {n: torch.optim.Adam(m.parameters(), lr=1e-4) for n, m in models.items()}
    for n in names:  # warm-up (allocator, oneDNN primitive caches)
        step_seconds(models[n], opts[n], x, lens, targets, target_lens)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.reps):
        for n in names:
            times[n].append(step_seconds(models[n], opts[n], x, lens, targets, target_lens))
    records = []
    print(f"{args.batch} x {args.frames} frames per step, {args.threads} thread(s), {args.reps} repetitions; "
          f"reference {REFERENCE}")
    print(f"{'system':18s} {'params':>10s} {'s/step':>8s} {'ratio':>6s}")
    for n in names:
        ratio = statistics.median(r / t for r, t in zip(times[REFERENCE], times[n]))
        rec = {"name": n, "params": models[n].num_parameters(), "seconds_per_step": statistics.median(times[n]),
               "reference": REFERENCE, "ratio": round(ratio, 3), "threads": args.threads, "batch": args.batch,
               "frames": args.frames, "torch": torch.__version__, "machine": platform.machine()}
        records.append(rec)
        print(f"{n:18s} {rec['params']:10,d} {rec['seconds_per_step']:8.3f} {ratio:6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
