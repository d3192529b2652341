"""``asr score-times``: how far a CTM's word times are from reference times (a forced alignment).

Compares the utterances that have the same words in the same order in both files; prints one
line: words compared, mean |start error| and |end error|, the median signed start offset, and the
share of words whose start and end are both within ``--tolerance``. A reference CTM comes from a
forced alignment, e.g. ``asr ali-to-phones --word-ctm`` on ``steps/align_si.sh``'s alignments.

Example::

    asr transcribe --model exp/ctc --format ctm data/test/wav.scp > hyp.ctm
    asr score-times exp/mono_ali_test/words.ctm hyp.ctm
"""

from __future__ import annotations

import argparse

from asr.cli.args import add_logging_args


def main(argv: list[str]) -> int:
    """Run ``asr score-times``; returns the exit code."""
    p = argparse.ArgumentParser(prog="asr score-times", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tolerance", type=float, default=0.1, help="seconds either side (default 0.1)")
    p.add_argument("ref_ctm", help="reference word CTM (a forced alignment)")
    p.add_argument("hyp_ctm", help="CTM to score (e.g. asr transcribe --format ctm)")
    add_logging_args(p)
    args = p.parse_args(argv)
    from asr.errors import AsrError
    from asr.score import read_ctm, score_times

    res = score_times(read_ctm(args.ref_ctm), read_ctm(args.hyp_ctm), args.tolerance)
    if res.words == 0:
        raise AsrError(f"{args.ref_ctm} and {args.hyp_ctm}: no utterance with the same words in both")
    print(res.report())
    return 0
