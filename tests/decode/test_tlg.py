"""WFST (TLG) decoding of CTC posteriors: the token FST, graph building and hand-made posteriors
decoded through it, against the flashlight lexicon decoder on the same posteriors."""

from __future__ import annotations

import numpy as np
import pytest
from ctcdata import CHARS, SENTENCES, chars, posteriors, spell

from asr.decode.lexicon import LexiconDecoder
from asr.errors import AsrError
from asr.text import BLANK, WORD_SEP, BpeTokenizer, CharTokenizer


@pytest.fixture(scope="module")
def char_graph(tmp_path_factory, arpa):
    from asr.decode.tlg import make_tlg

    tok = CharTokenizer(CHARS)
    return tok, make_tlg(tok, arpa, tmp_path_factory.mktemp("tlg") / "graph")


def _accepts(fst, labels: list[int]) -> bool:
    """Whether the unweighted FST has a path with these input labels (epsilons skipped)."""
    import kaldifst

    def closure(states):
        out, todo = set(states), list(states)
        while todo:
            s = todo.pop()
            for a in kaldifst.ArcIterator(fst, s):
                if a.ilabel == 0 and a.nextstate not in out:
                    out.add(a.nextstate)
                    todo.append(a.nextstate)
        return out

    cur = closure({fst.start})
    for lab in labels:
        cur = closure({a.nextstate for s in cur for a in kaldifst.ArcIterator(fst, s) if a.ilabel == lab})
    return any(np.isfinite(fst.final(s).value) for s in cur)


def test_ctc_topology_collapses_repeats_and_needs_a_blank_between_equal_units():
    import kaldifst

    from asr.decode.tlg import ctc_topology

    units = [BLANK, "A", "B"]
    T, dis = ctc_topology(units, {"A": 5, "B": 6}, 0, [9])
    blank, a, b = 1, 2, 3
    assert dis == [4]
    for seq in ([a], [a, a, a], [blank, a, blank], [a, b], [a, blank, a], [blank, a, a, b, b, blank], [], [4, a]):
        assert _accepts(T, seq), seq
    # A frame sequence's outputs: the units it collapses to (A A -> A; A <blk> A -> A A)
    outs = {}
    for s in kaldifst.StateIterator(T):
        for arc in kaldifst.ArcIterator(T, s):
            outs.setdefault((s, arc.ilabel), arc.olabel)
    assert outs[(T.start, a)] == 5 and outs[(T.start, blank)] == 0
    a_state = next(arc.nextstate for arc in kaldifst.ArcIterator(T, T.start) if arc.ilabel == a)
    assert outs[(a_state, a)] == 0 and outs[(a_state, b)] == 6 and outs[(a_state, 4)] == 9


def test_char_graph_decodes_hand_made_posteriors(char_graph):
    from asr.decode.tlg import TlgDecoder

    tok, graph = char_graph
    for name in ("TLG.fst", "words.txt", "units.txt", "phones.txt", "lang/G.fst", "lang/L_disambig.fst"):
        assert (graph / name).is_file(), name
    dec = TlgDecoder(graph, tok, acoustic_scale=1.0)
    items = []
    for i, text in enumerate(["THE CAT SAT", "GO TO THE MAT", "INTO THE HAT"]):
        items.append((f"u{i}", posteriors(tok, [BLANK, *spell(chars(text)), BLANK]).numpy()))
    hyps, failed = dec.decode(items)
    assert hyps == {"u0": "THE CAT SAT", "u1": "GO TO THE MAT", "u2": "INTO THE HAT"} and not failed
    # the word separator is optional between words, as the model may not emit it
    hyps, _ = dec.decode([("x", posteriors(tok, spell(list("THECATSAT"))).numpy())])
    assert hyps["x"] == "THE CAT SAT"
    # repeated frames of a unit are one unit: T H H E -> THE, not THHE (no such word anyway)
    frames = ["T", "T", "H", "H", BLANK, "E", "E", WORD_SEP, "C", "A", "A", "T"]
    hyps, _ = dec.decode([("r", posteriors(tok, frames).numpy())])
    assert hyps["r"] == "THE CAT"


def test_tlg_agrees_with_the_lexicon_decoder_when_the_lm_decides(char_graph, arpa):
    """H slightly better than C acoustically after THE, before AT SAT: with the LM weighed in, both
    searches take the LM's THE CAT SAT; with the LM weighed down, both the acoustics' HAT."""
    from asr.decode.tlg import TlgDecoder

    tok, graph = char_graph
    frames = [*spell(chars("THE ")), {"H": 0.5, "C": 0.45}, BLANK, *spell(chars("AT SAT"))]
    lp = posteriors(tok, frames)
    for lex_weight, scale, words in ((2.3, 1.0, "THE CAT SAT"), (0.01, 100.0, "THE HAT SAT")):
        tlg, _ = TlgDecoder(graph, tok, acoustic_scale=scale).decode([("a", lp.numpy())])
        lex = LexiconDecoder(tok, arpa, lm_weight=lex_weight).decode(lp[None])
        assert tlg["a"] == words and " ".join(lex[0]) == words


def test_bpe_graph_and_refusals(tmp_path, arpa, char_graph):
    from asr.decode.tlg import TlgDecoder, make_tlg
    from asr.text import PdfUnits

    bpe = BpeTokenizer.from_texts(SENTENCES * 5, vocab_size=30)
    g = make_tlg(bpe, arpa, tmp_path / "bpe")
    dec = TlgDecoder(g, bpe)
    ids = bpe.encode("THE CAT SAT")
    frames = []
    for i in ids:
        frames += [bpe.tokens[i], BLANK]
    hyps, _ = dec.decode([("b", posteriors(bpe, frames).numpy())])
    assert hyps["b"] == "THE CAT SAT"
    _, char_g = char_graph
    with pytest.raises(AsrError, match="other units"):
        TlgDecoder(char_g, bpe)
    with pytest.raises(AsrError, match="not 'pdf' units"):
        make_tlg(PdfUnits(4, [1, 1, 1, 1]), arpa, tmp_path / "pdf")
    with pytest.raises(AsrError, match="no such LM"):
        make_tlg(bpe, tmp_path / "none.arpa", tmp_path / "x")
