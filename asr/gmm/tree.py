"""Phonetic decision trees, Kaldi's way: tree statistics, phone questions, greedy splitting and
clustering, and the tree as a ``kaldi_hmm_gmm.ContextDependency``.

kaldi-hmm-gmm uses, reads and writes trees but builds only monophone ones, so the steps of
Kaldi's ``steps/train_deltas.sh`` that make a triphone tree are written here (Kaldi's binaries in
brackets):

1. :func:`accumulate_tree_stats` [``acc-tree-stats``]: for every (phone window, pdf class) seen in
   the alignments, the count, sum and sum of squares of the features aligned to it. The context of
   a context-independent phone (silence) is left out (stored as phone 0), so no question can split
   it.
2. :func:`cluster_phones` [``cluster-phones``]: the phone sets (``phones/sets.int``) clustered top
   down, two at a time, on the statistics of their central HMM state; every node of that binary
   tree is a question about a context phone. :func:`compile_questions` [``compile-questions``]
   adds ``phones/extra_questions.int`` and the questions about the HMM state (pdf class ``{0}``,
   ``{0, 1}``, ...).
3. :func:`build_tree` [``build-tree``]: one root per line of ``phones/roots.int`` ("shared": the
   states of its phones share the root and may be split apart by a question about the pdf class;
   "not-shared": one root per pdf class; "not-split": never split), then greedy splitting of the
   leaf with the best likelihood gain until ``max_leaves`` or a gain under ``thresh`` (Kaldi's
   300), then bottom-up merging of the leaves of each root that cost less than ``cluster_thresh``
   (Kaldi's default: the gain of the last split). Kaldi's rounding of the leaf count to a multiple
   of 8 is not done.
4. :func:`context_dependency`: the tree in Kaldi's binary form, handed to kaldi-hmm-gmm through
   its pickle state; :func:`read_tree` reads Kaldi's text ``tree`` file the same way.

The objective of a set of frames is the log-likelihood of one diagonal Gaussian fitted to them,
variances floored at ``var_floor`` (Kaldi's ``GaussClusterable``, var floor 0.01).
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.errors import AsrError

log = logging.getLogger(__name__)

PDF_CLASS = -1  # Kaldi's kPdfClass: the event key of the HMM state's pdf class
VAR_FLOOR = 0.01
LOG_2PI = math.log(2.0 * math.pi)


class TreeError(AsrError):
    """A tree file that cannot be read, or inputs a tree cannot be built from (named)."""


# --------------------------------------------------------------------------------------------
# statistics


@dataclass
class TreeStats:
    """Sufficient statistics per distinct event: ``events`` (n, N + 1) holds the phones of the
    window (0: outside the utterance, or the context of a context-independent phone) and, last,
    the pdf class; ``count`` (n,), ``x`` and ``x2`` (n, D) the frames' count, sum and sum of squares."""

    events: np.ndarray
    count: np.ndarray
    x: np.ndarray
    x2: np.ndarray
    N: int = 3
    P: int = 1

    def column(self, key: int) -> np.ndarray:
        return self.events[:, self.N if key == PDF_CLASS else key]

    @property
    def dim(self) -> int:
        return int(self.x.shape[1])


def gauss_objf(count: np.ndarray, x: np.ndarray, x2: np.ndarray, var_floor: float = VAR_FLOOR) -> np.ndarray:
    """Log-likelihood of frames under the diagonal Gaussian fitted to them (Kaldi's
    ``GaussClusterable::Objf``); 0 for an empty set. Works on stacks: ``count`` (...,), ``x`` (..., D)."""
    count = np.asarray(count, dtype=np.float64)
    c = np.where(count > 0, count, 1.0)[..., None]
    mean = x / c
    var = x2 / c - mean * mean
    fv = np.maximum(var, var_floor)
    per_frame = -0.5 * (var / fv).sum(-1) - 0.5 * (np.log(fv).sum(-1) + x.shape[-1] * LOG_2PI)
    return np.where(count > 0, per_frame * count, 0.0)


