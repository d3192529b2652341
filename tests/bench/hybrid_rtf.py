"""Real-time factor of hybrid decoding (posteriors / priors through HCLG) against the CTC decoders.

What is timed, per utterance (batch 1, as ``asr transcribe`` of one file), on one CPU thread:
features from the waveform, the model forward pass and the search, through
:class:`asr.decode.recognizer.Recognizer`. Audio is read once beforehand, not timed.

In the same run, interleaved repetition by repetition:

- ``hybrid_b<beam>_m<max-active>``: a trained hybrid model (``--model``, with ``graph/`` beside it)
  through its HCLG with Kaldi's FasterDecoder at acoustic scale 0.1, one row per ``--beams``
  setting (the recipe decodes at beam 11, max-active 7000);
- ``ctc_greedy`` and ``ctc_beam8``: the CTC system of ``--ctc-config`` (speechocean762's
  conf/train.yaml, a 3-layer BLSTM) with random weights (its greedy search's cost does not
  depend on them: tests/bench/decode_rtf.py), greedy and prefix beam search of width 8.

The hybrid search's cost does depend on the weights (how peaked the posteriors are): it needs a
trained model. ``ratio_to_ctc_greedy`` = hybrid seconds / CTC greedy seconds (median over
repetitions). The issue's target is a hybrid RTF <= 0.05.

Usage::

    .venv/bin/python tests/bench/hybrid_rtf.py --model egs/speechocean762/s5/exp/ce_lstm \
        [--data-dir egs/speechocean762/s5/data/dev] [--max-utts 40] [--reps 3] [--json FILE]

Results of a run on the 2-core development machine: ``hybrid_rtf_cpu.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from decode_rtf import RECIPE, load_waves, random_checkpoint, time_runs  # noqa: E402

from asr.decode.recognizer import Recognizer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="trained hybrid experiment dir or checkpoint (graph/ beside it)")
    p.add_argument("--graph", default=None, help="its graph dir (default: graph/ beside the model)")
    p.add_argument("--ctc-config", default=str(RECIPE / "conf" / "train.yaml"), help="the CTC system to compare")
    p.add_argument("--data-dir", default=str(RECIPE / "data" / "dev"), help="Kaldi data dir with wav.scp")
    p.add_argument("--max-utts", type=int, default=40, help="utterances, spread over the set (default 40)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (median used; default 3)")
    p.add_argument("--beams", default="11:7000 8:2000", help="hybrid search settings beam:max-active (default "
                                                            "'11:7000 8:2000')")
    p.add_argument("--json", help="write the records to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    hybrids = {}
    for setting in args.beams.split():
        b, m = setting.split(":")
        rec = Recognizer(args.model, graph=args.graph)
        rec.hybrid.cfg.beam, rec.hybrid.cfg.max_active = float(b), int(m)
        hybrids[f"hybrid_b{b}_m{m}"] = rec
    first = next(iter(hybrids.values()))
    utts, waves = load_waves(Path(args.data_dir), first.sample_rate, args.max_utts)
    texts = [ln.split(maxsplit=1)[1] for ln in (Path(args.data_dir) / "text").read_text().splitlines()
             if len(ln.split(maxsplit=1)) == 2] if (Path(args.data_dir) / "text").is_file() else []
    with tempfile.TemporaryDirectory() as tmp:
        ctc = random_checkpoint(Path(args.ctc_config), texts, waves, Path(tmp) / "ctc.pt")
        runs = {name: (lambda w, r=r: r.recognize([w])) for name, r in hybrids.items()}
        greedy, beam8 = Recognizer(ctc, beam=1), Recognizer(ctc, beam=8)
        runs["ctc_greedy"] = lambda w: greedy.recognize([w])
        runs["ctc_beam8"] = lambda w: beam8.recognize([w])
    audio_s = sum(len(w) for w in waves) / first.sample_rate
    med = {k: statistics.median(v) for k, v in time_runs(runs, waves, args.reps).items()}
    records = []
    for name in runs:
        rec = {"name": name, "rtf": round(med[name] / audio_s, 5), "seconds": round(med[name], 3),
               "ratio_to_ctc_greedy": round(med[name] / med["ctc_greedy"], 3)}
        records.append(rec)
        print(json.dumps(rec))
    meta = {"utterances": len(waves), "audio_s": round(audio_s, 1), "reps": args.reps, "threads": 1,
            "hybrid_model": str(first.path), "hclg_states": int(first.hybrid.graph.hclg.num_states),
            "ctc_model": f"random (seed 0) from {args.ctc_config}", "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch": torch.__version__, "target_hybrid_rtf": 0.05,
            "command": "tests/bench/hybrid_rtf.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(json.dumps(meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
