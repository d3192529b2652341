"""Hybrid decoding: a frame-level model's posteriors over pdfs, divided by the priors, through HCLG.

A hybrid (DNN/LSTM-HMM) acoustic model estimates ``p(pdf | x_t)``; the HMM needs a likelihood
``p(x_t | pdf)``, which Bayes' rule gives up to a constant as ``p(pdf | x_t) / p(pdf)``
(Bourlard & Morgan 1994; Sak et al. 2014 decode their LSTMs so). The score of frame ``t`` for a
transition id is therefore ``scale * (log p(pdf | x_t) - log p(pdf))`` for the transition id's
pdf, with the priors from the training alignments' pdf counts (stored with the model's units,
:class:`asr.text.PdfUnits`) and the acoustic scale Kaldi uses for neural models (0.1, i.e.
LM weight 10). The lattice decoder of ``kaldi-hmm-gmm`` reads the scores from a matrix
(``DecodableCtc``: transition id ``i`` is column ``i - 1``).

Words get their times from the decoder's alignment: its phone segments (the transition model)
spelled into the hypothesis' words with the graph's ``phones/align_lexicon.txt``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.errors import AsrError
from asr.gmm.decode import DecodeConfig

log = logging.getLogger(__name__)

ACOUSTIC_SCALE = 0.1  # Kaldi's --acoustic-scale for nnet decoding (steps/nnet3/decode.sh)


@dataclass
class HybridWord:
    """A word of a hybrid hypothesis: first frame, frames long, and the mean posterior of its aligned pdfs."""

    word: str
    start: int
    frames: int
    confidence: float


@dataclass
class HybridHypothesis:
    """The best path of one utterance."""

    words: list[str]
    alignment: list[int]  # transition id per frame
    reached_final: bool
    timed: list[HybridWord] = field(default_factory=list)  # the words with spans (empty if they cannot be spelled)


class HybridGraph:
    """HCLG with what decoding a hybrid model through it needs.

    Args:
        graph_dir: ``utils/mkgraph.sh`` output: ``HCLG.fst``, ``words.txt`` and (for word times)
            ``phones.txt``, ``phones/align_lexicon.txt``, ``phones/silence.int``.
        model_dir: the dir with the ``final.mdl`` and ``tree`` the graph was built from (the
            hybrid experiment dir, which holds its alignment model's copies).

    Raises:
        AsrError: a missing graph or model (names the file).
    """

    def __init__(self, graph_dir: str | os.PathLike, model_dir: str | os.PathLike) -> None:
        import kaldifst

        from asr.gmm.model import GmmModel
        from asr.graph.lang import read_align_lexicon, read_symbols

        g, m = Path(graph_dir), Path(model_dir)
        if not (g / "HCLG.fst").is_file():
            raise AsrError(f"{g}/HCLG.fst: no such file (utils/mkgraph.sh <lang> {m} {g})")
        if not (m / "final.mdl").is_file():
            raise AsrError(f"{m}/final.mdl: no such file (a hybrid experiment dir holds its alignment model's "
                           f"final.mdl and tree)")
        self.dir = g
        self.hclg = kaldifst.StdVectorFst.read(str(g / "HCLG.fst"))
        self.words = {i: w for w, i in read_symbols(g / "words.txt").items()}
        self.model = GmmModel.load(m / "final.mdl", m / "tree")
        self.tid2pdf = np.asarray(self.model.tm.transition_id_to_pdf_array(), dtype=np.int64)
        self.prons: dict[str, list[list[int]]] = {}
        self.silence: set[int] = set()
        if (g / "phones" / "align_lexicon.txt").is_file():
            self.prons, self.silence = read_align_lexicon(g)
        else:
            log.warning("%s/phones/align_lexicon.txt: missing (a graph of an older mkgraph.sh); no word times", g)

    @property
    def num_pdfs(self) -> int:
        return int(self.model.num_pdfs)


def pdf_scores(log_probs: np.ndarray, log_priors: np.ndarray) -> np.ndarray:
    """(T, P) log-likelihoods up to a constant: log-posteriors (T, P) minus log-priors (P,)."""
    return np.asarray(log_probs, dtype=np.float32) - np.asarray(log_priors, dtype=np.float32)[None, :]


def transition_scores(scores: np.ndarray, tid2pdf: np.ndarray, scale: float) -> np.ndarray:
    """(T, num_tids) ``scale * scores[:, pdf(tid)]`` for transition ids 1..num_tids: the matrix the
    decoder reads (its column ``i - 1`` is transition id ``i``)."""
    return np.ascontiguousarray(scale * scores[:, tid2pdf[1:]], dtype=np.float32)


class HybridDecoder:
    """Best paths of hybrid scores through a :class:`HybridGraph`.

    Args:
        graph: the graph.
        log_priors: (P,) log priors of the pdfs.
        acoustic_scale: scale of the acoustic scores (default 0.1 = LM weight 10).
        word_ins_penalty: added to every word arc of HCLG (Kaldi's insertion penalty; default 0).
        cfg: the search's beam and max-active (default: Kaldi's, :class:`asr.gmm.decode.DecodeConfig`).

    Raises:
        AsrError: priors of another number of pdfs than the graph's model.
    """

    def __init__(self, graph: HybridGraph, log_priors: np.ndarray, acoustic_scale: float = ACOUSTIC_SCALE,
                 word_ins_penalty: float = 0.0, cfg: DecodeConfig | None = None) -> None:
        from asr.graph.hclg import relabel

        self.graph = graph
        self.log_priors = np.asarray(log_priors, dtype=np.float32)
        if self.log_priors.shape[0] != graph.num_pdfs:
            raise AsrError(f"the model has {self.log_priors.shape[0]} pdf outputs, {graph.dir}'s model "
                           f"{graph.num_pdfs} pdfs: the graph was built from another model")
        self.acoustic_scale = acoustic_scale
        self.cfg = cfg or DecodeConfig()
        self.hclg = relabel(graph.hclg, None, word_ins_penalty) if word_ins_penalty else graph.hclg

    def decode(self, items: list[tuple[str, np.ndarray]], times: bool = True) -> dict[str, HybridHypothesis]:
        """Decode ``(utt, log_probs (T, P))`` pairs (log-posteriors of the model, priors not yet divided
        out); ``times``: also the words' spans (:meth:`word_spans`; default True)."""
        import kaldi_hmm_gmm as khg

        from asr.gmm.decode import best_paths

        g = self.graph
        decodables = ((utt, khg.DecodableCtc(transition_scores(pdf_scores(lp, self.log_priors), g.tid2pdf,
                                                               self.acoustic_scale)))
                      for utt, lp in items)
        hyps, alis, failed = best_paths(self.hclg, decodables, g.words, self.cfg)
        finals = set(hyps) - set(failed)
        out = {}
        lps = dict(items)
        for utt, text in hyps.items():
            ws = text.split()
            out[utt] = HybridHypothesis(ws, alis[utt], utt in finals,
                                        self.word_spans(ws, alis[utt], lps[utt]) if times else [])
        return out

    def word_spans(self, words: list[str], ali: list[int], log_probs: np.ndarray) -> list[HybridWord]:
        """The hypothesis' words with their frames (from the alignment) and the mean posterior of the
        pdfs aligned to them; empty when there is no lexicon or its phones do not spell the words."""
        from asr.gmm.ali import ali_to_phones, ali_to_words

        g = self.graph
        if not words or not g.prons or not ali:
            return []
        spans = ali_to_words(ali_to_phones(g.model, np.asarray(ali)), words, g.prons, g.silence)
        if spans is None:
            return []
        pdfs = g.tid2pdf[np.asarray(ali, dtype=np.int64)]
        post = np.exp(np.asarray(log_probs, dtype=np.float64)[np.arange(len(pdfs)), pdfs])
        return [HybridWord(s.word, s.start, s.frames,
                           round(float(post[s.start: s.start + s.frames].mean()) if s.frames else 0.0, 4))
                for s in spans]


def decode_data_dir(graph_dir: str | os.PathLike, data_dir: str | os.PathLike, decode_dir: str | os.PathLike,
                    model: str | os.PathLike | None = None, lm_weights: list[str] | None = None,
                    word_ins_penalties: list[str] | None = None, cfg: DecodeConfig | None = None,
                    device: str = "cpu", skip_bad: bool = False) -> dict[str, str]:
    """Decode a data dir with a hybrid model over the (lmwt, wip) grid into ``decode_dir``, in
    Kaldi's scoring layout (:func:`asr.decode.grid.decode_grid`); returns the best setting's hypotheses.

    The model's posteriors are computed once (:meth:`Recognizer.data_log_probs`, the one path from
    utterances to posteriors) and every setting of the grid decodes them at acoustic scale
    ``1 / lmwt``. The model is ``<decode_dir>/..`` unless ``model`` (an experiment dir or a
    checkpoint; its dir must hold ``final.mdl`` and ``tree``) is given.

    Raises:
        AsrError: not a hybrid model, a missing graph or model file, bad data (names the file).
    """

    from asr.datadir import DataDir
    from asr.decode.grid import decode_grid
    from asr.decode.recognizer import Recognizer

    out = Path(decode_dir)
    rec = Recognizer(Path(model) if model is not None else out.resolve().parent, device=device, graph=graph_dir)
    if rec.hybrid is None:
        raise AsrError(f"{rec.path}: a {rec.system.tokenizer.kind} model, not a hybrid one (pdf units): decode it "
                       f"with asr decode")
    items = rec.data_dir_log_probs(data_dir, skip_bad=skip_bad)
    frames = sum(x.shape[0] for _, x in items)

    def decoder_for(wip: float):  # noqa: ANN202
        dec = HybridDecoder(rec.hybrid.graph, rec.hybrid.log_priors, 1.0, wip, cfg)

        def decode(scale: float) -> tuple[dict[str, str], list[str]]:
            dec.acoustic_scale = scale
            hyps = dec.decode(items, times=False)
            return {u: " ".join(h.words) for u, h in hyps.items()}, [u for u, h in hyps.items() if not h.reached_final]
        return decode
    return decode_grid(out, str(data_dir), DataDir.load(data_dir).text, frames, decoder_for, lm_weights,
                       word_ins_penalties)
