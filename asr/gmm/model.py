"""An HMM-GMM acoustic model and its Kaldi files.

``final.mdl`` is written in Kaldi's text format (the transition model, then ``<DIMENSION>``,
``<NUMPDFS>`` and one ``<DiagGMM>`` per pdf), which Kaldi's tools (``gmm-info``, ``gmm-copy``,
``show-alignments``) read as they read their own binary files; ``tree`` is the context-dependency
tree as Kaldi writes it (text). This module reads both back, and Kaldi's binary trees too
(:func:`asr.gmm.tree.read_tree`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from asr.errors import AsrError
from asr.fileio import atomic_write


class GmmModelError(AsrError):
    """A model file that cannot be read; the message names it."""


def _vec(x: np.ndarray) -> str:
    return " [ " + " ".join(f"{v:.9g}" for v in np.asarray(x).ravel()) + " ]\n"


def _mat(x: np.ndarray) -> str:
    x = np.atleast_2d(np.asarray(x))
    rows = ["  " + " ".join(f"{v:.9g}" for v in r) for r in x]
    return " [\n" + " \n".join(rows) + " ]\n"


def single_gaussian(mean: np.ndarray, var: np.ndarray):
    """A one-component ``kaldi_hmm_gmm.DiagGmm`` of (D,) mean and variance."""
    import kaldi_hmm_gmm as khg
    import torch

    g = khg.DiagGmm(nmix=1, dim=int(np.asarray(mean).shape[0]))
    g.set_weights(torch.ones(1, dtype=torch.float32))
    g.set_means(torch.as_tensor(mean, dtype=torch.float32)[None])
    g.set_invvars(1.0 / torch.as_tensor(var, dtype=torch.float32)[None])
    g.compute_gconsts()
    return g


@dataclass
class GmmModel:
    """Topology + tree + transition model + one diagonal GMM per pdf (Kaldi's ``final.mdl`` + ``tree``).

    Attributes:
        topo: ``kaldi_hmm_gmm.HmmTopology``.
        tree: ``kaldi_hmm_gmm.ContextDependency``.
        tm: ``kaldi_hmm_gmm.TransitionModel``.
        am: ``kaldi_hmm_gmm.AmDiagGmm``.
    """

    topo: object
    tree: object
    tm: object
    am: object

    @classmethod
    def init_mono(cls, topo_text: str, mean: np.ndarray, var: np.ndarray) -> GmmModel:
        """A flat-start monophone model (Kaldi's ``gmm-init-mono``): one Gaussian per pdf, every one
        with the data's global mean and variance.

        Args:
            topo_text: the lang dir's ``topo``.
            mean, var: (D,) global mean and variance of the features.
        """
        import kaldi_hmm_gmm as khg

        topo = khg.HmmTopology()
        topo.read(topo_text)
        tree = khg.monophone_context_dependency(phones=topo.phones,
                                                phone2num_pdf_classes=topo.get_phone_to_num_pdf_classes())
        gmm = single_gaussian(mean, var)
        am = khg.AmDiagGmm()
        for _ in range(tree.num_pdfs):
            am.add_pdf(gmm)
        tm = khg.TransitionModel(ctx_dep=tree, hmm_topo=topo)
        return cls(topo, tree, tm, am)

    @cached_property
    def transition_states(self) -> list[tuple[int, int, int, int]]:
        """(phone, HMM state, forward pdf, self-loop pdf) of every transition state, in order (Kaldi's
        triples or tuples, read once from the transition model's text form; they do not change in
        training, only the transition probabilities do)."""
        text = str(self.tm)
        for tag, width in (("<Triples>", 3), ("<Tuples>", 4)):
            at = text.find(tag)
            if at >= 0:
                toks = text[at + len(tag):].split()
                n = int(toks[0])
                vals = [int(t) for t in toks[1: 1 + n * width]]
                rows = [tuple(vals[i * width:(i + 1) * width]) for i in range(n)]
                return [(r[0], r[1], r[2], r[2]) if width == 3 else r for r in rows]
        raise GmmModelError("transition model without <Triples> or <Tuples>")

    @cached_property
    def tid_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per transition id (index 0 unused): its phone, whether it starts a phone (enters the
        phone's first HMM state), its pdf class; built once per model."""
        tm, topo = self.tm, self.topo
        n = int(tm.num_transition_ids)
        id2state = tm.id2state
        phone = np.zeros(n + 1, dtype=np.int64)
        first = np.zeros(n + 1, dtype=bool)
        pclass = np.zeros(n + 1, dtype=np.int64)
        entries: dict[int, list] = {}
        for tid in range(1, n + 1):
            ph, hs = self.transition_states[id2state[tid] - 1][:2]
            phone[tid] = ph
            first[tid] = bool(tm.transition_ids_is_start_of_phone(tid))
            st = entries.setdefault(ph, topo.topology_for_phone(ph))[hs]
            pclass[tid] = st.self_loop_pdf_class if tm.is_self_loop(tid) else st.forward_pdf_class
        return phone, first, pclass

    @property
    def num_pdfs(self) -> int:
        return int(self.tm.num_pdfs)

    @property
    def num_gauss(self) -> int:
        return int(self.am.num_gauss)

    @property
    def dim(self) -> int:
        return int(self.am.dim)

    @property
    def phones(self) -> list[int]:
        return list(self.topo.phones)

    def info(self) -> dict[str, int]:
        """What Kaldi's ``gmm-info`` prints: phones, pdfs, transition ids and states, dimension, Gaussians."""
        return {"number of phones": len(self.phones), "number of pdfs": self.num_pdfs,
                "number of transition-ids": int(self.tm.num_transition_ids),
                "number of transition-states": int(self.tm.num_transition_states),
                "feature dimension": self.dim, "number of gaussians": self.num_gauss}

    def am_text(self) -> str:
        """The ``AmDiagGmm`` part of ``final.mdl`` in Kaldi's text format."""
        parts = [f"<DIMENSION> {self.dim} <NUMPDFS> {self.am.num_pdfs} "]
        for i in range(self.am.num_pdfs):
            g = self.am.get_pdf(i)
            parts.append("<DiagGMM> \n<GCONSTS> " + _vec(g.gconsts) + "<WEIGHTS> " + _vec(g.weights)
                         + "<MEANS_INVVARS> " + _mat(g.means_invvars) + "<INV_VARS> " + _mat(g.inv_vars)
                         + "</DiagGMM> \n")
        return "".join(parts)

    def save(self, mdl: str | os.PathLike, tree: str | os.PathLike | None = None) -> None:
        """Write ``mdl`` (Kaldi text ``final.mdl``) and, if given, ``tree`` (Kaldi text), atomically."""
        with atomic_write(mdl) as f:
            f.write(str(self.tm))
            f.write(self.am_text())
        if tree is not None:
            tmp = Path(f"{tree}.tmp")
            self.tree.write(binary=False, filename=str(tmp))
            os.replace(tmp, tree)

    @classmethod
    def load(cls, mdl: str | os.PathLike, tree: str | os.PathLike | None = None) -> GmmModel:
        """Read a ``final.mdl`` written by :meth:`save` (Kaldi's text format).

        ``tree`` is Kaldi's tree file (text or binary, any context width); without one, the model is a
        monophone model and its tree is rebuilt from the topology.

        Raises:
            GmmModelError: a missing or malformed file (names it), or a tree this reader cannot build.
        """
        import kaldi_hmm_gmm as khg
        import torch

        try:
            text = Path(mdl).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise GmmModelError(f"{mdl}: cannot read the model (a text final.mdl from asr): {e}") from e
        m = re.search(r"<Topology>.*?</Topology>", text, re.S)
        lp = re.search(r"<LogProbs>\s*\[([^\]]*)\]\s*</LogProbs>", text, re.S)
        am_at = text.find("<DIMENSION>")
        if m is None or lp is None or am_at < 0:
            raise GmmModelError(f"{mdl}: not a text HMM-GMM model (no <Topology>, <LogProbs> or <DIMENSION>)")
        topo = khg.HmmTopology()
        topo.read(m.group(0))
        if tree is not None and Path(tree).is_file():
            from asr.gmm.tree import TreeError, read_tree

            try:
                ctx = read_tree(tree)
            except TreeError as e:
                raise GmmModelError(str(e)) from e
        else:
            ctx = khg.monophone_context_dependency(phones=topo.phones,
                                                   phone2num_pdf_classes=topo.get_phone_to_num_pdf_classes())
        tm = khg.TransitionModel(ctx_dep=ctx, hmm_topo=topo)
        log_probs = [float(x) for x in lp.group(1).split()]
        if str(tm).split("<LogProbs>")[0] != text[: text.find("<LogProbs>")]:
            raise GmmModelError(f"{mdl}: its transition states do not match the tree {tree or '(monophone)'} "
                                "and its topology")
        state = list(tm.__getstate__())
        if len(log_probs) != len(state[6]):
            raise GmmModelError(f"{mdl}: {len(log_probs)} transition log-probabilities, expected {len(state[6])}")
        state[6] = log_probs
        # log(1 - p(self-loop)) per transition state, as Kaldi's ComputeDerivedOfProbs
        nsl = [0.0]
        for s in range(1, int(tm.num_transition_states) + 1):
            p_self = 0.0
            for tid in range(state[2][s], state[2][s + 1]):
                if tm.is_self_loop(tid):
                    p_self = float(np.exp(log_probs[tid]))
            nsl.append(float(np.log1p(-p_self)) if p_self < 1.0 else -np.inf)
        state[7] = nsl
        # __setstate__ takes effect only on a new, uninitialised object (as pickle makes one)
        tm = khg.TransitionModel.__new__(khg.TransitionModel)
        tm.__setstate__(tuple(state))
        dims = re.match(r"<DIMENSION>\s+(\d+)\s+<NUMPDFS>\s+(\d+)", text[am_at:])
        if dims is None:
            raise GmmModelError(f"{mdl}: malformed <DIMENSION>/<NUMPDFS>")
        dim, npdf = int(dims.group(1)), int(dims.group(2))
        blocks = re.findall(r"<DiagGMM>(.*?)</DiagGMM>", text[am_at:], re.S)
        if len(blocks) != npdf or npdf != tm.num_pdfs:
            raise GmmModelError(f"{mdl}: {len(blocks)} GMMs for {npdf} pdfs (the transition model has {tm.num_pdfs})")
        am = khg.AmDiagGmm()

        def field(block: str, name: str) -> np.ndarray:
            f = re.search(rf"<{name}>\s*\[([^\]]*)\]", block, re.S)
            if f is None:
                raise GmmModelError(f"{mdl}: a <DiagGMM> without <{name}>")
            return np.array(f.group(1).split(), dtype=np.float64)

        for b in blocks:
            w = field(b, "WEIGHTS")
            n = w.size
            mi = field(b, "MEANS_INVVARS").reshape(n, dim)
            iv = field(b, "INV_VARS").reshape(n, dim)
            g = khg.DiagGmm(nmix=n, dim=dim)
            g.set_weights(torch.tensor(w, dtype=torch.float32))
            g.set_invvars(torch.tensor(iv, dtype=torch.float32))
            g.set_means(torch.tensor(mi / iv, dtype=torch.float32))
            g.compute_gconsts()
            am.add_pdf(g)
        return cls(topo, ctx, tm, am)
