"""Tokenizers: round trips, word boundaries, errors naming the utterance, state and save."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch

from asr.text import (
    BLANK,
    WORD_SEP,
    BpeTokenizer,
    CharTokenizer,
    PhoneTokenizer,
    Tokenizer,
    TokenizerError,
    build_tokenizer,
    read_lexicon,
)

TEXTS = ["we call it bear", "zero three five one", "THREE two two seven", "it's a bear"]


def _through_checkpoint(tok: Tokenizer) -> Tokenizer:
    """state() -> torch.save/load (weights_only) -> from_state(), as a checkpoint stores it."""
    buf = io.BytesIO()
    torch.save({"tokenizer": tok.state()}, buf)
    buf.seek(0)
    return Tokenizer.from_state(torch.load(buf, weights_only=True)["tokenizer"])


@pytest.fixture(scope="module")
def lexicon_path(corpora: Path) -> Path:
    return corpora / "speechocean762" / "resource" / "lexicon.txt"


@pytest.fixture(scope="module")
def corpus_texts(corpora: Path) -> list[str]:
    lines = (corpora / "speechocean762" / "train" / "text").read_text().splitlines()
    return [line.split(maxsplit=1)[1] if len(line.split(maxsplit=1)) > 1 else "" for line in lines]


# ---------------------------------------------------------------- characters

def test_char_inventory_and_round_trip() -> None:
    tok = build_tokenizer("char", TEXTS)
    assert isinstance(tok, CharTokenizer)
    assert tok.tokens[:2] == [BLANK, WORD_SEP] and tok.blank == 0
    assert tok.tokens[2:] == sorted(set("".join(TEXTS).upper().replace(" ", "")))
    assert tok.vocab_size == len(tok.tokens)
    ids = tok.encode("  We  call\tit ")
    assert 0 not in ids
    assert [tok.tokens[i] for i in ids] == list("WE▁CALL▁IT")
    assert tok.decode(ids) == "WE CALL IT"
    assert tok.word_boundaries(ids) == [("WE", 0, 1), ("CALL", 3, 6), ("IT", 8, 9)]
    assert tok.encode("") == [] and tok.decode([]) == "" and tok.word_boundaries([]) == []


def test_char_decode_tolerates_blanks_and_stray_separators() -> None:
    tok = build_tokenizer("char", TEXTS)
    w, e, sep = tok.tokens.index("W"), tok.tokens.index("E"), 1
    ids = [sep, 0, w, 0, e, sep, sep, w, sep]
    assert tok.decode(ids) == "WE W"
    assert tok.word_boundaries(ids) == [("WE", 2, 4), ("W", 7, 7)]
    with pytest.raises(ValueError, match="outside"):
        tok.decode([tok.vocab_size])


def test_char_unknown_character_names_utterance() -> None:
    tok = build_tokenizer("char", TEXTS)
    with pytest.raises(TokenizerError, match=r"utterance spk1-utt7: character 'Q'.*word 'QUIT'"):
        tok.encode("quit it", utt="spk1-utt7")
    with pytest.raises(TokenizerError, match="character"):
        tok.encode(f"a{WORD_SEP}b", utt="u")


def test_char_case_policy() -> None:
    tok = build_tokenizer("char", ["Ab"], case="keep")
    assert tok.tokens[2:] == ["A", "b"]
    with pytest.raises(TokenizerError):
        tok.encode("ab", utt="u")
    low = build_tokenizer("char", ["Ab"], case="lower")
    assert low.decode(low.encode("AB b")) == "ab b"


def test_char_state_and_save(tmp_path: Path) -> None:
    tok = build_tokenizer("char", TEXTS, case="lower")
    back = _through_checkpoint(tok)
    assert isinstance(back, CharTokenizer) and back.tokens == tok.tokens and back.case == "lower"
    assert back.encode(TEXTS[0]) == tok.encode(TEXTS[0])
    tok.save(tmp_path)
    lines = (tmp_path / "units.txt").read_text().splitlines()
    assert lines[0] == "<blk> 0" and lines[1] == f"{WORD_SEP} 1" and len(lines) == tok.vocab_size


# ---------------------------------------------------------------- BPE

def test_bpe_deterministic_round_trip_and_state(corpus_texts: list[str], tmp_path: Path) -> None:
    a = build_tokenizer("bpe", corpus_texts, vocab_size=150)
    b = build_tokenizer("bpe", iter(corpus_texts), vocab_size=150)  # from an iterator
    assert isinstance(a, BpeTokenizer)
    assert a.model == b.model and a.tokens == b.tokens
    assert a.vocab_size == 150 and a.tokens[0] == BLANK and a.blank == 0
    for text in corpus_texts[:200]:
        ids = a.encode(text, utt="u")
        assert 0 not in ids
        assert a.decode(ids) == " ".join(text.upper().split())
        words = a.word_boundaries(ids)
        assert [w for w, _, _ in words] == text.upper().split()
        # The pieces between the boundaries spell the word; words tile the sequence.
        assert words[0][1] == 0 and words[-1][2] == len(ids) - 1
        assert all(w2[1] == w1[2] + 1 for w1, w2 in zip(words, words[1:]))
    back = _through_checkpoint(a)
    assert isinstance(back, BpeTokenizer) and back.model == a.model
    assert back.encode(corpus_texts[3]) == a.encode(corpus_texts[3])
    assert pickle.loads(pickle.dumps(a)).encode(corpus_texts[3]) == a.encode(corpus_texts[3])  # DataLoader workers
    a.save(tmp_path)
    assert (tmp_path / "bpe.model").read_bytes() == a.model
    assert len((tmp_path / "units.txt").read_text().splitlines()) == 150


def test_bpe_small_corpus_and_errors() -> None:
    tok = build_tokenizer("bpe", ["yes no", "no yes yes"], vocab_size=100)  # fewer pieces than asked
    assert tok.vocab_size < 100
    assert tok.decode(tok.encode("YES NO NO")) == "YES NO NO"
    with pytest.raises(TokenizerError, match=r"utterance u9: character 'Z'.*word 'ZOO'"):
        tok.encode("yes zoo", utt="u9")
    with pytest.raises(TokenizerError, match="no training text"):
        build_tokenizer("bpe", ["", "  "])
    with pytest.raises(TokenizerError, match="vocab_size"):
        build_tokenizer("bpe", TEXTS, vocab_size=3)


# ---------------------------------------------------------------- phones

def test_phone_speechocean(lexicon_path: Path, corpus_texts: list[str]) -> None:
    tok = build_tokenizer("phone", corpus_texts, lexicon=lexicon_path)
    assert isinstance(tok, PhoneTokenizer)
    assert tok.tokens[0] == BLANK and "AH0" in tok.tokens and tok.vocab_size == 68
    ids = tok.encode("We call it bear", utt="000010011")
    assert tok.decode(ids) == "W IY0 K AO0 L IH0 T B EH0 R"
    assert tok.word_boundaries(ids)[:2] == [("W", 0, 0), ("IY0", 1, 1)]
    # The first pronunciation is the training target: "A" -> AH0, not EY0.
    assert tok.decode(tok.encode("a")) == "AH0"
    for i, text in enumerate(corpus_texts):
        tok.encode(text, utt=str(i))  # the corpus is covered by its lexicon


def test_phone_strip_stress(lexicon_path: Path) -> None:
    tok = build_tokenizer("phone", [], lexicon=lexicon_path, strip_stress=True)
    assert tok.decode(tok.encode("about")) == "AH B AW T"
    assert not any(t[-1].isdigit() for t in tok.tokens[1:])
    assert tok.vocab_size == 40


def test_phone_oov_policies(lexicon_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lex = read_lexicon(lexicon_path)
    with pytest.raises(TokenizerError, match=r"utterance spk2-42: word 'QWXZ' is not in the lexicon"):
        build_tokenizer("phone", [], lexicon=lex).encode("about qwxz", utt="spk2-42")
    skip = build_tokenizer("phone", [], lexicon=lex, oov="skip")
    assert skip.decode(skip.encode("qwxz about qwxz", utt="u1")) == "AH0 B AW1 T"
    assert sum("QWXZ" in r.getMessage() for r in caplog.records) == 1  # warned once
    spell = build_tokenizer("phone", [], lexicon=lex, oov="spell")
    assert spell.encode("ton") == spell.encode("t o n")  # "TON" is spelled with the letters' entries
    small = PhoneTokenizer({"A": [["EY1"]], "B2B": [["B", "IY1"]]}, oov="spell")
    with pytest.raises(TokenizerError, match="letter 'B'"):
        small.encode("ab", utt="u")
    with pytest.raises(TokenizerError, match="oov"):
        build_tokenizer("phone", [], lexicon=lex, oov="guess")
    with pytest.raises(TokenizerError, match="lexicon"):
        build_tokenizer("phone", TEXTS)


def test_phone_state_and_save(tmp_path: Path) -> None:
    lex = {"read": [["R", "IY1", "D"], ["R", "EH1", "D"]], "A": [["AH0"]]}
    tok = build_tokenizer("phone", [], lexicon=lex, strip_stress=True, oov="skip")
    assert tok.lexicon == {"READ": [["R", "IY1", "D"], ["R", "EH1", "D"]], "A": [["AH0"]]}
    back = _through_checkpoint(tok)
    assert isinstance(back, PhoneTokenizer)
    assert (back.tokens, back.lexicon, back.oov, back.strip_stress) == (tok.tokens, tok.lexicon, "skip", True)
    assert back.encode("read a zzz") == tok.encode("read a zzz")
    tok.save(tmp_path)
    assert read_lexicon(tmp_path / "lexicon.txt") == tok.lexicon
    assert (tmp_path / "units.txt").read_text().split("\n")[:2] == ["<blk> 0", "AH 1"]


def test_build_errors() -> None:
    with pytest.raises(TokenizerError, match="unknown output units"):
        build_tokenizer("word", TEXTS)
    with pytest.raises(TokenizerError, match="unknown tokenizer kind"):
        Tokenizer.from_state({"kind": "nope"})
