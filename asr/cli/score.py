"""``asr score``: WER (or CER) of a hypothesis text file against a reference, as Kaldi's compute-wer.

Prints::

    %WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]
    %SER 12.50 [ 5 / 40 ]
    Scored 40 sentences, 0 not present in hyp.
"""

from __future__ import annotations

import argparse
import logging
import sys

from asr.cli.args import add_logging_args

log = logging.getLogger("asr.score")

_EPILOG = """\
Alignment convention: minimum edit distance with unit costs for substitutions,
insertions and deletions (jiwer; the same as Kaldi's compute-wer). NIST sclite
weights substitutions 4 and insertions/deletions 3: reference word and sentence
counts agree, and on ordinary recogniser output so do the total errors, but the
ins/del/sub split can differ and, in rare utterances, sclite's total is larger
(it takes 3 ins + 3 del, cost 18, over 5 sub, cost 20). Ours is never larger.

--cer splits words into characters; white space is not a token (Kaldi's and
sclite -c's convention).

--mode (reference utterances without hypothesis, as compute-wer --mode):
  all      score them against an empty hypothesis: all deletions (default; logged)
  present  skip them
  strict   stop with an error
Hypothesis utterances missing from the reference are always an error.

--per-utt writes Kaldi's per_utt layout: for each utterance the lines
'<utt> ref ...', '<utt> hyp ...', '<utt> op ...' (C/S/I/D, *** marks the empty
side) and '<utt> #csid <correct> <sub> <ins> <del>'.
"""


def main(argv: list[str]) -> int:
    """Run ``asr score``; returns the exit code."""
    p = argparse.ArgumentParser(prog="asr score", description=__doc__, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cer", action="store_true", help="character error rate (%%CER line) instead of WER")
    p.add_argument("--mode", choices=("all", "present", "strict"), default="all",
                   help="reference utterances without hypothesis: see below (default all)")
    p.add_argument("--per-utt", metavar="FILE", default=None, help="write per-utterance alignments here")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="also write the report lines to FILE (atomically)")
    p.add_argument("--case", choices=("keep", "upper", "lower"), default="keep",
                   help="normalise both texts first (asr.text.normalize: NFC, white space, this case); "
                        "default keep: compare as written")
    p.add_argument("ref_text", help="reference: Kaldi text file (utt-id words...)")
    p.add_argument("hyp_text", help="hypothesis: Kaldi text file (utt-id words...)")
    add_logging_args(p)
    args = p.parse_args(argv)

    from asr.fileio import atomic_write
    from asr.log import log_command_line, setup_logging
    from asr.score import format_report, read_text, score_texts, write_per_utt

    setup_logging(args.verbose, args.quiet, args.log_file)
    log_command_line(log)
    ref = read_text(args.ref_text)
    hyp = read_text(args.hyp_text)
    if args.case != "keep":
        from asr.text.normalize import normalize_text

        ref = {u: normalize_text(t, args.case) for u, t in ref.items()}
        hyp = {u: normalize_text(t, args.case) for u, t in hyp.items()}
    unit, name = ("char", "CER") if args.cer else ("word", "WER")
    totals, per_utt = score_texts(ref, hyp, unit=unit, mode=args.mode, ref_name=args.ref_text,
                                  hyp_name=args.hyp_text)
    report = format_report(totals, name)
    if args.per_utt:
        write_per_utt(args.per_utt, per_utt)
        log.info("wrote per-utterance details to %s", args.per_utt)
    if args.output:
        with atomic_write(args.output) as f:
            f.write(report)
    sys.stdout.write(report)
    sys.stdout.flush()
    return 0
