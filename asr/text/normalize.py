"""Text normalisation: the one place that decides how transcripts are cased and spaced.

Every tokenizer calls :func:`normalize_text` before splitting text into units,
so training targets, decoding output and scoring all see the same form.
Punctuation is *not* removed: a character the unit inventory does not know is
reported as an error rather than silently dropped (clean transcripts in the
corpus's data preparation instead).
"""

from __future__ import annotations

import unicodedata

CASES = ("upper", "lower", "keep")


def normalize_text(text: str, case: str = "upper") -> str:
    """Normalise a transcript: Unicode NFC, casing policy, single spaces.

    Args:
        text: raw transcript.
        case: ``"upper"`` (default; Kaldi/CMU convention), ``"lower"`` or ``"keep"``.

    Returns:
        The text with every run of whitespace (spaces, tabs, newlines) replaced
        by one space, no leading or trailing space, and the casing applied.

    Raises:
        ValueError: unknown ``case``.
    """
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    text = unicodedata.normalize("NFC", text)
    if case == "upper":
        text = text.upper()
    elif case == "lower":
        text = text.lower()
    return " ".join(text.split())
