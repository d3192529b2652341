"""CTC search on padded batches of log-posteriors: best path (greedy) and prefix beam search.

Both are pure functions of ``(B, T, V)`` log-probabilities (log-softmax output,
blank id ``blank``) and ``(B,)`` lengths; frames past an utterance's length
are never read, so padding does not change results.

Timing of a token (``Hypothesis.frames``): the frame, within the run of frames
that emit the token, where its posterior is highest ("peak"). For greedy
decoding the run is taken from the best path; for beam search it is the run
in the most probable single alignment (Viterbi path) of the returned
labelling among those the beam kept, tracked alongside the summed prefix
probabilities. ``Hypothesis.confidences`` are the posteriors at those frames.

The beam search is the CTC prefix search of Graves (2006) in the form of
Hannun et al. (2014): every prefix carries the log-probability of the frames
so far ending in blank and ending in its last token; extensions that produce
a prefix already in the beam are merged into it. One frame of the search is a
few numpy operations on a ``(beam, V)`` matrix, so pure-Python speed suffices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

NEG_INF = -math.inf


@dataclass
class Hypothesis:
    """One recognised unit sequence.

    Attributes:
        tokens: unit ids, blanks and repeats removed.
        frames: for each token, the (output) frame where it is emitted (its peak).
        confidences: for each token, its posterior in [0, 1] at that frame.
        score: log-probability: of the best path (greedy) or of the labelling, summed
            over its alignments (beam search).
    """

    tokens: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    score: float = 0.0


def _check(log_probs: torch.Tensor, lens: torch.Tensor | None, blank: int) -> tuple[torch.Tensor, list[int]]:
    log_probs = torch.as_tensor(log_probs)
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (B, T, V), got shape {tuple(log_probs.shape)}")
    B, T, V = log_probs.shape
    if not 0 <= blank < V:
        raise ValueError(f"blank id {blank} outside [0, {V})")
    if lens is None:
        return log_probs, [T] * B
    lens_l = [int(n) for n in torch.as_tensor(lens).reshape(-1).tolist()]
    if len(lens_l) != B or any(not 0 <= n <= T for n in lens_l):
        raise ValueError(f"lens {lens_l} do not fit log_probs of shape {(B, T, V)}")
    return log_probs, lens_l


def greedy_decode(log_probs: torch.Tensor, lens: torch.Tensor | None = None, blank: int = 0) -> list[Hypothesis]:
    """Best-path decoding: the most probable unit per frame, repeats collapsed, blanks dropped.

    Args:
        log_probs: (B, T, V) log-posteriors.
        lens: (B,) valid frames per utterance (default: all T).
        blank: blank id (default 0).

    Returns:
        B hypotheses; ``score`` is the best path's log-probability, ``frames`` the
        peak frame of each token's run.
    """
    log_probs, lens_l = _check(log_probs, lens, blank)
    best, ids = log_probs.detach().max(dim=-1)  # (B, T) each
    best_np = best.cpu().double().numpy()
    ids_np = ids.cpu().numpy()
    out = []
    for b, n in enumerate(lens_l):
        path, lp = ids_np[b, :n], best_np[b, :n]
        starts = np.flatnonzero(np.diff(path, prepend=-1) != 0)  # first frame of each run
        ends = np.append(starts[1:], n)
        hyp = Hypothesis(score=float(lp.sum()))
        for s, e in zip(starts.tolist(), ends.tolist()):
            if path[s] == blank:
                continue
            peak = s + int(np.argmax(lp[s:e]))
            hyp.tokens.append(int(path[s]))
            hyp.frames.append(peak)
            hyp.confidences.append(math.exp(lp[peak]))
        out.append(hyp)
    return out


def prefix_beam_search(log_probs: torch.Tensor, lens: torch.Tensor | None = None, beam: int = 8, blank: int = 0,
                       nbest: int = 1, prune_topk: int | None = None) -> list[list[Hypothesis]]:
    """CTC prefix beam search (Graves 2006; Hannun et al. 2014) in log space.

    Args:
        log_probs: (B, T, V) log-posteriors.
        lens: (B,) valid frames per utterance (default: all T).
        beam: prefixes kept after each frame (default 8).
        blank: blank id (default 0).
        nbest: hypotheses returned per utterance (default 1; at most ``beam``).
        prune_topk: if set, only the ``prune_topk`` most probable non-blank units of
            each frame may start a new token (faster for large V; inexact).

    Returns:
        Per utterance, up to ``nbest`` distinct hypotheses sorted by ``score``
        (prefix log-probability summed over alignments), best first. An
        utterance with no frames gives one empty hypothesis with score 0.
    """
    if beam < 1 or nbest < 1:
        raise ValueError(f"beam ({beam}) and nbest ({nbest}) must be >= 1")
    if prune_topk is not None and prune_topk < 1:
        raise ValueError(f"prune_topk must be >= 1, got {prune_topk}")
    log_probs, lens_l = _check(log_probs, lens, blank)
    lp_all = log_probs.detach().cpu().double().numpy()
    return [_beam_one(lp_all[b, :n], beam, blank, min(nbest, beam), prune_topk) for b, n in enumerate(lens_l)]


def _logaddexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


def _beam_one(lp: np.ndarray, beam: int, blank: int, nbest: int, prune_topk: int | None) -> list[Hypothesis]:
    """Prefix beam search of one utterance, lp (T, V) float64."""
    T, V = lp.shape
    lp_l = lp.tolist()
    nonblank = np.array([c for c in range(V) if c != blank], dtype=np.int64)
    all_pos = {c: m for m, c in enumerate(nonblank.tolist())}
    # Prefixes are nodes of a trie: node 0 is the empty prefix.
    parent, token = [-1], [-1]
    children: dict[tuple[int, int], int] = {}
    # Beam slots: node, summed log-probs of the frames so far ending in blank / in the last
    # token (pb, pnb), their Viterbi (max) counterparts (vb, vnb), and the peak frames of the
    # tokens on those two Viterbi paths (tb, tnb).
    nodes = [0]
    pb, pnb, vb, vnb = [0.0], [NEG_INF], [0.0], [NEG_INF]
    tb: list[tuple[int, ...]] = [()]
    tnb: list[tuple[int, ...]] = [()]
    for t in range(T):
        row, row_l = lp[t], lp_l[t]
        cand, pos = nonblank, all_pos
        if prune_topk is not None and prune_topk < len(nonblank):
            cand = nonblank[np.argpartition(-row[nonblank], prune_topk - 1)[:prune_topk]]
            pos = {c: m for m, c in enumerate(cand.tolist())}
        K, M = len(nodes), len(cand)
        last = [token[n] for n in nodes]
        ptot = [_logaddexp(a, b) for a, b in zip(pb, pnb)]
        vmax = [max(a, b) for a, b in zip(vb, vnb)]
        # The prefix stays: a blank, or its last token repeated (no new token).
        blank_lp = row_l[blank]
        s_pb = [p + blank_lp for p in ptot]
        s_vb = [v + blank_lp for v in vmax]
        s_pnb = [p + row_l[c] if c >= 0 else NEG_INF for p, c in zip(pnb, last)]
        s_vnb = [v + row_l[c] if c >= 0 else NEG_INF for v, c in zip(vnb, last)]
        # The prefix grows by unit c; repeating its last unit needs a blank in between.
        ext = np.add.outer(np.array(ptot), row[cand])  # (K, M) log-probs of the extended prefixes
        for j, c in enumerate(last):
            m = pos.get(c, -1)
            if m >= 0:
                ext[j, m] = pb[j] + row_l[c]
        # Merge extensions that give a prefix already in the beam into that slot.
        slot = {n: j for j, n in enumerate(nodes)}
        via_parent = [-1] * K  # slot whose extension is the Viterbi best of s_vnb[j]
        for j, n in enumerate(nodes):
            k = slot.get(parent[n], -1)
            if k < 0:
                continue
            c = token[n]
            rep = c == last[k]
            s_pnb[j] = _logaddexp(s_pnb[j], row_l[c] + (pb[k] if rep else ptot[k]))
            v = row_l[c] + (vb[k] if rep else vmax[k])
            if v > s_vnb[j]:
                s_vnb[j], via_parent[j] = v, k
            m = pos.get(c, -1)
            if m >= 0:
                ext[k, m] = NEG_INF
        # Keep the `beam` best of the K stays and K * M extensions.
        tot = np.concatenate([np.array([_logaddexp(a, b) for a, b in zip(s_pb, s_pnb)]), ext.ravel()])
        keep = max(1, min(beam, int(np.count_nonzero(tot > NEG_INF))))
        idx = np.argpartition(-tot, keep - 1)[:keep] if keep < len(tot) else np.arange(len(tot))
        idx = idx[np.argsort(-tot[idx], kind="stable")]
        new_nodes: list[int] = []
        new_tb: list[tuple[int, ...]] = []
        new_tnb: list[tuple[int, ...]] = []
        n_pb: list[float] = []
        n_pnb: list[float] = []
        n_vb: list[float] = []
        n_vnb: list[float] = []
        for i, score in zip(idx.tolist(), tot[idx].tolist()):
            if i < K:  # stay
                j = i
                new_nodes.append(nodes[j])
                n_pb.append(s_pb[j])
                n_pnb.append(s_pnb[j])
                n_vb.append(s_vb[j])
                n_vnb.append(s_vnb[j])
                new_tb.append(tb[j] if vb[j] >= vnb[j] else tnb[j])
                k, c = via_parent[j], last[j]
                if k >= 0:  # the best alignment starts the token's run at t
                    src = tb[k] if (c == last[k] or vb[k] >= vnb[k]) else tnb[k]
                    new_tnb.append(src + (t,))
                else:  # it continues the token's run: move the peak to t if t is higher
                    prev = tnb[j]
                    if prev and row_l[c] > lp_l[prev[-1]][c]:
                        prev = prev[:-1] + (t,)
                    new_tnb.append(prev)
            else:  # extension
                k, m = divmod(i - K, M)
                c = int(cand[m])
                key = (nodes[k], c)
                n = children.get(key)
                if n is None:
                    n = children[key] = len(parent)
                    parent.append(nodes[k])
                    token.append(c)
                rep = c == last[k]
                new_nodes.append(n)
                n_pb.append(NEG_INF)
                n_pnb.append(score)
                n_vb.append(NEG_INF)
                n_vnb.append(row_l[c] + (vb[k] if rep else vmax[k]))
                new_tb.append(())
                src = tb[k] if (rep or vb[k] >= vnb[k]) else tnb[k]
                new_tnb.append(src + (t,))
        nodes, tb, tnb = new_nodes, new_tb, new_tnb
        pb, pnb, vb, vnb = n_pb, n_pnb, n_vb, n_vnb
    scores = [_logaddexp(a, b) for a, b in zip(pb, pnb)]
    out = []
    for j in sorted(range(len(nodes)), key=lambda j: -scores[j])[:nbest]:
        toks = []
        n = nodes[j]
        while n > 0:
            toks.append(token[n])
            n = parent[n]
        toks.reverse()
        frames = list(tb[j] if vb[j] >= vnb[j] else tnb[j])
        confs = [math.exp(lp_l[f][c]) for f, c in zip(frames, toks)]
        out.append(Hypothesis(toks, frames, confs, scores[j]))
    return out
