"""Lang dirs (prepare_lang) and graphs (format_lm, mkgraph): Kaldi's layout and what the FSTs accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.graph.lang import LangError, add_lex_disambig, prepare_lang, read_int_list, read_symbols


def write_dict(d: Path, lexicon: str, nonsil: str = "A\nB\nC\n") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "lexicon.txt").write_text(lexicon)
    (d / "silence_phones.txt").write_text("SIL\nSPN\n")
    (d / "optional_silence.txt").write_text("SIL\n")
    (d / "nonsilence_phones.txt").write_text(nonsil)
    return d


LEX = "<UNK> SPN\nAB A B\nABC A B C\nBA B A\nBEE B A\nCAB C A B\n"


def test_add_lex_disambig_marks_prefixes_and_homophones():
    lex = [(w, 1.0, p.split()) for w, p in [("AB", "A B"), ("ABC", "A B C"), ("BA", "B A"), ("BEE", "B A"),
                                            ("C", "C")]]
    prons, biggest = add_lex_disambig(lex)
    # AB is a prefix of ABC; BA and BEE share a pronunciation: each gets its own number
    assert prons == [["A", "B", "#1"], ["A", "B", "C"], ["B", "A", "#1"], ["B", "A", "#2"], ["C"]]
    assert biggest == 2


def test_prepare_lang_layout(tmp_path):
    lang = prepare_lang(write_dict(tmp_path / "dict", LEX), "<UNK>", tmp_path / "lang")
    phones = read_symbols(lang / "phones.txt")
    # <eps>, silence phones, nonsilence phones, then #0 .. #2 (homophones) and #3 (after the optional silence)
    assert list(phones) == ["<eps>", "SIL", "SPN", "A", "B", "C", "#0", "#1", "#2", "#3"]
    words = read_symbols(lang / "words.txt")
    assert list(words) == ["<eps>", "<UNK>", "AB", "ABC", "BA", "BEE", "CAB", "#0", "<s>", "</s>"]
    assert (lang / "oov.int").read_text().strip() == str(words["<UNK>"])
    assert read_int_list(lang / "phones" / "disambig.int") == [6, 7, 8, 9]
    assert (lang / "phones" / "silence.csl").read_text().strip() == "1:2"
    assert (lang / "phones" / "optional_silence.txt").read_text().strip() == "SIL"
    assert (lang / "phones" / "roots.txt").read_text().splitlines()[0] == "shared split SIL"
    assert (lang / "phones" / "wdisambig_words.int").read_text().strip() == str(words["#0"])
    import kaldi_hmm_gmm as khg

    topo = khg.HmmTopology()
    topo.read((lang / "topo").read_text())
    assert list(topo.phones) == [1, 2, 3, 4, 5]
    assert list(topo.get_phone_to_num_pdf_classes())[1:] == [5, 5, 3, 3, 3]


def _words_of(fst_path: Path, phones: list[int]) -> list[int] | None:
    """The output words of the best path of a phone sequence through a lexicon FST (None: no path)."""
    import kaldifst

    L = kaldifst.StdVectorFst.read(str(fst_path))
    text = "".join(f"{i} {i + 1} {p} {p}\n" for i, p in enumerate(phones)) + f"{len(phones)}\n"
    acc = kaldifst.compile(s=text, acceptor=False)
    kaldifst.arcsort(L, sort_type="ilabel")
    path = kaldifst.shortest_path(kaldifst.compose(acc, L))
    if path.num_states == 0:
        return None
    ok, _, osyms, _ = kaldifst.get_linear_symbol_sequence(path)
    assert ok
    return [o for o in osyms if o != 0]


def test_lexicon_fst_accepts_words_with_optional_silence(tmp_path):
    lang = prepare_lang(write_dict(tmp_path / "dict", LEX), "<UNK>", tmp_path / "lang")
    p, w = read_symbols(lang / "phones.txt"), read_symbols(lang / "words.txt")
    seq = [p["SIL"], p["C"], p["A"], p["B"], p["SIL"], p["A"], p["B"], p["C"]]  # SIL CAB SIL ABC
    assert _words_of(lang / "L.fst", seq) == [w["CAB"], w["ABC"]]
    # L_disambig needs the disambiguation symbols: AB is A B #1, and #3 follows an optional silence
    seq_d = [p["A"], p["B"], p["#1"], p["SIL"], p["#3"], p["C"], p["A"], p["B"]]
    assert _words_of(lang / "L_disambig.fst", seq_d) == [w["AB"], w["CAB"]]


def test_prepare_lang_without_optional_silence(tmp_path):
    lang = prepare_lang(write_dict(tmp_path / "dict", LEX), "<UNK>", tmp_path / "lang", sil_prob=0.0)
    p = read_symbols(lang / "phones.txt")
    assert "#3" not in p  # no silence disambiguation symbol
    w = read_symbols(lang / "words.txt")
    assert _words_of(lang / "L.fst", [p["C"], p["A"], p["B"], p["A"], p["B"], p["C"]]) == [w["CAB"], w["ABC"]]
    # silence between words is no longer a path
    assert _words_of(lang / "L.fst", [p["C"], p["A"], p["B"], p["SIL"], p["A"], p["B"], p["C"]]) is None


@pytest.mark.parametrize("lexicon, nonsil, message", [
    ("<UNK> SPN\nAB A X\n", "A\nB\nC\n", "lexicon.txt:2: phone 'X' of 'AB'"),
    ("<UNK> SPN\nAB\n", "A\nB\nC\n", "lexicon.txt:2: word 'AB' has no phones"),
    ("<UNK> SPN\nAB A B\n", "A\nB\nA\n", "phone 'A' is listed twice"),
    ("AB A B\n", "A\nB\nC\n", "the OOV word '<UNK>' is not in the lexicon"),
    ("<UNK> SPN\n#0 A\n", "A\nB\nC\n", "lexicon.txt:2: '#0' is reserved"),
])
def test_bad_dict_dir_is_named(tmp_path, lexicon, nonsil, message):
    with pytest.raises(LangError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prepare_lang(write_dict(tmp_path / "dict", lexicon, nonsil), "<UNK>", tmp_path / "lang")


def test_missing_dict_file_is_named(tmp_path):
    d = write_dict(tmp_path / "dict", LEX)
    (d / "optional_silence.txt").unlink()
    with pytest.raises(LangError, match="optional_silence.txt: no such file"):
        prepare_lang(d, "<UNK>", tmp_path / "lang")


@pytest.mark.parametrize("order", [("kaldilm", "kaldifst", "kaldi_hmm_gmm"), ("kaldifst", "kaldi_hmm_gmm", "kaldilm"),
                                   ("kaldi_hmm_gmm", "kaldilm", "kaldifst")])
def test_kaldi_wheels_import_in_any_order(order):
    """The pinned wheels load together whatever the order (kaldilm 1.15.5 before kaldi_hmm_gmm hung;
    kaldifst 1.8 did not share its FST type with kaldi_hmm_gmm): a newer pin must pass this."""
    import subprocess
    import sys

    code = "; ".join(f"import {m}" for m in order) + "; import kaldifst, kaldi_hmm_gmm as k; " \
        "k.add_self_loops  # noqa"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_format_lm_leaves_out_ngrams_of_unknown_words(tmp_path, caplog):
    from asr.graph.hclg import GraphError, format_lm

    lang = prepare_lang(write_dict(tmp_path / "dict", LEX), "<UNK>", tmp_path / "lang")
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-1.0\t</s>\n-99\t<s>\n-0.5\tAB\n-0.5\tCAB\n"
                    "-0.7\t<unk>\n\n\\end\\\n")
    out = format_lm(lang, arpa, tmp_path / "lang_test")
    assert (out / "G.fst").is_file() and (out / "L.fst").is_file()
    assert "1 words are not in" in caplog.text and "<unk>" in caplog.text
    import kaldifst

    g = kaldifst.StdVectorFst.read(str(out / "G.fst"))
    w = read_symbols(lang / "words.txt")
    labels = {a.ilabel for s in kaldifst.StateIterator(g) for a in kaldifst.ArcIterator(g, s)}
    assert {w["AB"], w["CAB"]} <= labels and labels <= {w["AB"], w["CAB"], w["#0"]}
    arpa.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t</s>\n-99\t<s>\n-0.5\tXYZ\n\n\\end\\\n")
    with pytest.raises(GraphError, match="none of its words"):
        format_lm(lang, arpa, tmp_path / "lang_test2")
