"""Text normalisation: casing policy and whitespace."""

from __future__ import annotations

import pytest

from asr.text import normalize_text


def test_whitespace_collapsed_and_stripped() -> None:
    assert normalize_text("  we\tcall \n it  ") == "WE CALL IT"
    assert normalize_text("") == ""
    assert normalize_text(" \t\n") == ""


@pytest.mark.parametrize(("case", "expected"), [("upper", "HELLO WORLD'S"), ("lower", "hello world's"),
                                                ("keep", "Hello World's")])
def test_case_policy(case: str, expected: str) -> None:
    assert normalize_text("Hello  World's", case) == expected


def test_unicode_nfc() -> None:
    # "e" + combining acute accent becomes one code point.
    assert normalize_text("cafe\u0301", "keep") == "caf\u00e9"


def test_bad_case() -> None:
    with pytest.raises(ValueError, match="case"):
        normalize_text("x", "title")
