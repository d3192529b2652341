"""Lexicon reading: Kaldi/CMU formats, alternatives, errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.text import LexiconError, read_lexicon, strip_stress, write_lexicon


def test_formats(tmp_path: Path) -> None:
    p = tmp_path / "lexicon.txt"
    p.write_text(";;; a CMU comment\n"
                 "A\tAH0\n"
                 "A EY1\n"
                 "\n"
                 "READ(1)  R EH1 D\n"
                 "READ R IY1 D\n"
                 "A AH0\n"            # duplicate pronunciation, kept once
                 "HI 0.7 HH AY1\n")   # lexiconp.txt probability dropped
    lex = read_lexicon(p)
    assert lex == {"A": [["AH0"], ["EY1"]], "READ": [["R", "EH1", "D"], ["R", "IY1", "D"]], "HI": [["HH", "AY1"]]}
    out = tmp_path / "out" / "lexicon.txt"
    write_lexicon(out, lex)
    assert read_lexicon(out) == lex


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "lexicon.txt"
    p.write_text("A AH0\nB\n")
    with pytest.raises(LexiconError, match=r"lexicon.txt:2: word 'B' has no pronunciation"):
        read_lexicon(p)
    with pytest.raises(LexiconError, match="cannot read"):
        read_lexicon(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(LexiconError, match="empty"):
        read_lexicon(tmp_path / "empty.txt")


def test_strip_stress() -> None:
    assert [strip_stress(p) for p in ["AH0", "EY1", "UW2", "B", "SIL", "2"]] == ["AH", "EY", "UW", "B", "SIL", "2"]


def test_speechocean_lexicon(corpora: Path) -> None:
    lex = read_lexicon(corpora / "speechocean762" / "resource" / "lexicon.txt")
    assert lex["ABOUT"] == [["AH0", "B", "AW1", "T"]]
    assert lex["A"][0] == ["AH0"] and ["EY0"] in lex["A"]  # alternatives in file order
    assert len(lex) > 2000