def phone_windows(model, ali: np.ndarray, N: int = 3, P: int = 1, ci_phones=()) -> np.ndarray:
    """(T, N + 1) events of an alignment's frames: the phone window around each frame's phone
    (0 outside the utterance) and the frame's pdf class. With ``ci_phones``, the context of those
    phones is 0 (as Kaldi's ``acc-tree-stats --ci-phones`` leaves it out)."""
    from asr.gmm.ali import frame_phones

    ali = np.asarray(ali, dtype=np.int64)
    ph, start = frame_phones(model, ali)
    seg = np.cumsum(start) - 1
    seg_phone = ph[start]
    padded = np.concatenate([np.zeros(P, dtype=np.int64), seg_phone, np.zeros(N - 1 - P, dtype=np.int64)])
    ev = np.empty((len(ali), N + 1), dtype=np.int64)
    for j in range(N):
        ev[:, j] = padded[seg + j]
    if len(ci_phones) and N > 1:
        ci = np.isin(ev[:, P], np.asarray(list(ci_phones)))
        for j in range(N):
            if j != P:
                ev[ci, j] = 0
    ev[:, N] = model.tid_tables[2][ali]
    return ev


def accumulate_tree_stats(model, feats: dict[str, np.ndarray], alis: dict[str, np.ndarray], N: int = 3,
                          P: int = 1, ci_phones=()) -> TreeStats:
    """Kaldi's ``acc-tree-stats``: statistics per (phone window, pdf class) of the aligned frames."""
    evs, xs = [], []
    for utt, ali in alis.items():
        if utt not in feats:
            continue
        x = feats[utt]
        if x.shape[0] != len(ali):
            log.warning("%s: %d frames but an alignment of %d; left out of the tree statistics", utt,
                        x.shape[0], len(ali))
            continue
        evs.append(phone_windows(model, ali, N, P, ci_phones))
        xs.append(np.asarray(x, dtype=np.float64))
    if not evs:
        raise TreeError("no aligned utterance with features: no tree statistics")
    ev = np.concatenate(evs)
    X = np.concatenate(xs)
    uniq, inv = np.unique(ev, axis=0, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0])
    Xo = X[order]
    return TreeStats(uniq, np.bincount(inv, minlength=len(uniq)).astype(np.float64),
                     np.add.reduceat(Xo, starts, axis=0), np.add.reduceat(Xo * Xo, starts, axis=0), N, P)


# --------------------------------------------------------------------------------------------
# questions


def _two_means(c: np.ndarray, x: np.ndarray, x2: np.ndarray, var_floor: float, iters: int = 20):
    """Split items (stats c (n,), x, x2 (n, D)) into two clusters by k-means under the clusters'
    Gaussians; deterministic (seeds: the largest item and the item farthest from it)."""
    n = len(c)
    if n == 2:
        return np.array([True, False])
    o = gauss_objf(c, x, x2, var_floor)
    a = int(np.argmax(c))
    dist = o[a] + o - gauss_objf(c[a] + c, x[a] + x, x2[a] + x2, var_floor)
    dist[a] = -np.inf
    b = int(np.argmax(dist))
    assign = np.zeros(n, dtype=bool)  # True: cluster of a
    assign[a] = True
    for _ in range(iters):
        ll = []
        for members in (assign, ~assign):
            cc = max(c[members].sum(), 1e-10)
            mu = x[members].sum(0) / cc
            var = np.maximum(x2[members].sum(0) / cc - mu * mu, var_floor)
            ll.append(-0.5 * (c[:, None] * np.log(var) + (x2 - 2 * mu * x + c[:, None] * mu * mu) / var).sum(1))
        new = ll[0] >= ll[1]
        new[a], new[b] = True, False
        if np.array_equal(new, assign):
            break
        assign = new
    return assign


