"""Benchmark: asr.features.fbank vs kaldi-native-fbank and torchaudio.compliance.kaldi.fbank.

Runs the three on the same real audio (speechocean762 at 16 kHz, FSDD at 8 kHz),
with default Kaldi options (dither 0), on ONE CPU thread (and ours on CUDA with
``--device cuda``). Repetitions of the implementations are interleaved so that
load from other processes hits them alike; the best repetition is reported.
Also checks that the outputs agree with kaldi-native-fbank.

Timing covers the feature computation only: audio is decoded and padded into
batches beforehand. kaldi-native-fbank is timed on ``accept_waveform`` +
``input_finished`` (where it computes), without reading the frames back, and
is given Python lists made beforehand: its binding copies a NumPy array element
by element, which would add about half again to its time.

Usage::

    .venv/bin/python tests/bench/fbank.py [--json FILE] [--device cpu|cuda] [--corpora DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from asr.features.fbank import FbankOptions, fbank, num_frames  # noqa: E402


def load_speechocean(corpora: Path, n: int) -> list[np.ndarray]:
    """First ``n`` utterances of speechocean762/train (wav.scp order), int16-scale float32."""
    root = corpora / "speechocean762"
    lines = (root / "train" / "wav.scp").read_text().splitlines()[:n]
    return [sf.read(str(root / ln.split(maxsplit=1)[1]), dtype="int16")[0].astype(np.float32) for ln in lines]


def load_fsdd(corpora: Path, n: int) -> list[np.ndarray]:
    """First ``n`` FSDD recordings in name order, int16-scale float32."""
    files = sorted((corpora / "fsdd" / "recordings").glob("*.wav"))[:n]
    return [sf.read(str(p), dtype="int16")[0].astype(np.float32) for p in files]


def make_batches(waves: list[np.ndarray], batch_size: int,
                 device: str) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Length-sorted padded batches: (utterance indices, (B, N) waves, (B,) lens)."""
    order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
    out = []
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        lens = torch.tensor([len(waves[i]) for i in idx])
        x = torch.zeros(len(idx), int(lens.max()))
        for j, i in enumerate(idx):
            x[j, : len(waves[i])] = torch.from_numpy(waves[i])
        out.append((idx, x.to(device), lens.to(device)))
    return out


def knf_options(opts: FbankOptions):  # noqa: ANN201 (kaldi_native_fbank.FbankOptions)
    import kaldi_native_fbank as knf

    k = knf.FbankOptions()
    k.frame_opts.samp_freq = opts.sample_frequency
    k.frame_opts.dither = opts.dither
    k.frame_opts.snip_edges = opts.snip_edges
    k.mel_opts.num_bins = opts.num_mel_bins
    return k


def run_knf(waves: list[list[float]], opts: FbankOptions, read_back: bool = False) -> list[np.ndarray]:
    """kaldi-native-fbank on each wave (a list of samples); frames read back only when ``read_back``."""
    import kaldi_native_fbank as knf

    k = knf_options(opts)
    out = []
    for w in waves:
        f = knf.OnlineFbank(k)
        f.accept_waveform(opts.sample_frequency, w)
        f.input_finished()
        if read_back:
            n = f.num_frames_ready
            out.append(np.stack([np.asarray(f.get_frame(i)) for i in range(n)]) if n else
                       np.zeros((0, opts.num_features), np.float32))
    return out


def run_torchaudio(tensors: list[torch.Tensor], opts: FbankOptions) -> list[torch.Tensor]:
    """torchaudio.compliance.kaldi.fbank on each (1, N) wave (it takes one utterance at a time)."""
    from torchaudio.compliance import kaldi

    return [kaldi.fbank(t, sample_frequency=opts.sample_frequency, num_mel_bins=opts.num_mel_bins,
                        dither=opts.dither, snip_edges=opts.snip_edges) if t.shape[1] >= opts.window_size
            else torch.zeros(0, opts.num_features) for t in tensors]


def run_ours(batches: list[tuple[list[int], torch.Tensor, torch.Tensor]], opts: FbankOptions,
             n_utts: int) -> list[torch.Tensor]:
    out: list[torch.Tensor] = [torch.empty(0)] * n_utts
    for idx, x, lens in batches:
        feats, frame_lens = fbank(x, lens, opts)
        for j, i in enumerate(idx):
            out[i] = feats[j, : int(frame_lens[j])]
    if batches and batches[0][1].is_cuda:
        torch.cuda.synchronize()
    return out


