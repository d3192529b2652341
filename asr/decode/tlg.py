"""WFST decoding of CTC models, EESEN's way (Miao, Gowayyed & Metze 2015): a token-lexicon-grammar
graph ``TLG = T o min(det(L o G))`` searched with Kaldi's decoder over the model's posteriors.

- **L** is a Kaldi lang dir whose "phones" are the model's units: every word of the LM that the
  tokenizer can spell (:func:`asr.decode.lexicon.build_decoder_lexicon`), with Kaldi's
  disambiguation symbols. For character units the word separator ``▁`` is the optional silence
  between words (probability ``sil_prob``), as the targets put it between words; other units have
  no silence token (a placeholder phone no token maps to).
- **G** is the ARPA LM (Kaldi's ``format_lm``: ``kaldilm``).
- **T** is CTC's topology over the units: a start state looping on blank, one state per unit that
  its first frame enters (emitting the unit) and its repeated frames loop on, left by a blank (back
  to the start) or by another unit (directly, emitting it). A repeat of the same unit must pass
  through a blank, as CTC's collapsing rule says. The disambiguation symbols loop on every state so
  that they pass to L and are removed after composition.

The decoder reads ``scale * log p(unit | x_t)`` (``DecodableCtc``: unit ``k`` is input label
``k + 1``), the same machinery as the hybrid and GMM systems; the LM-weight grid is Kaldi's
(acoustic scale ``1 / lmwt``, :mod:`asr.decode.grid`). Graph dir layout: ``TLG.fst``,
``words.txt``, ``units.txt`` (the model's units in order, checked against the model at decode
time), ``phones.txt`` and the lang dir it was built from (``lang/``).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np

from asr.errors import AsrError
from asr.gmm.decode import DecodeConfig

log = logging.getLogger(__name__)

NO_SILENCE = "<nosil>"  # the silence phone of a lexicon whose units have none (no token maps to it)
SIL_WORD = "!SIL"


def ctc_topology(units: list[str], phone_ids: dict[str, int], blank: int, disambig: list[int]):
    """The token FST T: input labels ``unit + 1`` (and ``num_units + 1 + k`` for the k-th
    disambiguation symbol), output labels the lang dir's phone ids (0 for blank and repeats).
    Units without a phone id (spelling no word) are left out. Returns (T, disambiguation input labels)."""
    import kaldifst

    fst = kaldifst.StdVectorFst()
    start = fst.add_state()
    fst.start = start
    fst.set_final(start, 0.0)
    used = [(k, phone_ids[u]) for k, u in enumerate(units) if k != blank and u in phone_ids]
    state = {}
    for k, _ in used:
        state[k] = fst.add_state()
        fst.set_final(state[k], 0.0)
    fst.add_arc(start, kaldifst.StdArc(blank + 1, 0, 0.0, start))
    for k, p in used:
        fst.add_arc(start, kaldifst.StdArc(k + 1, p, 0.0, state[k]))
        s = state[k]
        fst.add_arc(s, kaldifst.StdArc(k + 1, 0, 0.0, s))
        fst.add_arc(s, kaldifst.StdArc(blank + 1, 0, 0.0, start))
        for k2, p2 in used:
            if k2 != k:
                fst.add_arc(s, kaldifst.StdArc(k2 + 1, p2, 0.0, state[k2]))
    dis_in = [len(units) + 1 + i for i in range(len(disambig))]
    for s in [start, *state.values()]:
        for din, d in zip(dis_in, disambig):
            fst.add_arc(s, kaldifst.StdArc(din, d, 0.0, s))
    return fst, dis_in


def make_tlg(tokenizer, arpa: str | os.PathLike, graph_dir: str | os.PathLike, sil_prob: float = 0.5) -> Path:
    """Build ``graph_dir/TLG.fst`` (+ ``words.txt``, ``units.txt``, ``phones.txt``, ``lang/``) for a
    CTC model's tokenizer and an ARPA LM.

    Raises:
        AsrError: units without a CTC blank, a missing LM, or no word the tokenizer can spell.
    """
    import kaldifst

    from asr.decode.lexicon import BLANK, WORD_SEP, build_decoder_lexicon, read_arpa_vocabulary
    from asr.graph.hclg import compose_lg, format_lm, relabel, write_fst
    from asr.graph.lang import prepare_lang, read_int_list, read_symbols

    if tokenizer.blank != 0 or tokenizer.kind not in ("char", "bpe", "phone"):
        raise AsrError(f"TLG graphs are for CTC models (char, bpe or phone units), not {tokenizer.kind!r} units")
    if not Path(arpa).is_file():
        raise AsrError(f"{arpa}: no such LM file")
    out = Path(graph_dir)
    out.mkdir(parents=True, exist_ok=True)
    lex = build_decoder_lexicon(tokenizer, read_arpa_vocabulary(arpa))
    char = tokenizer.kind == "char"
    spellings: dict[str, list[list[str]]] = {}
    for w, spells in lex.spellings.items():
        keep = []
        for s in spells:
            s = [u for u in s if u != BLANK and not (char and u == WORD_SEP)]
            if s and s not in keep:
                keep.append(s)
        if keep:
            spellings[w] = keep
    if not spellings:
        raise AsrError(f"{arpa}: no word of the LM can be spelled in the model's units")
    sil = WORD_SEP if char else NO_SILENCE
    d = out / "dict"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    units = sorted({u for ss in spellings.values() for s in ss for u in s})
    with open(d / "lexicon.txt", "w", encoding="utf-8") as f:
        f.write(f"{SIL_WORD} {sil}\n")
        for w, ss in spellings.items():
            for s in ss:
                f.write(f"{w} {' '.join(s)}\n")
    (d / "silence_phones.txt").write_text(sil + "\n", encoding="utf-8")
    (d / "optional_silence.txt").write_text(sil + "\n", encoding="utf-8")
    (d / "nonsilence_phones.txt").write_text("".join(f"{u}\n" for u in units), encoding="utf-8")
    lang = prepare_lang(d, SIL_WORD, out / "lang_nolm", sil_prob=sil_prob if char else 0.0)
    format_lm(lang, arpa, out / "lang")
    shutil.rmtree(out / "lang_nolm")
    lang = out / "lang"
    phone_ids = {p: i for p, i in read_symbols(lang / "phones.txt").items() if p != "<eps>" and not p.startswith("#")}
    disambig = read_int_list(lang / "phones" / "disambig.int")
    LG = compose_lg(lang)
    kaldifst.arcsort(LG, sort_type="ilabel")
    T, dis_in = ctc_topology(list(tokenizer.tokens), phone_ids, tokenizer.blank, disambig)
    kaldifst.arcsort(T, sort_type="olabel")
    TLG = kaldifst.compose(T, LG)
    TLG = relabel(TLG, set(dis_in))
    kaldifst.connect(TLG)
    kaldifst.arcsort(TLG, sort_type="ilabel")
    write_fst(TLG, out / "TLG.fst")
    for name in ("words.txt", "phones.txt"):
        shutil.copyfile(lang / name, out / name)
    (out / "units.txt").write_text("".join(f"{u} {k}\n" for k, u in enumerate(tokenizer.tokens)), encoding="utf-8")
    n_arcs = sum(TLG.num_arcs(s) for s in kaldifst.StateIterator(TLG))
    log.info("%s: TLG.fst with %d states and %d arcs; %d words (%d of the LM's skipped)", out, TLG.num_states,
             n_arcs, len(spellings), len(lex.skipped))
    return out


class TlgDecoder:
    """Best paths of a CTC model's log-posteriors through a TLG graph dir.

    Args:
        graph_dir: :func:`make_tlg` output.
        tokenizer: the model's units (must be the graph's, ``units.txt``).
        acoustic_scale: scale of the log-posteriors (``1 / lmwt``).
        word_ins_penalty: added to every word arc (Kaldi's insertion penalty).
        cfg: beam and max-active.

    Raises:
        AsrError: a missing graph, or a graph of other units.
    """

    def __init__(self, graph_dir: str | os.PathLike, tokenizer, acoustic_scale: float = 1.0,
                 word_ins_penalty: float = 0.0, cfg: DecodeConfig | None = None) -> None:
        import kaldifst

        from asr.graph.hclg import relabel
        from asr.graph.lang import read_symbols

        g = Path(graph_dir)
        if not (g / "TLG.fst").is_file():
            raise AsrError(f"{g}/TLG.fst: no such file (utils/mkgraph_ctc.sh <model> <arpa> {g})")
        units = [ln.rsplit(" ", 1)[0] for ln in (g / "units.txt").read_text(encoding="utf-8").splitlines()]
        if units != list(tokenizer.tokens):
            raise AsrError(f"{g}/units.txt: the graph was built for other units than the model's "
                           f"({len(units)} against {len(tokenizer.tokens)})")
        self.dir = g
        self.graph = kaldifst.StdVectorFst.read(str(g / "TLG.fst"))
        self.tlg = relabel(self.graph, None, word_ins_penalty) if word_ins_penalty else self.graph
        self.words = {i: w for w, i in read_symbols(g / "words.txt").items()}
        self.acoustic_scale = acoustic_scale
        self.cfg = cfg or DecodeConfig()

    def with_penalty(self, word_ins_penalty: float, cfg: DecodeConfig | None = None) -> TlgDecoder:
        """A decoder of the same graph (not read again) with another insertion penalty (and search
        options)."""
        import copy

        from asr.graph.hclg import relabel

        dec = copy.copy(self)
        dec.tlg = relabel(self.graph, None, word_ins_penalty) if word_ins_penalty else self.graph
        dec.cfg = cfg or self.cfg
        return dec

    def decode(self, items: list[tuple[str, np.ndarray]]) -> tuple[dict[str, str], list[str]]:
        """``(utt, log_probs (T, V))`` pairs -> (utterance -> words, utterances without a final state)."""
        import kaldi_hmm_gmm as khg

        from asr.gmm.decode import best_paths

        decodables = ((utt, khg.DecodableCtc(np.ascontiguousarray(self.acoustic_scale * lp, dtype=np.float32)))
                      for utt, lp in items)
        hyps, _, failed = best_paths(self.tlg, decodables, self.words, self.cfg)
        return hyps, failed


def decode_data_dir(graph_dir: str | os.PathLike, data_dir: str | os.PathLike, decode_dir: str | os.PathLike,
                    model: str | os.PathLike | None = None, lm_weights: list[str] | None = None,
                    word_ins_penalties: list[str] | None = None, cfg: DecodeConfig | None = None,
                    device: str = "cpu") -> dict[str, str]:
    """Decode a data dir with a CTC model through TLG over the (lmwt, wip) grid into ``decode_dir``
    (Kaldi's scoring layout, :func:`asr.decode.grid.decode_grid`); the posteriors are computed once.
    The model is ``<decode_dir>/..`` unless ``model`` is given.

    Raises:
        AsrError: a hybrid model, a missing graph, bad data (named).
    """

    from asr.datadir import DataDir
    from asr.decode.grid import decode_grid
    from asr.decode.recognizer import Recognizer

    out = Path(decode_dir)
    rec = Recognizer(Path(model) if model is not None else out.resolve().parent, device=device, graph=graph_dir)
    if rec.tlg is None:  # a hybrid model would have asked for HCLG.fst in graph_dir already
        raise AsrError(f"{rec.path}: not a CTC model; a hybrid model decodes through HCLG (asr decode-hybrid)")
    items = rec.data_dir_log_probs(data_dir)
    frames = sum(x.shape[0] for _, x in items)

    def decoder_for(wip: float):  # noqa: ANN202
        dec = rec.tlg.with_penalty(wip, cfg)

        def decode(scale: float) -> tuple[dict[str, str], list[str]]:
            dec.acoustic_scale = scale
            return dec.decode(items)
        return decode
    return decode_grid(out, str(data_dir), DataDir.load(data_dir).text, frames, decoder_for, lm_weights,
                       word_ins_penalties)
