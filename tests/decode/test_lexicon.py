"""Lexicon + n-gram LM CTC decoding (flashlight via torchaudio) on hand-made posteriors."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from ctcdata import CHARS, SENTENCES, chars, posteriors, spell

from asr.decode.ctc import greedy_decode
from asr.decode.lexicon import (
    LexiconDecoder,
    LexiconDecoderError,
    build_decoder_lexicon,
    read_arpa_vocabulary,
)
from asr.errors import AsrError
from asr.lm import estimate_kneser_ney, read_arpa
from asr.text import BLANK, WORD_SEP, BpeTokenizer, CharTokenizer, PhoneTokenizer


@pytest.fixture(scope="module")
def char_tok() -> CharTokenizer:
    return CharTokenizer(CHARS)


def test_char_lexicon_spellings_and_skipped_words(char_tok, caplog):
    with caplog.at_level(logging.WARNING, logger="asr.decode.lexicon"):
        lex = build_decoder_lexicon(char_tok, ["CAT", "<s>", "</s>", "<unk>", "XYZ", "HAT", "CAT"])
    assert lex.spellings == {"CAT": [["C", "A", "T", WORD_SEP]], "HAT": [["H", "A", "T", WORD_SEP]]}
    assert lex.sil_token == WORD_SEP and lex.skipped == ["XYZ"]
    assert "skipped 1 word" in caplog.text
    with pytest.raises(LexiconDecoderError, match="need a word list"):
        build_decoder_lexicon(char_tok, None)


def test_decoder_writes_flashlight_files(char_tok, arpa, tmp_path):
    dec = LexiconDecoder(char_tok, arpa, work_dir=tmp_path / "lang")
    lines = (tmp_path / "lang" / "lexicon.txt").read_text().splitlines()
    assert f"CAT\tC A T {WORD_SEP}" in lines
    assert all(not line.startswith(("<s>", "</s>", "<unk>")) for line in lines)
    assert (tmp_path / "lang" / "tokens.txt").read_text().splitlines() == char_tok.tokens
    # The LM's whole vocabulary is decodable with these characters.
    assert set(dec.lexicon.spellings) == {w for s in SENTENCES for w in s.split()}


def test_lexicon_turns_acoustically_best_nonword_into_word(char_tok, arpa):
    frames = spell(chars("THE CA")) + [{"P": 0.6, "T": 0.3}, BLANK]
    x = posteriors(char_tok, frames)[None]
    greedy = greedy_decode(x, torch.tensor([x.shape[1]]))[0]
    assert char_tok.decode(greedy.tokens) == "THE CAP"
    dec = LexiconDecoder(char_tok, arpa, lm_weight=0.0)
    assert dec.decode(x) == [["THE", "CAT"]]


def test_lm_weight_flips_between_similar_words(char_tok, arpa):
    # "H" is slightly better acoustically than "C"; the LM prefers THE CAT SAT to THE HAT SAT.
    lm = read_arpa(arpa)
    assert lm.sentence_log10_prob("THE CAT SAT".split()) > lm.sentence_log10_prob("THE HAT SAT".split()) + 1
    frames = spell(chars("THE ")) + [{"H": 0.5, "C": 0.45}, BLANK] + spell(chars("AT SAT"))
    x = posteriors(char_tok, frames)[None]
    dec = LexiconDecoder(char_tok, arpa, lm_weight=0.0)
    assert dec.decode(x) == [["THE", "HAT", "SAT"]]
    dec.set_weights(1.0, 0.0)
    assert (dec.lm_weight, dec.word_score) == (1.0, 0.0)
    assert dec.decode(x) == [["THE", "CAT", "SAT"]]
    # Changing the weights in place is the same as building the decoder with them.
    assert LexiconDecoder(char_tok, arpa, lm_weight=1.0).decode(x) == [["THE", "CAT", "SAT"]]
    dec.set_weights(0.0, 0.0)
    assert dec.decode(x) == [["THE", "HAT", "SAT"]]


def test_insertion_penalty_sign_changes_word_count(char_tok, arpa):
    # "IN TO" and "INTO" are about as likely: the separator frame is nearly a blank.
    frames = spell(chars("IN")) + [{WORD_SEP: 0.5, BLANK: 0.45}] + spell(chars("TO"))
    x = posteriors(char_tok, frames)[None]
    dec = LexiconDecoder(char_tok, arpa, lm_weight=0.0, word_score=3.0)  # wip = -3: words are cheap
    assert dec.decode(x) == [["IN", "TO"]]
    dec.set_weights(0.0, -3.0)  # wip = +3: each word costs
    assert dec.decode(x) == [["INTO"]]


def test_char_repeats_and_separator_runs(char_tok, arpa):
    # CTC repeats inside words, a doubled letter, several separator frames, no blank before the end.
    frames = ["T", "T", "H", "E", "E", WORD_SEP, WORD_SEP, BLANK, "C", "A", "A", "T", "T", WORD_SEP, "S", "A", "T",
              "T"]
    dec = LexiconDecoder(char_tok, arpa, lm_weight=0.5)
    assert dec.decode(posteriors(char_tok, frames)[None]) == [["THE", "CAT", "SAT"]]


def test_batch_equals_single_and_padding_is_ignored(char_tok, arpa):
    utts = [spell(chars("THE CAT SAT")), spell(chars("GO IN")), [BLANK, BLANK], spell(chars("THE MAT"))]
    xs = [posteriors(char_tok, u) for u in utts]
    T = max(x.shape[0] for x in xs)
    batch = torch.randn(len(xs), T, char_tok.vocab_size).log_softmax(-1)  # garbage in the padding
    for i, x in enumerate(xs):
        batch[i, : x.shape[0]] = x
    lens = torch.tensor([x.shape[0] for x in xs])
    dec = LexiconDecoder(char_tok, arpa, lm_weight=0.5)
    hyps = dec.decode_hypotheses(batch, lens)
    assert [h.words for h in hyps] == [["THE", "CAT", "SAT"], ["GO", "IN"], [], ["THE", "MAT"]]
    assert [dec.decode(x[None])[0] for x in xs] == [h.words for h in hyps]
    assert all(math.isfinite(h.score) for h in hyps)
    assert dec.decode(torch.zeros(1, 3, char_tok.vocab_size).log_softmax(-1), torch.tensor([0])) == [[]]


def test_bpe_units(arpa):
    tok = BpeTokenizer.from_texts(SENTENCES * 2, vocab_size=40)
    lex = build_decoder_lexicon(tok, ["CAT", "MAT"])
    assert lex.sil_token == BLANK
    pieces = [tok.tokens[i] for i in tok.encode("CAT")]
    assert lex.spellings["CAT"] == [pieces, [*pieces, BLANK]]
    dec = LexiconDecoder(tok, arpa, lm_weight=0.5)
    for text in ("THE CAT SAT ON THE MAT", "INTO THE HAT", "GO TO THE MAT"):
        units = [tok.tokens[i] for i in tok.encode(text)]
        # one frame per piece with blanks between
        assert dec.decode(posteriors(tok, spell(units))[None]) == [text.split()]
        # every piece held three frames, no blank anywhere: repeats must not become extra words
        held = [u for u in units for _ in range(3)]
        assert dec.decode(posteriors(tok, held)[None]) == [text.split()]


def test_phone_units_with_alternative_pronunciations(tmp_path, caplog):
    lexicon = {"THE": [["DH", "AH0"], ["DH", "IY0"]], "CAT": [["K", "AE1", "T"]], "HAT": [["HH", "AE1", "T"]],
               "SAT": [["S", "AE1", "T"]], "A": [["AH0"]], "THAT": [["DH", "AE1", "T"]], "DOG": [["D", "AO1", "G"]]}
    tok = PhoneTokenizer(lexicon, strip_stress=True)
    path = tmp_path / "lm.arpa"
    sentences = [["THE", "CAT", "SAT"], ["A", "HAT"], ["THAT", "CAT"], ["THE", "HAT"]]
    estimate_kneser_ney(sentences, order=2).write_arpa(path)
    with caplog.at_level(logging.INFO, logger="asr.decode.lexicon"):
        dec = LexiconDecoder(tok, path, lm_weight=0.5)
    assert "DOG" not in dec.lexicon.spellings and "does not know" in caplog.text
    assert dec.lexicon.spellings["THE"] == [["DH", "AH"], ["DH", "AH", BLANK], ["DH", "IY"], ["DH", "IY", BLANK]]
    x = posteriors(tok, spell("DH IY K AE T S AE T".split()))
    assert dec.decode(x[None]) == [["THE", "CAT", "SAT"]]
    held = [p for p in "DH AE T K AE T".split() for _ in range(2)]
    assert dec.decode(posteriors(tok, held)[None]) == [["THAT", "CAT"]]


def test_read_arpa_vocabulary(arpa, tmp_path):
    words = read_arpa_vocabulary(arpa)
    assert {"<s>", "</s>", "<unk>", "CAT", "INTO"} <= set(words)
    bad = tmp_path / "bad.arpa"
    bad.write_text("hello\n")
    with pytest.raises(LexiconDecoderError, match="not an ARPA file"):
        read_arpa_vocabulary(bad)


def test_errors(char_tok, arpa, tmp_path):
    with pytest.raises(AsrError, match="no such LM file"):
        LexiconDecoder(char_tok, tmp_path / "missing.arpa")
    with pytest.raises(AsrError, match="no word of the lexicon"):
        LexiconDecoder(char_tok, arpa, ["DOG"])  # not in the LM
    with pytest.raises(AsrError, match="no word of the lexicon"):
        LexiconDecoder(CharTokenizer("XYZ"), arpa)  # no LM word can be spelled
    broken = tmp_path / "broken.arpa"
    broken.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\tCAT\n")
    with pytest.raises(AsrError, match="broken.arpa"):
        LexiconDecoder(char_tok, broken)
    dec = LexiconDecoder(char_tok, arpa)
    with pytest.raises(ValueError, match="units"):
        dec.decode(torch.zeros(1, 4, char_tok.vocab_size + 1))
    with pytest.raises(ValueError, match="lens"):
        dec.decode(torch.zeros(1, 4, char_tok.vocab_size), torch.tensor([5]))