def agreement(ours: list, ref: list[np.ndarray]) -> dict[str, float]:
    """Max abs difference and fraction of values off by more than 1e-3, against kaldi-native-fbank."""
    errs = [np.abs(np.asarray(torch.as_tensor(o).double().cpu()) - r).ravel() for o, r in zip(ours, ref)]
    e = np.concatenate(errs)
    return {"max_abs_diff": float(e.max()), "frac_over_1e-3": float(np.mean(e > 1e-3))}


def bench_corpus(name: str, waves: list[np.ndarray], opts: FbankOptions, device: str, reps: int,
                 batch_size: int) -> list[dict]:
    """Time every implementation on one corpus; returns one record per implementation."""
    seconds = sum(len(w) for w in waves) / opts.sample_frequency
    frames = sum(num_frames(len(w), opts) for w in waves)
    tensors = [torch.from_numpy(w)[None] for w in waves]
    lists = [w.tolist() for w in waves]
    cpu_batches = make_batches(waves, batch_size, "cpu")
    impls: dict[str, Callable[[], object]] = {
        "kaldi-native-fbank": lambda: run_knf(lists, opts),
        "torchaudio.compliance.kaldi": lambda: run_torchaudio(tensors, opts),
        "asr (cpu)": lambda: run_ours(cpu_batches, opts, len(waves)),
    }
    if device == "cuda":
        cuda_batches = make_batches(waves, batch_size, "cuda")
        run_ours(cuda_batches, opts, len(waves))  # warm-up: kernels, cuFFT plans
        impls["asr (cuda)"] = lambda: run_ours(cuda_batches, opts, len(waves))
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(reps):
        for key, fn in impls.items():
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)

    ref = run_knf(lists, opts, read_back=True)
    checks = {"kaldi-native-fbank": {"max_abs_diff": 0.0, "frac_over_1e-3": 0.0},
              "torchaudio.compliance.kaldi": agreement(run_torchaudio(tensors, opts), ref),
              "asr (cpu)": agreement(run_ours(cpu_batches, opts, len(waves)), ref)}
    if device == "cuda":
        checks["asr (cuda)"] = agreement(run_ours(cuda_batches, opts, len(waves)), ref)
    knf_best = min(times["kaldi-native-fbank"])
    records = []
    for key, ts in times.items():
        best = min(ts)
        records.append({
            "corpus": name, "impl": key, "utterances": len(waves), "audio_seconds": round(seconds, 2),
            "frames": frames, "best_seconds": best, "median_seconds": float(np.median(ts)),
            "frames_per_second": frames / best, "x_real_time": seconds / best,
            "speedup_vs_knf": knf_best / best, **checks[key],
            "threads": torch.get_num_threads(), "batch_size": batch_size if key.startswith("asr") else 1,
        })
    return records


def print_table(records: list[dict]) -> None:
    head = (f"{'corpus':<16} {'implementation':<28} {'frames/s':>10} {'x RT':>8} {'vs knf':>7} "
            f"{'max|diff|':>10} {'>1e-3':>8}")
    print(head)
    print("-" * len(head))
    for r in records:
        print(f"{r['corpus']:<16} {r['impl']:<28} {r['frames_per_second']:>10.0f} {r['x_real_time']:>8.0f} "
              f"{r['speedup_vs_knf']:>6.2f}x {r['max_abs_diff']:>10.2e} {r['frac_over_1e-3']:>8.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the records (a JSON list) to this file")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="also time ours on CUDA (default: cpu only)")
    parser.add_argument("--corpora", default=str(REPO / ".." / "shared" / "corpora"),
                        help="corpus root (default: ../shared/corpora)")
    parser.add_argument("--speechocean", type=int, default=200, help="speechocean762 utterances (default 200)")
    parser.add_argument("--fsdd", type=int, default=500, help="FSDD recordings (default 500)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--batch-size", type=int, default=16, help="utterances per batch for ours (default 16)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    torch.set_num_threads(1)
    corpora = Path(args.corpora)
    records = []
    records += bench_corpus("speechocean762", load_speechocean(corpora, args.speechocean),
                            FbankOptions(sample_frequency=16000.0), args.device, args.reps, args.batch_size)
    records += bench_corpus("fsdd", load_fsdd(corpora, args.fsdd),
                            FbankOptions(sample_frequency=8000.0), args.device, args.reps, args.batch_size)
    print_table(records)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
