"""Training throughput of the acoustic-model cells against ``torch.nn.LSTM``.

Measures training frames per second (forward, backward and an Adam step on a
frame-level cross-entropy loss) for every cell type, uni- and bidirectional,
with and without a recurrent projection, and for ``torch.nn.LSTM`` (with
``proj_size`` where the model has a projection) of the same size in the same
run. Repetitions of all configurations are interleaved, and the median time
is used, because the machine is shared.

Usage::

    python tests/bench/train_throughput.py [--json FILE] [--device cpu|cuda]
        [--hidden 128] [--proj 64] [--layers 2] [--batch 8] [--frames 100] [--reps 7] [--threads 1]

Each JSON record: ``name``, ``cell``, ``bidirectional``, ``proj``,
``frames_per_s``, ``baseline`` (the nn.LSTM configuration), ``baseline_frames_per_s``,
``ratio`` (frames_per_s / baseline_frames_per_s) and ``ratio_vs_lstm`` (against
our own ``lstm`` cell of the same shape, the LSTMP when ``proj`` > 0). Records with a
projection also have ``matched_lstm_hidden`` (the width of the LSTM without projection whose
parameter count is closest to the record's model), ``matched_lstm_frames_per_s`` and
``ratio_vs_matched_lstm``: the LSTMP's speed against the plain LSTM of the same size (our
``lstm``, which runs on ``torch.nn.LSTM``). ``--amp`` adds bf16-autocast records of the LSTM
and LSTMP (``"amp": "bf16"``, ratios against the fp32 run of the same model); the header says
whether the CPU has AVX-512-BF16 or AMX, where bf16 can be faster.
All utterances in a batch have the same length, so both sides do the same work.
Ratios are medians of per-repetition ratios (both measured in the same
repetition, seconds apart), which cancels most of the drift of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.models import CELL_TYPES, EncoderConfig, build_model  # noqa: E402


class _Baseline(nn.Module):
    """torch.nn.LSTM stack + linear output, the same shape as our model."""

    def __init__(self, input_dim: int, hidden: int, proj: int, layers: int, bi: bool, outputs: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden, num_layers=layers, proj_size=proj, bidirectional=bi,
                            batch_first=True)
        self.output = nn.Linear((2 if bi else 1) * (proj or hidden), outputs)

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.output(self.lstm(x)[0]), x_lens


def _matched_width(params: int, layers: int, bi: bool, input_dim: int, outputs: int) -> int:
    """The hidden size of the plain LSTM (same layers and directions) with the closest parameter count."""
    def count(h: int) -> int:
        return build_model(EncoderConfig(cell="lstm", hidden=h, layers=layers, bidirectional=bi),
                           input_dim, outputs).num_parameters()

    lo, hi = 1, 4096
    while lo < hi:  # the count grows with the width: first width with count >= params
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < params else (lo, mid)
    return min((lo - 1, lo), key=lambda h: abs(count(h) - params) if h > 0 else params)


def _cpu_flags() -> str:
    """Which bf16 matrix features the CPU has (Linux /proc/cpuinfo), in words."""
    try:
        flags = set(next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split())
    except (OSError, StopIteration):
        return "flags unknown"
    have = [name for flag, name in (("avx512_bf16", "AVX-512-BF16"), ("amx_bf16", "AMX-BF16"),
                                    ("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags]
    return ", ".join(have) or "none of AVX2/AVX-512/AVX-512-BF16/AMX"


def _step_fn(model: nn.Module, x: torch.Tensor, x_lens: torch.Tensor, y: torch.Tensor,
             device: torch.device, amp: bool = False) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(x, x_lens)
        loss = nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write the records to this file")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--input-dim", type=int, default=40)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--proj", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--outputs", type=int, default=32)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1; 0 = torch's default). On a shared machine several "
                        "OpenMP threads per process get descheduled mid-op and the timings become noise")
    p.add_argument("--reps", type=int, default=7, help="timed repetitions per configuration (median used)")
    p.add_argument("--cells", default=",".join(CELL_TYPES), help="comma-separated cell types")
    p.add_argument("--amp", action="store_true", help="also time the LSTM and LSTMP under bf16 autocast")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, T = args.batch, args.frames
    x = torch.randn(B, T, args.input_dim, device=device)
    x_lens = torch.full((B,), T, device=device)
    y = torch.randint(0, args.outputs, (B, T), device=device)

    steps: dict[tuple[str, bool, int], Callable[[], None]] = {}
    for bi in (False, True):
        for proj in (0, args.proj):
            base = _Baseline(args.input_dim, args.hidden, proj, args.layers, bi, args.outputs).to(device)
            steps[("nn.LSTM", bi, proj)] = _step_fn(base, x, x_lens, y, device)
            for cell in args.cells.split(","):
                cfg = EncoderConfig(cell=cell, hidden=args.hidden, proj=proj, layers=args.layers,
                                    bidirectional=bi)
                model = build_model(cfg, args.input_dim, args.outputs).to(device)
                steps[(cell, bi, proj)] = _step_fn(model, x, x_lens, y, device)
    matched: dict[tuple[bool, int], int] = {}
    if args.proj:
        for bi in (False, True):
            ref = build_model(EncoderConfig(cell="lstm", hidden=args.hidden, proj=args.proj, layers=args.layers,
                                            bidirectional=bi), args.input_dim, args.outputs).num_parameters()
            width = _matched_width(ref, args.layers, bi, args.input_dim, args.outputs)
            matched[(bi, args.proj)] = width
            cfg = EncoderConfig(cell="lstm", hidden=width, layers=args.layers, bidirectional=bi)
            steps[("matched", bi, args.proj)] = _step_fn(build_model(cfg, args.input_dim, args.outputs).to(device),
                                                          x, x_lens, y, device)
    if args.amp:
        for bi in (False, True):
            for proj in (0, args.proj):
                cfg = EncoderConfig(cell="lstm", hidden=args.hidden, proj=proj, layers=args.layers, bidirectional=bi)
                model = build_model(cfg, args.input_dim, args.outputs).to(device)
                steps[("amp", bi, proj)] = _step_fn(model, x, x_lens, y, device, amp=True)
    times: dict[tuple[str, bool, int], list[float]] = {k: [] for k in steps}
    for fn in steps.values():  # warm-up (allocator, cuDNN plans)
        fn()
    for _ in range(args.reps):
        for key, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    fps = {k: B * T / statistics.median(v) for k, v in times.items()}

    def paired_ratio(key: tuple[str, bool, int], ref: tuple[str, bool, int]) -> float:
        """Median over repetitions of the speed ratio measured in the same repetition."""
        return statistics.median(r / k for k, r in zip(times[key], times[ref]))

    records = []
    for (cell, bi, proj), f in fps.items():
        if cell in ("nn.LSTM", "matched"):
            continue
        if cell == "amp":
            records.append({"name": f"{'b' if bi else ''}lstm{'-p' + str(proj) if proj else ''}-bf16", "cell": "lstm",
                            "bidirectional": bi, "proj": proj, "amp": "bf16", "hidden": args.hidden,
                            "layers": args.layers, "batch": B, "frames": T, "device": args.device,
                            "frames_per_s": round(f, 1), "baseline": "the same model in fp32",
                            "baseline_frames_per_s": fps[("lstm", bi, proj)],
                            "ratio": round(paired_ratio((cell, bi, proj), ("lstm", bi, proj)), 3),
                            "ratio_vs_lstm": None})
            continue
        base_key = ("nn.LSTM", bi, proj)
        name = f"{'b' if bi else ''}{cell}{'-p' + str(proj) if proj else ''}"
        records.append({
            "name": name, "cell": cell, "bidirectional": bi, "proj": proj,
            "hidden": args.hidden, "layers": args.layers, "batch": B, "frames": T, "device": args.device,
            "frames_per_s": round(f, 1),
            "baseline": f"nn.LSTM(hidden={args.hidden}, proj_size={proj}, layers={args.layers}, "
                        f"bidirectional={bi})",
            "baseline_frames_per_s": round(fps[base_key], 1),
            "ratio": round(paired_ratio((cell, bi, proj), base_key), 3),
            "ratio_vs_lstm": (round(paired_ratio((cell, bi, proj), ("lstm", bi, proj)), 3)
                              if ("lstm", bi, proj) in fps else None),
        })
        if proj and (bi, proj) in matched:
            records[-1].update(matched_lstm_hidden=matched[(bi, proj)],
                               matched_lstm_frames_per_s=round(fps[("matched", bi, proj)], 1),
                               ratio_vs_matched_lstm=round(paired_ratio((cell, bi, proj), ("matched", bi, proj)), 3))
    print(f"CPU: {_cpu_flags()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'name':28s} {'frames/s':>10s} {'nn.LSTM f/s':>12s} {'ratio':>6s} {'vs lstm':>7s} {'vs matched':>10s}")
    for r in records:
        print(f"{r['name']:28s} {r['frames_per_s']:10.0f} {r['baseline_frames_per_s']:12.0f} "
              f"{r['ratio']:6.2f} {r['ratio_vs_lstm'] or float('nan'):7.2f} "
              f"{r.get('ratio_vs_matched_lstm') or float('nan'):10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
