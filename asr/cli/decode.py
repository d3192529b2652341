"""``asr decode``: recognise every utterance of a Kaldi data dir into ``<decode-dir>/text``.

Greedy CTC decoding (``--beam 1``, the default), CTC prefix beam search
(``--beam N``), or, with ``--lm ARPA``, a beam search constrained to the words of
the LM (spelled in the model's units) and weighted by it (``asr.decode.lexicon``;
``--beam`` is then that search's beam, default 50). The model reads the data dir the way it was trained: waveforms
(``wav.scp`` [+ ``segments``]) or precomputed features (``feats.scp``). When the
data dir has a ``text`` file, the hypotheses are scored into ``<decode-dir>/wer``
and ``<decode-dir>/per_utt`` (``--no-score`` leaves that to ``steps/score.sh``).

Example: ``asr decode --beam 8 --model exp/ctc data/test exp/ctc/decode_test``
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from asr.cli.args import add_lm_args, add_logging_args, lexicon_decoder

log = logging.getLogger("asr.decode")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``asr decode``."""
    p = argparse.ArgumentParser(prog="asr decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="checkpoint file, or an experiment dir (its final.pt); default: the decode dir's "
                        "parent, as in Kaldi's exp/<model>/decode_<set> layout")
    p.add_argument("--beam", type=int, default=1,
                   help="1 = greedy (default); N > 1 = CTC prefix beam width; with --lm the search beam (1 = 50)")
    add_lm_args(p)
    p.add_argument("--max-frames", type=int, default=40000,
                   help="batch limit: utterances x longest utterance, in feature frames (default 40000)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    p.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable utterances with a warning")
    p.add_argument("--no-score", action="store_true", help="do not write wer/per_utt even if the data has text")
    p.add_argument("data_dir", help="Kaldi data dir to decode")
    p.add_argument("decode_dir", help="output dir: text, wer, per_utt, log/decode.log")
    add_logging_args(p)
    return p


def main(argv: list[str]) -> int:
    """Run ``asr decode``; returns the exit code."""
    args = build_parser().parse_args(argv)
    out = Path(args.decode_dir)

    from asr.log import log_command_line, setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file or str(out / "log" / "decode.log"))
    log_command_line(log)

    import torch

    from asr.datadir import write_scp
    from asr.decode.recognizer import Recognizer
    from asr.errors import AsrError
    from asr.train.data import UtteranceData

    if args.beam < 1:
        raise AsrError(f"--beam must be >= 1, got {args.beam}")
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    rec = Recognizer(args.model or out.resolve().parent, device=args.device, beam=args.beam)
    s = rec.system
    lexdec = lexicon_decoder(s.tokenizer, args)
    data = UtteranceData(args.data_dir, s.feature_source, s.sample_rate, s.frame_shift, need_text=False,
                         cache=False, skip_bad=args.skip_bad)
    how = (f"lexicon search with {args.lm}, LM weight {args.lm_weight}, word score {args.word_score}" if lexdec
           else f"prefix beam {args.beam}" if args.beam > 1 else "greedy")
    log.info("decoding %d utterances of %s with %s (%s)", len(data), args.data_dir, rec.path, how)
    hyps: dict[str, str] = {}
    t0, audio_s = time.time(), 0.0
    for idx in data.batches(s.frame_shift, args.max_frames, 512):
        utts, xs = data.load(idx)
        if not utts:
            continue
        spk_stats = None
        if s.frontend.cfg.cmvn == "speaker":
            spk_stats = data.batch_speaker_stats(utts, s.utterance_stats)
        waves = s.feature_source == "wav"
        if lexdec is not None:
            lp, lens = rec.log_probs(xs, waves, spk_stats)
            texts = [" ".join(words) for words in lexdec.decode(lp, lens)]
        else:
            texts = [r.text for r in rec.recognize(xs, waves, spk_stats)]
        for u, text in zip(utts, texts):
            hyps[u.utt] = text
            audio_s += u.duration
    elapsed = time.time() - t0
    write_scp(out / "text", hyps)
    log.info("decoded %d utterances (%.1f s of audio) in %.1f s (real-time factor %.4f); wrote %s",
             len(hyps), audio_s, elapsed, elapsed / max(audio_s, 1e-9), out / "text")
    if not args.no_score and data.data.text is not None:
        from asr.fileio import atomic_write
        from asr.score import format_report, score_texts, write_per_utt

        counts, per_utt = score_texts(dict(data.data.text), hyps, mode="all",
                                      ref_name=f"{args.data_dir}/text", hyp_name=str(out / "text"))
        report = format_report(counts)
        with atomic_write(out / "wer") as f:
            f.write(report)
        write_per_utt(out / "per_utt", per_utt)
        log.info("%s", report.splitlines()[0])
    return 0
