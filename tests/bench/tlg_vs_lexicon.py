"""CTC decoding with an LM: the WFST search through TLG (Kaldi's decoder, :mod:`asr.decode.tlg`)
against flashlight's lexicon search (:mod:`asr.decode.lexicon`), on the same posteriors.

The model's log-posteriors of every utterance are computed once (not timed, with the data dir's
speaker CMVN as ``asr decode`` computes them: ``Recognizer.data_dir_log_probs``); then, on one
CPU thread, each search decodes them all, repetitions interleaved:

- ``lexicon_b<beam>``: flashlight's ``LexiconDecoder`` (the ``asr decode --lm`` search), beam
  50 (its default) and 10;
- ``tlg_b<beam>_m<max-active>``: Kaldi's FasterDecoder through TLG at beam 13 / max-active 7000
  (steps/decode.sh's defaults) and 10 / 2000.

Each search runs at its best setting on these utterances, chosen first (untimed) over a small grid
of LM weights (insertion penalty 0): flashlight's weight of log10 probabilities 0.1-2, TLG's LM
weight (1 / acoustic scale, natural-log LM costs) 0.1-1. ``ratio_to_lexicon_b50`` = seconds / the
default flashlight search's seconds (median over repetitions); ``rtf`` = search seconds / audio
seconds. The graph is built once in a temporary dir (its time is reported, not in the ratio).

Usage::

    .venv/bin/python tests/bench/tlg_vs_lexicon.py --model <ctc exp> --lm <arpa> --data-dir <data dir>
        [--max-utts 200] [--reps 3] [--json FILE]

Results of a run on the 2-core development machine: ``tlg_vs_lexicon_cpu.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from decode_rtf import load_waves  # noqa: E402

from asr.decode.recognizer import Recognizer  # noqa: E402


def _wer(refs: dict[str, str], hyps: dict[str, str]) -> float:
    from asr.score import score_texts

    counts, _ = score_texts({u: refs[u] for u in hyps}, hyps, mode="all")
    return round(counts.wer, 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="trained CTC experiment dir or checkpoint")
    p.add_argument("--lm", required=True, help="ARPA word LM")
    p.add_argument("--data-dir", required=True, help="Kaldi data dir with wav.scp and text")
    p.add_argument("--max-utts", type=int, default=200, help="utterances, spread over the set (default 200)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (median used; default 3)")
    p.add_argument("--json", help="write the records to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from asr.decode.lexicon import LexiconDecoder
    from asr.decode.tlg import TlgDecoder, make_tlg
    from asr.gmm.decode import DecodeConfig

    rec = Recognizer(args.model)
    tok = rec.system.tokenizer
    utts, waves = load_waves(Path(args.data_dir), rec.sample_rate, args.max_utts)
    refs = dict(ln.split(maxsplit=1) for ln in (Path(args.data_dir) / "text").read_text().splitlines()
                if len(ln.split(maxsplit=1)) == 2)
    by_utt = dict(rec.data_dir_log_probs(args.data_dir))
    lps = [torch.from_numpy(by_utt[u]) for u in utts]
    audio_s = sum(len(w) for w in waves) / rec.sample_rate
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        graph = make_tlg(tok, args.lm, Path(tmp) / "graph")
        graph_s = time.time() - t0
        import kaldifst

        tlg_states = int(kaldifst.StdVectorFst.read(str(graph / "TLG.fst")).num_states)
        searches = {}
        for beam in (50, 10):
            def lex_run(weight: float, beam: int = beam) -> dict[str, str]:
                dec = LexiconDecoder(tok, args.lm, beam=beam, lm_weight=weight)
                return {u: " ".join(dec.decode(lp[None])[0]) for u, lp in zip(utts, lps)}
            searches[f"lexicon_b{beam}"] = (lex_run, [0.1, 0.2, 0.5, 1.0, 2.0])
        for beam, active in ((13.0, 7000), (10.0, 2000)):
            def tlg_run(lmwt: float, beam: float = beam, active: int = active) -> dict[str, str]:
                dec = TlgDecoder(graph, tok, 1.0 / lmwt, cfg=DecodeConfig(beam=beam, max_active=active))
                return dec.decode([(u, lp.numpy()) for u, lp in zip(utts, lps)])[0]
            searches[f"tlg_b{beam:g}_m{active}"] = (tlg_run, [0.1, 0.2, 0.3, 0.5, 0.7, 1.0])
        best = {}
        for name, (run, grid) in searches.items():
            scored = [(_wer(refs, run(w)), w) for w in grid]
            best[name] = min(scored)
            print(json.dumps({"name": name, "grid": scored}))
        times: dict[str, list[float]] = {n: [] for n in searches}
        for _ in range(args.reps):
            for name, (run, _) in searches.items():
                t0 = time.perf_counter()
                run(best[name][1])
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    records = []
    for name in searches:
        r = {"name": name, "wer": best[name][0], "weight": best[name][1], "seconds": round(med[name], 3),
             "rtf": round(med[name] / audio_s, 5), "ratio_to_lexicon_b50": round(med[name] / med["lexicon_b50"], 3)}
        records.append(r)
        print(json.dumps(r))
    meta = {"utterances": len(waves), "audio_s": round(audio_s, 1), "reps": args.reps, "threads": 1,
            "model": str(rec.path), "units": f"{tok.kind} ({tok.vocab_size})", "lm": args.lm,
            "tlg_states": tlg_states, "graph_seconds": round(graph_s, 2),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__,
            "command": "tests/bench/tlg_vs_lexicon.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(json.dumps(meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