def cluster_phones(stats: TreeStats, phone_sets: list[list[int]], pdf_classes=(1,),
                   var_floor: float = VAR_FLOOR) -> list[list[int]]:
    """Kaldi's ``cluster-phones``: the phone sets clustered top down into a binary tree on the
    statistics of the central phone's ``pdf_classes`` (Kaldi: the middle state, 1); returns every
    node of that tree (sets of phones, the whole inventory first) as a question."""
    central = stats.column(stats.P)
    pc_ok = np.isin(stats.column(PDF_CLASS), np.asarray(pdf_classes))
    S = len(phone_sets)
    c = np.zeros(S)
    x = np.zeros((S, stats.dim))
    x2 = np.zeros((S, stats.dim))
    for i, ps in enumerate(phone_sets):
        m = np.isin(central, ps) & pc_ok
        c[i], x[i], x2[i] = stats.count[m].sum(), stats.x[m].sum(0), stats.x2[m].sum(0)
    questions: list[list[int]] = []

    def split(members: np.ndarray) -> None:
        questions.append(sorted(p for i in members for p in phone_sets[i]))
        if len(members) < 2:
            return
        seen = members[c[members] > 0]
        if len(seen) < 2:  # no statistics to tell them apart: split the list in halves
            half = len(members) // 2
            split(members[:half])
            split(members[half:])
            return
        yes = np.zeros(len(members), dtype=bool)
        yes[c[members] > 0] = _two_means(c[seen], x[seen], x2[seen], var_floor)
        split(members[yes])
        split(members[~yes])

    split(np.arange(S))
    return questions


def compile_questions(phone_questions: list[list[int]], extra_questions: list[list[int]], N: int,
                      max_pdf_classes: int) -> dict[int, list[tuple[int, ...]]]:
    """Kaldi's ``compile-questions``: per event key its questions (sets of values): the phone
    questions and the extra ones for every window position, and ``{0}, {0, 1}, ...`` for the pdf
    class."""
    seen: set[tuple[int, ...]] = set()
    phone_qs = []
    for q in list(phone_questions) + list(extra_questions):
        t = tuple(sorted(set(q)))
        if t and t not in seen:
            seen.add(t)
            phone_qs.append(t)
    out: dict[int, list[tuple[int, ...]]] = {k: phone_qs for k in range(N)}
    out[PDF_CLASS] = [tuple(range(i + 1)) for i in range(max_pdf_classes - 1)]
    return out


# --------------------------------------------------------------------------------------------
# the tree


@dataclass
class Leaf:
    """A leaf: the rows of the statistics it holds; ``pdf`` once numbered."""

    rows: np.ndarray
    root: int = 0
    pdf: int = -1


@dataclass
class Split:
    """Kaldi's ``SplitEventMap``: ``yes`` if the event's value of ``key`` is in ``values``."""

    key: int
    values: tuple[int, ...]
    yes: object
    no: object


@dataclass
class Table:
    """Kaldi's ``TableEventMap``: ``children[value of key]`` (None: Kaldi's NULL)."""

    key: int
    children: list = field(default_factory=list)


def _leaves(node) -> list[Leaf]:
    if node is None:
        return []
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Split):
        return _leaves(node.yes) + _leaves(node.no)
    return [lf for ch in node.children for lf in _leaves(ch)]


