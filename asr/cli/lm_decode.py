"""``asr lm-decode``: deprecated alias of ``asr decode --lm`` (same options; logs to ``log/lm_decode.log``).

``asr decode`` now runs the lexicon + LM search over a grid of LM weights and word
insertion penalties itself (``--lm-weights``, ``--word-ins-penalties``), from the same
log-posteriors as greedy and beam decoding. This alias stays for one release.
"""

from __future__ import annotations

import sys

from asr.errors import AsrError

# The grid lm-decode searched when none was given (asr decode's default is the single setting 1.0 / 0.0).
DEFAULT_LM_WEIGHTS = "0.5 1 1.5 2"
DEFAULT_WIPS = "0 0.5 1"


def main(argv: list[str]) -> int:
    """Run ``asr decode`` with lm-decode's defaults; returns the exit code."""
    from asr.cli import decode

    if any(a in ("-h", "--help") for a in argv):
        return decode.main(argv, prog="asr lm-decode")
    print("asr lm-decode: warning: deprecated, use 'asr decode --lm ...' (same options)", file=sys.stderr)
    given = {a.split("=", 1)[0] for a in argv}
    if "--lm" not in given:
        raise AsrError("--lm is required")
    extra = []
    if not given & {"--lm-weight", "--lm-weights"}:
        extra += ["--lm-weights", DEFAULT_LM_WEIGHTS]
    if not given & {"--word-ins-penalty", "--word-ins-penalties", "--word-score"}:
        extra += ["--word-ins-penalties", DEFAULT_WIPS]
    return decode.main(extra + argv, prog="asr lm-decode", log_name="lm_decode.log")
