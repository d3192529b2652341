"""G.fst from an ARPA LM and the decoding graph HCLG, as Kaldi's ``utils/format_lm.sh`` and
``utils/mkgraph.sh`` make them.

mkgraph's steps (Kaldi's, with ``kaldifst`` and ``kaldi-hmm-gmm`` doing the FST work):

1. LG = det*(L_disambig o G) (log semiring), minimised after encoding;
2. CLG = C o LG for the tree's context width (a monophone tree: width 1);
3. H (transition ids <- context-dependent phones, with the disambiguation symbols kept);
4. HCLGa = det*(H o CLG), the disambiguation symbols replaced by epsilon, minimised;
5. HCLG = self-loops added (``self_loop_scale``, Kaldi's 0.1 for GMMs), written in OpenFst's
   binary format with ``words.txt`` and ``phones.txt`` beside it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from asr.errors import AsrError
from asr.graph.lang import read_int_list

log = logging.getLogger(__name__)


class GraphError(AsrError):
    """A lang dir, LM or model that cannot make a graph; the message names the file."""


def write_fst(fst, path: Path) -> None:
    """Write an FST in OpenFst's binary format, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fst.write(str(tmp))
    os.replace(tmp, path)


def format_lm(lang_dir: str | os.PathLike, arpa: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Copy a lang dir to ``out_dir`` and add ``G.fst`` made from an ARPA LM (Kaldi's
    ``utils/format_lm.sh``): back-off arcs carry ``#0``, ``<s>``/``</s>`` become epsilon, the
    arcs are sorted by input label. N-grams with words that are not in ``words.txt`` are left out
    with a warning (Kaldi's ``arpa2fst`` with a symbol table does the same); an LM with none of
    its words in ``words.txt`` is an error.

    Returns:
        ``out_dir``.
    """
    import kaldifst
    import kaldilm

    src, out = Path(lang_dir), Path(out_dir)
    if not (src / "words.txt").is_file():
        raise GraphError(f"{src}: not a lang dir (no words.txt; run utils/prepare_lang.sh)")
    if not Path(arpa).is_file():
        raise GraphError(f"{arpa}: no such LM file")
    _check_lm_words(Path(arpa), src / "words.txt")
    if out.resolve() != src.resolve():
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(src, out)
    tmp = out / ".G.fst.tmp"
    kaldilm.arpa2fst(input_arpa=str(arpa), output_fst=str(tmp), disambig_symbol="#0",
                     read_symbol_table=str(src / "words.txt"))
    g = kaldifst.StdVectorFst.read(str(tmp))
    kaldifst.arcsort(g, sort_type="ilabel")
    write_fst(g, out / "G.fst")
    tmp.unlink(missing_ok=True)
    return out


def _check_lm_words(arpa: Path, words_txt: Path) -> None:
    from asr.graph.lang import read_symbols
    from asr.lm.arpa import read_arpa_vocabulary

    words = read_symbols(words_txt)
    vocab = [w for w in read_arpa_vocabulary(arpa) if w not in ("<s>", "</s>")]
    missing = sorted(w for w in vocab if w not in words)
    if missing and len(missing) == len(vocab):
        raise GraphError(f"{arpa}: none of its words is in {words_txt} (first: {' '.join(missing[:10])})")
    if missing:
        log.warning("%s: %d words are not in %s (first: %s): their n-grams are left out of G.fst", arpa,
                    len(missing), words_txt, " ".join(missing[:10]))


def relabel(fst, ilabels: set[int] | None = None, olabel_cost: float = 0.0):
    """A copy of ``fst`` with the input labels in ``ilabels`` replaced by epsilon (Kaldi's
    ``fstrmsymbols``) and ``olabel_cost`` added to every arc with an output label (a word
    insertion penalty on HCLG)."""
    import kaldifst

    out = kaldifst.StdVectorFst()
    for _ in kaldifst.StateIterator(fst):
        out.add_state()
    out.start = fst.start
    for s in kaldifst.StateIterator(fst):
        out.set_final(s, fst.final(s))
        for a in kaldifst.ArcIterator(fst, s):
            il = 0 if ilabels and a.ilabel in ilabels else a.ilabel
            w = a.weight.value + (olabel_cost if a.olabel != 0 else 0.0)
            out.add_arc(s, kaldifst.StdArc(il, a.olabel, w, a.nextstate))
    return out


def compose_lg(lang: Path):
    """LG = det*(L_disambig o G) in the log semiring, minimised after encoding (mkgraph's step 1;
    the disambiguation symbols stay on its input side)."""
    import kaldifst

    L = kaldifst.StdVectorFst.read(str(lang / "L_disambig.fst"))
    G = kaldifst.StdVectorFst.read(str(lang / "G.fst"))
    kaldifst.arcsort(L, sort_type="olabel")
    LG = kaldifst.compose(L, G)
    kaldifst.determinize_star(LG, use_log=True)  # returns True only when stopped by max_states
    kaldifst.minimize_encoded(LG)
    return LG


def make_graph(lang_dir: str | os.PathLike, model_dir: str | os.PathLike, graph_dir: str | os.PathLike,
               self_loop_scale: float = 0.1, transition_scale: float = 1.0) -> Path:
    """Build ``graph_dir/HCLG.fst`` (+ ``words.txt``, ``phones.txt``, ``disambig_tid.int`` and, for word
    times, ``phones/{align_lexicon,silence}.*``) from a
    lang dir with ``G.fst`` and a model dir with ``final.mdl`` and ``tree``.

    Raises:
        GraphError: a missing input (names it).
    """
    import kaldi_hmm_gmm as khg
    import kaldifst

    from asr.gmm.model import GmmModel

    lang, mdir, out = Path(lang_dir), Path(model_dir), Path(graph_dir)
    for f in (lang / "L_disambig.fst", lang / "G.fst", lang / "phones" / "disambig.int", mdir / "final.mdl"):
        if not f.is_file():
            raise GraphError(f"{f}: no such file (mkgraph needs a lang dir with G.fst and a model dir)")
    out.mkdir(parents=True, exist_ok=True)
    model = GmmModel.load(mdir / "final.mdl", mdir / "tree")
    LG = compose_lg(lang)
    disambig = read_int_list(lang / "phones" / "disambig.int")
    CLG, ilabels = kaldifst.compose_context(disambig_syms=disambig, context_width=model.tree.context_width,
                                            central_position=model.tree.central_position, ifst=LG)
    kaldifst.arcsort(CLG, sort_type="ilabel")
    Ha, disambig_tid = khg.get_h_transducer(ilabel_info=ilabels, ctx_dep=model.tree, trans_model=model.tm,
                                            config=khg.HTransducerConfig(transition_scale=transition_scale))
    kaldifst.arcsort(Ha, sort_type="olabel")
    HCLGa = kaldifst.compose(Ha, CLG)
    kaldifst.determinize_star(HCLGa, use_log=True)
    HCLGa = relabel(HCLGa, set(disambig_tid))
    kaldifst.rmepsilon(HCLGa)
    kaldifst.minimize_encoded(HCLGa)
    HCLG = khg.add_self_loops(self_loop_scale=self_loop_scale, disambig_syms=[], reorder=True,
                              trans_model=model.tm, ifst=HCLGa)
    kaldifst.arcsort(HCLG, sort_type="ilabel")
    write_fst(HCLG, out / "HCLG.fst")
    for name in ("words.txt", "phones.txt"):
        shutil.copyfile(lang / name, out / name)
    (out / "phones").mkdir(exist_ok=True)  # what word times from a decoder's alignment need
    for name in ("align_lexicon.txt", "align_lexicon.int", "silence.int", "silence.csl", "optional_silence.csl"):
        if (lang / "phones" / name).is_file():
            shutil.copyfile(lang / "phones" / name, out / "phones" / name)
    (out / "disambig_tid.int").write_text("".join(f"{t}\n" for t in disambig_tid))
    log.info("%s: HCLG.fst with %d states and %d arcs", out, HCLG.num_states,
             sum(HCLG.num_arcs(s) for s in kaldifst.StateIterator(HCLG)))
    return out