def read_roots(path: str | os.PathLike) -> list[tuple[bool, bool, list[int]]]:
    """``phones/roots.int``: (shared, split, phones) per line."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        t = line.split()
        if not t:
            continue
        if len(t) < 3 or t[0] not in ("shared", "not-shared") or t[1] not in ("split", "not-split"):
            raise TreeError(f"{path}:{n}: expected '[not-]shared [not-]split <phones>', got {line!r}")
        out.append((t[0] == "shared", t[1] == "split", [int(p) for p in t[2:]]))
    return out


class _Splitter:
    def __init__(self, stats: TreeStats, questions: dict[int, list[tuple[int, ...]]], var_floor: float):
        self.stats, self.var_floor = stats, var_floor
        vmax = int(max(stats.events.max(), max((max(q) for qs in questions.values() for q in qs), default=0))) + 1
        self.keys = [k for k in questions if questions[k]]
        self.qs = questions
        self.qmat = {}
        for k in self.keys:
            m = np.zeros((len(questions[k]), vmax), dtype=np.float64)
            for i, q in enumerate(questions[k]):
                m[i, list(q)] = 1.0
            self.qmat[k] = m

    def best(self, rows: np.ndarray):
        """(gain, key, question) of the best split of these rows, or None."""
        s = self.stats
        if len(rows) < 2:
            return None
        c, x, x2 = s.count[rows], s.x[rows], s.x2[rows]
        tc, tx, tx2 = c.sum(), x.sum(0), x2.sum(0)
        base = float(gauss_objf(tc, tx, tx2, self.var_floor))
        best = None
        for k in self.keys:
            vals = s.column(k)[rows]
            u, inv = np.unique(vals, return_inverse=True)
            if len(u) < 2:
                continue
            ac = np.bincount(inv, weights=c)
            order = np.argsort(inv, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0])
            ax = np.add.reduceat(x[order], starts, axis=0)
            ax2 = np.add.reduceat(x2[order], starts, axis=0)
            M = self.qmat[k][:, u]
            yc, yx, yx2 = M @ ac, M @ ax, M @ ax2
            ok = (yc > 0) & (yc < tc)
            if not ok.any():
                continue
            gain = (gauss_objf(yc, yx, yx2, self.var_floor) + gauss_objf(tc - yc, tx - yx, tx2 - yx2, self.var_floor)
                    - base)
            gain[~ok] = -np.inf
            i = int(np.argmax(gain))
            if best is None or gain[i] > best[0]:
                best = (float(gain[i]), k, self.qs[k][i])
        return best


def build_tree(stats: TreeStats, roots: list[tuple[bool, bool, list[int]]],
               questions: dict[int, list[tuple[int, ...]]], phone2num_pdf_classes: list[int], max_leaves: int,
               thresh: float = 300.0, cluster_thresh: float = -1.0, var_floor: float = VAR_FLOOR):
    """Kaldi's ``build-tree``: returns (tree, number of pdfs, a summary dict). The tree's top is a
    table on the central phone; leaves carry their pdf ids.

    Args:
        roots: ``read_roots`` of ``phones/roots.int``.
        questions: ``compile_questions``'s output.
        phone2num_pdf_classes: pdf classes per phone (index: phone id; the topology's).
        max_leaves: leaves to grow to (0: until no split gains ``thresh``).
        cluster_thresh: merge leaves of a root that cost less (-1: the gain of the last split; 0: none).
    """
    sp = _Splitter(stats, questions, var_floor)
    central = stats.column(stats.P)
    pclass = stats.column(PDF_CLASS)
    root_nodes, leaves = [], []
    for r, (shared, _, phones) in enumerate(roots):
        in_root = np.flatnonzero(np.isin(central, phones))
        if shared:
            node = Leaf(in_root, r)
            leaves.append(node)
        else:
            npc = max(phone2num_pdf_classes[p] for p in phones)
            node = Table(PDF_CLASS, [Leaf(in_root[pclass[in_root] == k], r) for k in range(npc)])
            leaves.extend(node.children)
        root_nodes.append(node)
    n_leaves = len(leaves)
    heap: list = []
    splits: dict[int, tuple] = {}
    counter = 0

    def push(leaf: Leaf) -> None:
        nonlocal counter
        if not roots[leaf.root][1]:
            return
        b = sp.best(leaf.rows)
        if b is not None and b[0] >= thresh:
            counter += 1
            splits[counter] = (leaf, b)
            heapq.heappush(heap, (-b[0], counter))

    for lf in leaves:
        push(lf)
    parent_slot: dict[int, tuple] = {}  # id(leaf) -> (container, attribute or index)
    for r, node in enumerate(root_nodes):
        if isinstance(node, Leaf):
            parent_slot[id(node)] = (root_nodes, r)
        else:
            for k, ch in enumerate(node.children):
                parent_slot[id(ch)] = (node.children, k)
    last_gain = None
    while heap and (max_leaves <= 0 or n_leaves < max_leaves):
        _, i = heapq.heappop(heap)
        leaf, (gain, key, q) = splits.pop(i)
        vals = stats.column(key)[leaf.rows]
        yes_m = np.isin(vals, q)
        yes, no = Leaf(leaf.rows[yes_m], leaf.root), Leaf(leaf.rows[~yes_m], leaf.root)
        node = Split(key, tuple(q), yes, no)
        container, slot = parent_slot.pop(id(leaf))
        if isinstance(container, Split):
            setattr(container, slot, node)
        else:
            container[slot] = node
        parent_slot[id(yes)] = (node, "yes")
        parent_slot[id(no)] = (node, "no")
        n_leaves += 1
        last_gain = gain
        push(yes)
        push(no)
    split_leaves = n_leaves
    if cluster_thresh < 0:
        cluster_thresh = last_gain if last_gain is not None else 0.0
    # bottom-up clustering within each root (within each pdf class of a not-shared root)
    groups: dict[tuple[int, int], list[Leaf]] = {}
    for r, node in enumerate(root_nodes):
        if isinstance(node, Table):
            for k, ch in enumerate(node.children):
                groups[(r, k)] = _leaves(ch)
        else:
            groups[(r, -1)] = _leaves(node)
    cluster_of: dict[int, int] = {}
    n_clusters = 0
    for grp in groups.values():
        labels = _cluster_bottom_up(sp, grp, cluster_thresh) if cluster_thresh > 0 else list(range(len(grp)))
        base = n_clusters
        for lf, lab in zip(grp, labels):
            cluster_of[id(lf)] = base + lab
        n_clusters += max(labels) + 1 if labels else 0
    # pdf ids in tree order
    top = Table(stats.P, [None] * (max(p for _, _, ps in roots for p in ps) + 1))
    for node, (_, _, phones) in zip(root_nodes, roots):
        for p in phones:
            top.children[p] = node
    pdf_of_cluster: dict[int, int] = {}
    for node in root_nodes:
        for lf in _leaves(node):
            cl = cluster_of[id(lf)]
            if cl not in pdf_of_cluster:
                pdf_of_cluster[cl] = len(pdf_of_cluster)
            lf.pdf = pdf_of_cluster[cl]
    info = {"leaves after splitting": split_leaves, "pdfs": len(pdf_of_cluster),
            "last split gain": round(last_gain, 2) if last_gain is not None else None,
            "cluster threshold": round(cluster_thresh, 2)}
    return top, len(pdf_of_cluster), info


def _cluster_bottom_up(sp: _Splitter, leaves: list[Leaf], thresh: float) -> list[int]:
    """Merge the pair of clusters that costs least while it costs less than ``thresh``; cluster
    label per leaf (0-based, dense)."""
    n = len(leaves)
    if n < 2:
        return [0] * n
    s = sp.stats
    c = np.array([s.count[lf.rows].sum() for lf in leaves])
    x = np.stack([s.x[lf.rows].sum(0) for lf in leaves])
    x2 = np.stack([s.x2[lf.rows].sum(0) for lf in leaves])
    o = gauss_objf(c, x, x2, sp.var_floor)
    cost = o[:, None] + o[None, :] - gauss_objf(c[:, None] + c[None, :], x[:, None] + x[None, :],
                                                  x2[:, None] + x2[None, :], sp.var_floor)
    np.fill_diagonal(cost, np.inf)
    label = list(range(n))
    alive = np.ones(n, dtype=bool)
    while True:
        i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
        if not np.isfinite(cost[i, j]) or cost[i, j] >= thresh:
            break
        c[i] += c[j]
        x[i] += x[j]
        x2[i] += x2[j]
        o[i] = gauss_objf(c[i], x[i], x2[i], sp.var_floor)
        alive[j] = False
        cost[j, :] = cost[:, j] = np.inf
        row = o[i] + o - gauss_objf(c[i] + c, x[i] + x, x2[i] + x2, sp.var_floor)
        row[~alive] = np.inf
        row[i] = np.inf
        cost[i, :] = cost[:, i] = row
        label = [i if lab == j else lab for lab in label]
    dense = {v: k for k, v in enumerate(dict.fromkeys(label))}
    return [dense[v] for v in label]


def lookup(node, event: dict[int, int]) -> int | None:
    """The pdf the tree gives an event (key -> value), or None (Kaldi's NULL or a missing key)."""
    while True:
        if node is None:
            return None
        if isinstance(node, Leaf):
            return node.pdf
        v = event.get(node.key)
        if v is None:
            return None
        if isinstance(node, Split):
            node = node.yes if v in node.values else node.no
        else:
            node = node.children[v] if 0 <= v < len(node.children) else None


def leaf_stats(tree, stats: TreeStats, num_pdfs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """count (P,), x, x2 (P, D) per pdf from the statistics its leaves hold."""
    c = np.zeros(num_pdfs)
    x = np.zeros((num_pdfs, stats.dim))
    x2 = np.zeros((num_pdfs, stats.dim))
    seen: set[int] = set()
    for lf in _leaves(tree):
        if id(lf) in seen:  # a root's subtree sits under each of its phones
            continue
        seen.add(id(lf))
        c[lf.pdf] += stats.count[lf.rows].sum()
        x[lf.pdf] += stats.x[lf.rows].sum(0)
        x2[lf.pdf] += stats.x2[lf.rows].sum(0)
    return c, x, x2


# --------------------------------------------------------------------------------------------
# Kaldi's serialisation


def _tok(s: str) -> bytes:
    return s.encode() + b" "


def _i32(v: int) -> bytes:
    return b"\x04" + struct.pack("<i", int(v))


def _u32(v: int) -> bytes:
    return b"\xfc" + struct.pack("<I", int(v))


def _tree_bytes(node) -> bytes:
    if node is None:
        return _tok("NULL")
    if isinstance(node, Leaf):
        return _tok("CE") + _i32(node.pdf)
    if isinstance(node, Split):
        vals = sorted(node.values)
        return (_tok("SE") + _i32(node.key) + b"\x04" + struct.pack(f"<i{len(vals)}i", len(vals), *vals)
                + _tok("{") + _tree_bytes(node.yes) + _tree_bytes(node.no) + _tok("}"))
    return (_tok("TE") + _i32(node.key) + _u32(len(node.children)) + _tok("(")
            + b"".join(_tree_bytes(ch) for ch in node.children) + _tok(")"))


def _from_bytes(data: bytes):
    import kaldi_hmm_gmm as khg

    ctx = khg.ContextDependency.__new__(khg.ContextDependency)
    ctx.__setstate__(([b if b < 128 else b - 256 for b in data],))
    return ctx


def context_dependency(tree, N: int = 3, P: int = 1):
    """The tree as a ``kaldi_hmm_gmm.ContextDependency`` (through Kaldi's binary form)."""
    data = _tok("ContextDependency") + _i32(N) + _i32(P) + _tok("ToPdf") + _tree_bytes(tree) + _tok(
        "EndContextDependency")
    return _from_bytes(data)


def read_tree(path: str | os.PathLike):
    """A ``ContextDependency`` from a Kaldi ``tree`` file, text (as this toolkit writes it) or
    binary (as Kaldi's ``build-tree`` does).

    Raises:
        TreeError: the file is missing or is not a tree (names it).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise TreeError(f"{path}: cannot read the tree: {e}") from e
    if raw.startswith(b"\0B"):
        body = raw[2:]
        if not (body.startswith(_tok("ContextDependency")) and body.rstrip().endswith(b"EndContextDependency")):
            raise TreeError(f"{path}: a binary Kaldi file, but not a tree (ContextDependency)")
        return _from_bytes(body)
    try:
        toks = raw.decode("utf-8").split()
    except UnicodeDecodeError as e:
        raise TreeError(f"{path}: not a Kaldi tree (neither binary nor text): {e}") from e
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(toks):
            raise TreeError(f"{path}: the tree ends early")
        pos += 1
        return toks[pos - 1]

    def expect(t: str) -> None:
        got = take()
        if got != t:
            raise TreeError(f"{path}: expected {t!r} at token {pos}, got {got!r}")

    def node() -> bytes:
        t = take()
        try:
            if t == "NULL":
                return _tok("NULL")
            if t == "CE":
                return _tok("CE") + _i32(int(take()))
            if t == "TE":
                key, size = int(take()), int(take())
                expect("(")
                kids = b"".join(node() for _ in range(size))
                expect(")")
                return _tok("TE") + _i32(key) + _u32(size) + _tok("(") + kids + _tok(")")
            if t == "SE":
                key = int(take())
                expect("[")
                vals = []
                while (v := take()) != "]":
                    vals.append(int(v))
                expect("{")
                yes, no = node(), node()
                expect("}")
                return (_tok("SE") + _i32(key) + b"\x04" + struct.pack(f"<i{len(vals)}i", len(vals), *vals)
                        + _tok("{") + yes + no + _tok("}"))
        except ValueError as e:
            raise TreeError(f"{path}: a number expected near token {pos}: {e}") from e
        raise TreeError(f"{path}: unknown event-map token {t!r} at token {pos}")

    expect("ContextDependency")
    try:
        N, P = int(take()), int(take())
    except ValueError as e:
        raise TreeError(f"{path}: bad context width / central position: {e}") from e
    expect("ToPdf")
    body = node()
    expect("EndContextDependency")
    return _from_bytes(_tok("ContextDependency") + _i32(N) + _i32(P) + _tok("ToPdf") + body
                       + _tok("EndContextDependency"))


def convert_alignments(old, new, alis: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Kaldi's ``convert-ali``: alignments of ``old``'s transition ids in ``new``'s (the same
    topology, another tree): each frame keeps its phone, HMM state and transition, and takes the
    pdf ``new``'s tree gives its phone window.

    Raises:
        TreeError: a frame whose phone window the new tree has no pdf for, or whose transition state
            the new model lacks.
    """
    N, P = int(new.tree.context_width), int(new.tree.central_position)
    old_states = old.transition_states
    new_index = {st: i + 1 for i, st in enumerate(new.transition_states)}
    o_id2state, o_state2id, n_state2id = old.tm.id2state, old.tm.state2id, new.tm.state2id
    cache: dict[tuple, int] = {}  # (window, HMM state, pdf class, transition index) -> new transition id
    out = {}
    for utt, ali in alis.items():
        ev = phone_windows(old, ali, N, P)
        new_ali = np.empty(len(ali), dtype=np.int32)
        for t, tid in enumerate(int(a) for a in ali):
            st = o_id2state[tid]
            phone, hmm_state = old_states[st - 1][:2]
            key = (tuple(int(v) for v in ev[t, :N]), hmm_state, int(ev[t, N]), tid - o_state2id[st])
            if key not in cache:
                window = list(key[0])
                # the HMM state's forward and self-loop pdfs under the new tree (the same pdf class in
                # Kaldi's standard topologies)
                entry = new.topo.topology_for_phone(phone)[hmm_state]
                ok_f, fpdf = new.tree.compute(window, entry.forward_pdf_class)
                ok_s, spdf = new.tree.compute(window, entry.self_loop_pdf_class)
                state = new_index.get((phone, hmm_state, fpdf, spdf)) if ok_f and ok_s else None
                if state is None:
                    raise TreeError(f"{utt}: phone window {window} (HMM state {hmm_state}) has no transition state "
                                    "in the new model")
                cache[key] = n_state2id[state] + key[3]
            new_ali[t] = cache[key]
        out[utt] = new_ali
    return out
