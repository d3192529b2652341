"""Kneser-Ney estimation checked against probabilities worked out by hand, and ARPA round trips."""

from __future__ import annotations

import math

import pytest

from asr.lm import ArpaError, estimate_kneser_ney, read_arpa, write_word_list

# Sentences: <s> a b </s> ; <s> a c </s> ; <s> b a b </s>
CORPUS = [["a", "b"], ["a", "c"], ["b", "a", "b"]]


def test_bigram_probabilities_match_hand_computation(tmp_path):
    m = estimate_kneser_ney(CORPUS, order=2)
    # Count-of-counts are too sparse here, so the fixed fallback discounts apply.
    assert m.discounts[1] == (0.5, 1.0, 1.5) and m.discounts[2] == (0.5, 1.0, 1.5)
    # Continuation counts: a <- {<s>, b} = 2, b <- {a, <s>} = 2, c <- {a} = 1, </s> <- {b, c} = 2; total 7.
    # Discounted mass (1 + 1 + 0.5 + 1) / 7 = 0.5 spread uniformly over 5 words (a b c </s> <unk>).
    p = {"a": 1 / 7 + 0.1, "b": 1 / 7 + 0.1, "c": 0.5 / 7 + 0.1, "</s>": 1 / 7 + 0.1, "<unk>": 0.1}
    for w, want in p.items():
        assert 10 ** m.log10_prob(w) == pytest.approx(want, rel=1e-6)
    # Context "a": raw counts a b = 2, a c = 1; discounted mass (1 + 0.5) / 3 = 0.5.
    assert 10 ** m.log10_prob("b", ["a"]) == pytest.approx((2 - 1) / 3 + 0.5 * p["b"], rel=1e-6)
    assert 10 ** m.log10_prob("c", ["a"]) == pytest.approx((1 - 0.5) / 3 + 0.5 * p["c"], rel=1e-6)
    assert 10 ** m.log10_prob("</s>", ["a"]) == pytest.approx(0.5 * p["</s>"], rel=1e-6)
    assert m.backoff[("a",)] == pytest.approx(math.log10(0.5))
    # Words never seen fall back to <unk>.
    assert m.log10_prob("zzz", ["a"]) == pytest.approx(m.log10_prob("<unk>", ["a"]))


def test_pruning_moves_mass_to_backoff():
    m = estimate_kneser_ney(CORPUS, order=2, prune=[0, 1])
    assert ("a", "c") not in m.prob and ("a", "b") in m.prob
    p_b, p_c = 1 / 7 + 0.1, 0.5 / 7 + 0.1
    # Context "a" keeps only "a b": gamma = 1 - (2 - 1) / 3.
    assert 10 ** m.log10_prob("b", ["a"]) == pytest.approx(1 / 3 + 2 / 3 * p_b, rel=1e-6)
    assert 10 ** m.log10_prob("c", ["a"]) == pytest.approx(2 / 3 * p_c, rel=1e-6)


@pytest.mark.parametrize("order,prune", [(1, []), (2, []), (3, []), (4, []), (3, [0, 1, 1]), (4, [0, 0, 1, 2])])
def test_distributions_sum_to_one(tmp_path, order, prune):
    words = "the cat sat on a mat the dog ate a cat on the mat".split()
    sents = [words[i:i + 2 + i % 5] for i in range(len(words) - 2)] * 2 + [words]
    m = estimate_kneser_ney(sents, order=order, prune=prune, vocab=["unseen"])
    m.write_arpa(tmp_path / "lm.arpa")
    r = read_arpa(tmp_path / "lm.arpa")
    assert r.counts() == m.counts() and r.order == order
    vocab = [w for w in r.vocab if w != "<s>"]
    for ctx in [(), ("<s>",), ("the",), ("the", "cat"), ("on", "the", "mat"), ("zzz", "a")]:
        total = sum(10 ** r.log10_prob(w, ctx) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-5), ctx


def test_arpa_file_layout(tmp_path):
    m = estimate_kneser_ney(CORPUS, order=2)
    m.write_arpa(tmp_path / "lm.arpa")
    text = (tmp_path / "lm.arpa").read_text()
    assert "\\data\\\nngram 1=6\nngram 2=7\n" in text and text.rstrip().endswith("\\end\\")
    assert "-99\t<s>\t" in text  # <s> is never predicted but carries a back-off weight
    write_word_list(m.vocab, tmp_path / "words.txt")
    lines = (tmp_path / "words.txt").read_text().splitlines()
    assert lines[0] == "<eps> 0" and lines[-1].startswith("</s> ")


def test_bad_arpa_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n-x\tb\n\\end\\\n")
    with pytest.raises(ArpaError, match=r"bad\.arpa:6"):
        read_arpa(bad)
    bad.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\ta\n\\end\\\n")
    with pytest.raises(ArpaError, match="header says 3"):
        read_arpa(bad)
    with pytest.raises(ArpaError, match="no sentences"):
        estimate_kneser_ney([], order=2)
