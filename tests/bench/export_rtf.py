"""Exported models against their checkpoint: speed (real-time factor) and WER, in one run.

For one trained model and one data dir with a ``text`` file, the model is exported
(``asr export``) to ONNX float32, ONNX int8 (dynamic quantisation) and TorchScript, and each
of the four (the checkpoint is the baseline) recognises every utterance greedily, one
utterance per batch as ``asr transcribe`` of one file does, through the same
:class:`asr.decode.recognizer.Recognizer`. Audio is read once beforehand; what is timed is
features + acoustic model + greedy search. Repetitions are interleaved (checkpoint, onnx,
onnx-int8, torchscript, again ...); ``speedup`` = checkpoint seconds / system seconds in the
same repetition (median over repetitions), ``wer`` from the greedy output of the last one.

Usage::

    .venv/bin/python tests/bench/export_rtf.py --model EXP --data-dir DIR [--reps 3] [--num-threads 1]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--num-threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.num_threads)

    from asr.decode.recognizer import Recognizer
    from asr.export import export
    from asr.score import score_texts

    tmp = Path(tempfile.mkdtemp())
    systems = {"checkpoint": args.model}
    for name, fmt, q, suffix in (("onnx", "onnx", False, ".onnx"), ("onnx-int8", "onnx", True, ".onnx"),
                                 ("torchscript", "torchscript", False, ".ts")):
        systems[name] = str(export(args.model, fmt, tmp / f"{name}{suffix}", quantize=q))
    recs = {n: Recognizer(m) for n, m in systems.items()}
    data = recs["checkpoint"].open_data(args.data_dir)
    utts, xs = data.load(range(len(data)))
    audio_s = sum(u.duration for u in utts)
    refs = {u.utt: recs["checkpoint"].system.tokenizer.normalize(u.text or "")
            for u in utts} if data.data.text is None else dict(data.data.text)
    times: dict[str, list[float]] = {n: [] for n in recs}
    hyps: dict[str, dict[str, str]] = {}
    for _ in range(args.reps):
        for n, rec in recs.items():
            out = {}
            t0 = time.perf_counter()
            for u, x in zip(utts, xs):
                out[u.utt] = rec.recognize([x])[0].text
            times[n].append(time.perf_counter() - t0)
            hyps[n] = out
    results = []
    for n in recs:
        counts, _ = score_texts(refs, hyps[n])
        speedups = [b / s for b, s in zip(times["checkpoint"], times[n])]
        results.append({"system": n, "rtf": round(statistics.median(times[n]) / audio_s, 5),
                        "speedup": round(statistics.median(speedups), 3), "wer": round(counts.wer, 2),
                        "file_mb": round(Path(systems[n]).stat().st_size / 1e6, 2) if n != "checkpoint" else None})
    report = {"model": str(recs["checkpoint"].path), "data": args.data_dir, "utterances": len(utts),
              "audio_s": round(audio_s, 1), "threads": args.num_threads, "reps": args.reps,
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "results": results}
    for r in results:
        print(f"{r['system']:12s} RTF {r['rtf']:.5f}  speed-up {r['speedup']:.2f}x  WER {r['wer']:.2f}%")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
