"""``asr decode``: recognise every utterance of a Kaldi data dir into ``<decode-dir>/text``.

Greedy CTC decoding (the default), CTC prefix beam search (``--beam N``), or, with
``--lm ARPA``, a beam search constrained to the words of the LM (spelled in the
model's units) and weighted by it (``asr.decode.lexicon``, flashlight + KenLM).
``--beam`` is the number of hypotheses kept per frame in every case (default 1,
or 50 with ``--lm``). The model reads the data dir the way it was trained:
waveforms (``wav.scp`` [+ ``segments``]) or precomputed features (``feats.scp``),
normalised as in training (per-speaker CMVN from ``cmvn.scp`` or accumulated
over each speaker's utterances). When the data dir has a ``text`` file, the
hypotheses are scored into ``<decode-dir>/wer`` and ``<decode-dir>/per_utt``
(``--no-score`` leaves that to ``steps/score.sh``).

With ``--lm``, the log-posteriors are computed once and every setting of the grid
``--lm-weights`` x ``--word-ins-penalties`` (or the single ``--lm-weight`` /
``--word-ins-penalty``, default 1.0 / 0.0) is searched on them, in Kaldi's
scoring layout::

    <decode-dir>/scoring/<lmwt>_<wip>.txt   hypotheses of each setting
    <decode-dir>/wer_<lmwt>_<wip>           %WER/%SER report of each setting (data dir with text)
    <decode-dir>/scoring/best_wer           the best %WER line, naming its wer_<lmwt>_<wip> file
    <decode-dir>/scoring/lmwt, .../wip      the best setting (to decode a test set with it)
    <decode-dir>/text, wer, per_utt         hypotheses and scores of the best setting
    <decode-dir>/lang/                      the decoder's lexicon.txt and tokens.txt

``lmwt`` scales the LM's log10 probabilities (about 2.3 weighs it like the
acoustic model's natural-log scores) and ``wip`` is Kaldi's word insertion
penalty: subtracted once per word, so a positive one discourages insertions.
Without a ``text`` file a grid cannot be scored: ``text`` is then written only for
a single setting.

Examples::

    asr decode --beam 8 --model exp/ctc data/test exp/ctc/decode_test
    asr decode --model exp/ctc --lm data/lang/lm_3gram.arpa \\
        --lm-weights "0.5 1 1.5 2" --word-ins-penalties "0 0.5 1" data/dev exp/ctc/decode_dev_lm
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asr.cli.args import (
    add_beam_arg,
    add_bool_arg,
    add_lm_args,
    add_logging_args,
    add_model_arg,
    add_skip_bad_arg,
    beam_of,
    lexicon_decoder,
    lm_grid,
    skipped_status,
)
from asr.errors import AsrError

log = logging.getLogger("asr.decode")

# Set in the parent before forking grid workers (fork shares the decoder and posteriors without pickling).
_WORK: dict[str, Any] = {}


def build_parser(prog: str = "asr decode") -> argparse.ArgumentParser:
    """The argument parser of ``asr decode``."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arg(p, default_help="the decode dir's parent, as in Kaldi's exp/<model>/decode_<set> layout")
    add_beam_arg(p)
    add_lm_args(p, grid=True)
    p.add_argument("--max-frames", type=int, default=40000,
                   help="batch limit: utterances x longest utterance, in feature frames (default 40000)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    p.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    add_skip_bad_arg(p)
    add_bool_arg(p, "--score", True, "write wer/per_utt when the data has text (default: yes; --no-score leaves it "
                                     "to steps/score.sh)")
    p.add_argument("data_dir", help="Kaldi data dir to decode")
    p.add_argument("decode_dir", help="output dir: text, wer, per_utt, log/decode.log (and the LM grid's files)")
    add_logging_args(p)
    return p


def _decode_setting(setting: tuple[str, str]) -> tuple[tuple[str, str], dict[str, str], float]:
    """Search every prepared batch with one (lmwt, wip); runs in the parent or a forked worker."""
    decoder, batches = _WORK["decoder"], _WORK["batches"]
    t0 = time.time()
    decoder.set_weights(float(setting[0]), -float(setting[1]))
    hyps: dict[str, str] = {}
    for utts, prepared in batches:
        for utt, h in zip(utts, decoder.search(prepared)):
            hyps[utt] = " ".join(h.words)
    return setting, hyps, time.time() - t0


def _run_grid(settings: list[tuple[str, str]], nj: int) -> Iterator[tuple[tuple[str, str], dict[str, str], float]]:
    if nj > 1 and len(settings) > 1 and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(min(nj, len(settings))) as pool:
            yield from pool.imap(_decode_setting, settings)
    else:
        for s in settings:
            yield _decode_setting(s)


def main(argv: list[str], prog: str = "asr decode", log_name: str = "decode.log") -> int:
    """Run ``asr decode``; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    out = Path(args.decode_dir)

    from asr.log import log_command_line, setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file or str(out / "log" / log_name))
    log_command_line(log)

    beam = beam_of(args)
    settings = lm_grid(args) if args.lm else []
    if args.nj < 1:
        raise AsrError(f"--nj must be >= 1, got {args.nj}")

    import torch

    from asr.decode.grid import write_best
    from asr.decode.recognizer import Recognizer

    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    rec = Recognizer(args.model or out.resolve().parent, device=args.device, beam=beam)
    if rec.hybrid is not None and args.lm:
        raise AsrError(f"{rec.path} is a hybrid model: it decodes through its graph, which holds the LM (asr "
                       f"decode-hybrid, or steps/decode.sh <graph-dir> for the LM-weight grid); drop --lm")
    lexdec = lexicon_decoder(rec.system.tokenizer, args, settings[0], work_dir=out / "lang") if args.lm else None
    data = rec.open_data(args.data_dir, skip_bad=args.skip_bad)
    how = (f"lexicon search with {args.lm} (beam {beam}), {len(settings)} LM weight/insertion penalty setting(s)"
           if lexdec else f"prefix beam {beam}" if beam > 1 else "greedy")
    log.info("decoding %d utterances of %s with %s (%s)", len(data), args.data_dir, rec.path, how)
    # references normalised as training normalised its transcripts (case, white space), as the output is
    norm = rec.system.tokenizer.normalize
    refs = {u: norm(t) for u, t in data.data.text.items()} if data.data.text is not None and args.score else None
    t0, audio_s = time.time(), 0.0
    hyps: dict[str, str] = {}
    prepared = []
    for utts, lp, lens in rec.data_log_probs(data, args.max_frames):
        audio_s += sum(u.duration for u in utts)
        if lexdec is not None:
            prepared.append(([u.utt for u in utts], lexdec.prepare(lp, lens)))
            continue
        for u, r in zip(utts, rec.search(lp, lens)):
            hyps[u.utt] = r.text
    elapsed = time.time() - t0
    if lexdec is None:
        log.info("decoded %d utterances (%.1f s of audio) in %.1f s (real-time factor %.4f); wrote %s",
                 len(hyps), audio_s, elapsed, elapsed / max(audio_s, 1e-9), out / "text")
        write_best(out, hyps, refs, args.data_dir)
        return skipped_status(data, log)
    log.info("log-posteriors of %.1f s of audio in %.1f s", audio_s, elapsed)
    return _decode_grid(out, lexdec, prepared, settings, refs, args, audio_s) or skipped_status(data, log)


def _decode_grid(out: Path, decoder: Any, prepared: list, settings: list[tuple[str, str]],
                 refs: dict[str, str] | None, args: argparse.Namespace, audio_s: float) -> int:
    from asr.decode.grid import clear_grid, finish_grid, score_setting

    clear_grid(out)
    results: list[tuple[float, tuple[str, str], dict[str, str]]] = []
    _WORK.update(decoder=decoder, batches=prepared)
    try:
        for setting, hyps, secs in _run_grid(settings, args.nj):
            wer, line = score_setting(out, setting, hyps, refs, args.data_dir)
            log.info("lmwt %s wip %s: %s(%.1f s, real-time factor %.4f)", setting[0], setting[1],
                     line + " " if line else "", secs, secs / max(audio_s, 1e-9))
            results.append((wer, setting, hyps))
    finally:
        _WORK.clear()
    finish_grid(out, results, refs, args.data_dir)
    return 0
