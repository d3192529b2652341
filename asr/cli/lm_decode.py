"""``asr lm-decode``: decode a data dir with a lexicon and a word n-gram LM over a grid of weights.

The acoustic log-posteriors are computed once (batched); then for every LM
weight ``lmwt`` and word insertion penalty ``wip`` of the grid the lexicon
beam search (:class:`asr.decode.lexicon.LexiconDecoder`, flashlight + KenLM)
runs on them. Outputs, in Kaldi's scoring layout::

    <decode-dir>/scoring/<lmwt>_<wip>.txt   hypotheses of each setting
    <decode-dir>/wer_<lmwt>_<wip>           %WER/%SER report of each setting (data dir with text)
    <decode-dir>/scoring/best_wer           the best %WER line, naming its wer_<lmwt>_<wip> file
    <decode-dir>/scoring/lmwt, .../wip      the best setting (to decode a test set with it)
    <decode-dir>/text, wer, per_utt         hypotheses and scores of the best setting
    <decode-dir>/lang/                      the decoder's lexicon.txt and tokens.txt
    <decode-dir>/log/lm_decode.log

``lmwt`` scales the LM's log10 probabilities (flashlight's convention; about
2.3 weighs it like the acoustic model's natural-log scores) and ``wip`` is
subtracted once per word (flashlight's ``word_score = -wip``). Without a
``text`` file nothing can be scored: ``text`` is then written only when the
grid has a single setting (``--lm-weight X --word-ins-penalty Y``, e.g. the
values tuned on dev).

The words: ``--lexicon FILE`` (for phone units a pronunciation lexicon, for
char/BPE units any file whose first column lists the words, such as a lexicon
or ``words.txt``); by default the LM's vocabulary (char/BPE) or the model's
own lexicon (phones). Only words the LM knows are decoded.

Example::

    asr lm-decode --model exp/ctc --lm data/lang/lm_3gram.arpa \\
        --lm-weights "0.5 1 1.5 2" --word-ins-penalties "0 0.5 1" data/dev exp/ctc/decode_dev_lm
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asr.cli.args import add_logging_args
from asr.errors import AsrError

log = logging.getLogger("asr.lm_decode")

DEFAULT_LM_WEIGHTS = "0.5 1 1.5 2"
DEFAULT_WIPS = "0 0.5 1"

# Set in the parent before forking grid workers (fork shares the decoder and posteriors without pickling).
_WORK: dict[str, Any] = {}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``asr lm-decode``."""
    p = argparse.ArgumentParser(prog="asr lm-decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="final.pt", help="checkpoint file, or an experiment dir (its final.pt)")
    p.add_argument("--lm", required=True, help="word n-gram LM: ARPA file (or KenLM binary)")
    p.add_argument("--lexicon", default=None,
                   help="phone units: pronunciation lexicon; char/BPE: file whose first column lists the words "
                        "(default: the LM's vocabulary, or the model's lexicon for phones)")
    p.add_argument("--lm-weights", default=None, help=f"LM weights to try (default \"{DEFAULT_LM_WEIGHTS}\")")
    p.add_argument("--word-ins-penalties", default=None,
                   help=f"word insertion penalties to try (default \"{DEFAULT_WIPS}\")")
    p.add_argument("--lm-weight", default=None, help="a single LM weight (instead of --lm-weights)")
    p.add_argument("--word-ins-penalty", default=None, help="a single insertion penalty (instead of the list)")
    p.add_argument("--beam", type=int, default=50, help="hypotheses kept per frame (default 50)")
    p.add_argument("--beam-threshold", type=float, default=25.0,
                   help="prune hypotheses this far below the best (default 25)")
    p.add_argument("--beam-size-token", type=int, default=0,
                   help="units tried per frame, most probable first (default 0: all)")
    p.add_argument("--max-frames", type=int, default=40000,
                   help="batch limit for the acoustic model: utterances x longest, in feature frames (default 40000)")
    p.add_argument("--device", default="cpu", help="device of the acoustic model: cpu | cuda | cuda:N | auto")
    p.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    p.add_argument("--nj", type=int, default=1, help="worker processes decoding grid settings in parallel (default 1)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable utterances with a warning")
    p.add_argument("data_dir", help="Kaldi data dir to decode")
    p.add_argument("decode_dir", help="output dir (Kaldi scoring layout, see above)")
    add_logging_args(p)
    return p


def parse_values(option: str, text: str, minimum: float | None = None) -> list[str]:
    """The numbers of a grid option, kept as typed (they name Kaldi's ``wer_<lmwt>_<wip>`` files).

    Args:
        option: the option's name, for error messages.
        text: white-space (or comma) separated numbers.
        minimum: smallest allowed value (default None: any).

    Raises:
        AsrError: no value, a value that is not a finite number or below ``minimum``, or a repeated value.
    """
    values = text.replace(",", " ").split()
    if not values:
        raise AsrError(f"{option}: no value given")
    seen: set[float] = set()
    for v in values:
        try:
            x = float(v)
        except ValueError:
            raise AsrError(f"{option}: {v!r} is not a number") from None
        if not math.isfinite(x) or (minimum is not None and x < minimum):
            raise AsrError(f"{option}: {v!r} must be a finite number" + (f" >= {minimum:g}" if minimum is not None
                                                                         else ""))
        if x in seen:
            raise AsrError(f"{option}: {v!r} is given twice")
        seen.add(x)
    return values


def _grid(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.lm_weight is not None and args.lm_weights is not None:
        raise AsrError("give --lm-weight or --lm-weights, not both")
    if args.word_ins_penalty is not None and args.word_ins_penalties is not None:
        raise AsrError("give --word-ins-penalty or --word-ins-penalties, not both")
    lmwts = parse_values("--lm-weight" + ("" if args.lm_weight is not None else "s"),
                         args.lm_weight if args.lm_weight is not None else args.lm_weights or DEFAULT_LM_WEIGHTS,
                         minimum=0.0)
    wips = parse_values("--word-ins-penalt" + ("y" if args.word_ins_penalty is not None else "ies"),
                        args.word_ins_penalty if args.word_ins_penalty is not None
                        else args.word_ins_penalties or DEFAULT_WIPS)
    return [(a, b) for a in lmwts for b in wips]


def _read_words(path: str, kind: str) -> Any:
    """The ``--lexicon`` file: a pronunciation lexicon (phone units) or a word list (first column)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise AsrError(f"{path}: cannot read the lexicon ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    fields = [line.split() for line in lines if line.strip() and not line.startswith(";;;")]
    if not fields:
        raise AsrError(f"{path}: the lexicon is empty")
    if kind == "phone" and any(len(f) > 1 for f in fields):
        from asr.text import read_lexicon

        return read_lexicon(path)
    return [f[0] for f in fields]


def _decode_setting(setting: tuple[str, str]) -> tuple[tuple[str, str], dict[str, str], float]:
    """Decode every prepared batch with one (lmwt, wip); runs in the parent or a forked worker."""
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


def main(argv: list[str]) -> int:
    """Run ``asr lm-decode``; returns the exit code."""
    args = build_parser().parse_args(argv)
    out = Path(args.decode_dir)

    from asr.log import log_command_line, setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file or str(out / "log" / "lm_decode.log"))
    log_command_line(log)

    settings = _grid(args)
    for name, value, low in (("--beam", args.beam, 1), ("--nj", args.nj, 1),
                             ("--beam-size-token", args.beam_size_token, 0)):
        if value < low:
            raise AsrError(f"{name} must be >= {low}, got {value}")
    if not Path(args.lm).is_file():
        raise AsrError(f"{args.lm}: no such LM file")
    if args.lexicon is not None and not Path(args.lexicon).is_file():
        raise AsrError(f"{args.lexicon}: no such lexicon file")

    import torch

    from asr.datadir import write_scp
    from asr.decode.lexicon import LexiconDecoder
    from asr.decode.recognizer import Recognizer
    from asr.fileio import atomic_write
    from asr.score import format_report, format_wer, score_texts, write_per_utt
    from asr.train.data import UtteranceData

    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    rec = Recognizer(args.model, device=args.device)
    s = rec.system
    tok = s.tokenizer
    words = _read_words(args.lexicon, tok.kind) if args.lexicon else None
    decoder = LexiconDecoder(tok, args.lm, words, beam=args.beam, beam_size_token=args.beam_size_token or None,
                             beam_threshold=args.beam_threshold, lm_weight=float(settings[0][0]),
                             word_score=-float(settings[0][1]), work_dir=out / "lang")

    data = UtteranceData(args.data_dir, s.feature_source, s.sample_rate, s.frame_shift, need_text=False,
                         cache=False, skip_bad=args.skip_bad)
    log.info("computing log-posteriors of %d utterances of %s with %s", len(data), args.data_dir, rec.path)
    t0, audio_s = time.time(), 0.0
    batches = []
    for idx in data.batches(s.frame_shift, args.max_frames, 512):
        utts, xs = data.load(idx)
        if not utts:
            continue
        lp, lens = rec.log_probs(xs, waves=s.feature_source == "wav")
        batches.append(([u.utt for u in utts], decoder.prepare(lp, lens)))
        audio_s += sum(u.duration for u in utts)
    log.info("log-posteriors of %.1f s of audio in %.1f s", audio_s, time.time() - t0)

    # Never leave scores of an earlier grid next to this one's.
    for old in [*out.glob("wer_*_*"), *(out / "scoring").glob("*_*.txt")]:
        old.unlink()
    refs = dict(data.data.text) if data.data.text is not None else None
    results: list[tuple[float, tuple[str, str], dict[str, str]]] = []
    _WORK.update(decoder=decoder, batches=batches)
    try:
        for setting, hyps, secs in _run_grid(settings, args.nj):
            lmwt, wip = setting
            write_scp(out / "scoring" / f"{lmwt}_{wip}.txt", hyps)
            line = ""
            wer = math.inf
            if refs is not None:
                counts, _ = score_texts(refs, hyps, mode="all", ref_name=f"{args.data_dir}/text",
                                        hyp_name=str(out / "scoring" / f"{lmwt}_{wip}.txt"))
                with atomic_write(out / f"wer_{lmwt}_{wip}") as f:
                    f.write(format_report(counts))
                wer, line = counts.wer, format_wer(counts)
            log.info("lmwt %s wip %s: %s(%.1f s, real-time factor %.4f)", lmwt, wip, line + " " if line else "",
                     secs, secs / max(audio_s, 1e-9))
            results.append((wer, setting, hyps))
    finally:
        _WORK.clear()

    if refs is None:
        if len(results) == 1:
            write_scp(out / "text", results[0][2])
            log.info("wrote %s (no reference text: not scored)", out / "text")
        else:
            log.warning("%s has no text: nothing scored, and no best setting to write %s from; decode with "
                        "--lm-weight X --word-ins-penalty Y to get it", args.data_dir, out / "text")
        return 0
    best_wer, (lmwt, wip), hyps = min(results, key=lambda r: r[0])  # first of equal WERs wins (grid order)
    counts, per_utt = score_texts(refs, hyps, mode="all", ref_name=f"{args.data_dir}/text",
                                  hyp_name=str(out / "text"))
    best_line = f"{format_wer(counts)} {out / f'wer_{lmwt}_{wip}'}"
    with atomic_write(out / "scoring" / "best_wer") as f:
        f.write(best_line + "\n")
    with atomic_write(out / "scoring" / "lmwt") as f:
        f.write(lmwt + "\n")
    with atomic_write(out / "scoring" / "wip") as f:
        f.write(wip + "\n")
    write_scp(out / "text", hyps)
    with atomic_write(out / "wer") as f:
        f.write(format_report(counts))
    write_per_utt(out / "per_utt", per_utt)
    log.info("best: %s (lmwt %s, wip %s)", best_line, lmwt, wip)
    return 0
