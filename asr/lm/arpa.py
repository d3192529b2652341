"""Word n-gram language models: interpolated modified Kneser-Ney estimation, ARPA files.

Estimation follows Chen & Goodman (1998), "An Empirical Study of Smoothing
Techniques for Language Modeling", section 3.4 (interpolated Kneser-Ney with
three discounts D1, D2, D3+ per order), with the count adjustments that KenLM's
``lmplz`` and SRILM's ``-kndiscount -interpolate`` also use:

* the highest order uses raw counts; lower orders use *continuation* counts,
  the number of distinct words seen to the left of the n-gram, except n-grams
  that start with ``<s>`` (nothing can precede it), which keep raw counts;
* per order n, discounts come from the count-of-counts t1..t4 of that order's
  adjusted counts: Y = t1 / (t1 + 2 t2), D1 = 1 - 2Y t2/t1, D2 = 2 - 3Y t3/t2,
  D3+ = 3 - 4Y t4/t3;
* p(w | h) = (a(h w) - D(a(h w))) / a(h .) + gamma(h) p(w | h'), where h' drops the
  oldest word and gamma(h) is the discounted mass; unigrams interpolate with the
  uniform distribution over the vocabulary (which includes ``</s>`` and ``<unk>``,
  not ``<s>``).

In an interpolated model, the ARPA back-off weight of a context is exactly its
gamma(h): an n-gram absent from the file gets gamma(h) p(w | h'), which is what
the interpolation formula gives for a zero count.

Pruning drops n-grams of order >= 2 whose adjusted count is at most a threshold
(as ``lmplz --prune``); the probability mass they held moves to the back-off
weight of their context, so every conditional distribution still sums to one.
Prefixes of kept n-grams are always kept (an ARPA file needs them as contexts).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asr.errors import AsrError
from asr.fileio import atomic_write

log = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_LOG10_ZERO = -99.0  # ARPA convention for log10(0), used for <s> as a predicted word

Ngram = tuple[str, ...]


class ArpaError(AsrError):
    """A malformed ARPA file or an impossible estimation request."""


@dataclass
class NgramModel:
    """A back-off n-gram model as stored in an ARPA file.

    Attributes:
        order: highest n-gram order.
        prob: n-gram -> log10 probability of its last word given the others.
        backoff: context n-gram -> log10 back-off weight (absent = 0.0).
        discounts: order -> (D1, D2, D3+) used at estimation (empty when read from a file).
    """

    order: int
    prob: dict[Ngram, float] = field(default_factory=dict)
    backoff: dict[Ngram, float] = field(default_factory=dict)
    discounts: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def vocab(self) -> list[str]:
        """The unigram words, in the file's order."""
        return [g[0] for g in self.prob if len(g) == 1]

    def counts(self) -> list[int]:
        """Number of n-grams of each order 1..order."""
        c = [0] * self.order
        for g in self.prob:
            c[len(g) - 1] += 1
        return c

    def log10_prob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context) by the back-off rule; unknown words map to ``<unk>``.

        Args:
            word: the predicted word.
            context: preceding words, oldest first (only the last ``order - 1`` are used).
        """
        unigrams = self._unigram_set()
        word = word if word in unigrams else UNK
        ctx = tuple(w if w in unigrams else UNK for w in context)[max(0, len(context) - self.order + 1):]
        penalty = 0.0
        while True:
            g = ctx + (word,)
            if g in self.prob:
                return penalty + self.prob[g]
            if not ctx:
                raise ArpaError(f"word {word!r} and {UNK} are not in the model")
            penalty += self.backoff.get(ctx, 0.0)
            ctx = ctx[1:]

    def sentence_log10_prob(self, words: Sequence[str]) -> float:
        """log10 probability of a sentence, ``</s>`` included and ``<s>`` as the first context."""
        hist: list[str] = [BOS]
        total = 0.0
        for w in [*words, EOS]:
            total += self.log10_prob(w, hist)
            hist.append(w)
        return total

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """Perplexity over sentences, counting ``</s>`` as a token (as SRILM's ppl)."""
        total, n = 0.0, 0
        for s in sentences:
            total += self.sentence_log10_prob(s)
            n += len(s) + 1
        if n == 0:
            raise ArpaError("perplexity of an empty text")
        return 10 ** (-total / n)

    def _unigram_set(self) -> set[str]:
        # Built on first use; a model is not modified once estimated or read.
        cache = self.__dict__.get("_unigrams")
        if cache is None:
            cache = self.__dict__["_unigrams"] = {g[0] for g in self.prob if len(g) == 1}
        return cache

    def write_arpa(self, path: str | Path) -> None:
        """Write the model as an ARPA file (atomically), n-grams sorted within each order."""
        counts = self.counts()
        with atomic_write(path) as f:
            f.write("\n\\data\\\n")
            for n, c in enumerate(counts, 1):
                f.write(f"ngram {n}={c}\n")
            for n in range(1, self.order + 1):
                f.write(f"\n\\{n}-grams:\n")
                for g in sorted(g for g in self.prob if len(g) == n):
                    line = f"{self.prob[g]:.7g}\t{' '.join(g)}"
                    if n < self.order and g in self.backoff:
                        line += f"\t{self.backoff[g]:.7g}"
                    f.write(line + "\n")
            f.write("\n\\end\\\n")


def read_arpa(path: str | Path, max_order: int | None = None) -> NgramModel:
    """Read an ARPA file (the toolkit's one ARPA parser), streaming.

    Args:
        path: the ARPA file.
        max_order: stop after the n-grams of this order (default None: read them all); e.g. 1
            reads only the vocabulary of a large LM. The model's ``order`` is still the file's.

    Raises:
        ArpaError: naming the file and line when the file is malformed or its
            n-gram counts disagree with its header.
    """
    path = Path(path)
    declared: dict[int, int] = {}
    model = NgramModel(order=0)
    section = None  # "data" or an order
    try:
        with open(path, encoding="utf-8") as f:
            for i, raw in enumerate(f, 1):
                line = raw.strip()
                if not line:
                    continue
                if line == "\\data\\":
                    section = "data"
                    continue
                if line == "\\end\\":
                    break
                if line.startswith("\\") and line.endswith("-grams:"):
                    if not declared:
                        raise ArpaError(f"{path}:{i}: {line} before the \\data\\ header (not an ARPA file?)")
                    try:
                        order = int(line[1:-7])
                    except ValueError:
                        raise ArpaError(f"{path}:{i}: bad section header {line!r}") from None
                    if max_order is not None and order > max_order:
                        break
                    section = order
                    continue
                if section == "data":
                    if not line.startswith("ngram ") or "=" not in line:
                        raise ArpaError(f"{path}:{i}: expected 'ngram N=count', got {line!r}")
                    n, c = line[6:].split("=", 1)
                    try:
                        declared[int(n)] = int(c)
                    except ValueError:
                        raise ArpaError(f"{path}:{i}: bad count in {line!r}") from None
                elif isinstance(section, int):
                    parts = line.split()
                    if len(parts) not in (section + 1, section + 2):
                        raise ArpaError(f"{path}:{i}: expected a {section}-gram line, got {line!r}")
                    try:
                        g = tuple(parts[1:section + 1])
                        model.prob[g] = float(parts[0])
                        if len(parts) == section + 2:
                            model.backoff[g] = float(parts[-1])
                    except ValueError:
                        raise ArpaError(f"{path}:{i}: bad number in {line!r}") from None
                else:
                    raise ArpaError(f"{path}:{i}: text before the \\data\\ section (not an ARPA file?)")
    except OSError as e:
        raise ArpaError(f"{path}: cannot read the ARPA file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ArpaError(f"{path}: not a UTF-8 ARPA file ({e.reason} at byte {e.start})") from None
    if not declared:
        raise ArpaError(f"{path}: no \\data\\ section (not an ARPA file)")
    model.order = max(declared)
    found = model.counts()
    for n, c in declared.items():
        if (max_order is None or n <= max_order) and found[n - 1] != c:
            raise ArpaError(f"{path}: header says {c} {n}-grams, the file has {found[n - 1]}")
    return model


def read_arpa_vocabulary(path: str | Path) -> list[str]:
    """The unigram words of an ARPA file, in file order, reading only up to the unigram section's end.

    Returns:
        The words, including ``<s>``, ``</s>`` and ``<unk>`` when present.

    Raises:
        ArpaError: as :func:`read_arpa`, or a file without unigrams.
    """
    words = [g[0] for g in read_arpa(path, max_order=1).prob if len(g) == 1]
    if not words:
        raise ArpaError(f"{path}: no \\1-grams: section (not an ARPA file?)")
    return words


def _kn_discounts(adjusted: dict[Ngram, int], n: int) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the count-of-counts of one order's adjusted counts."""
    t = [0, 0, 0, 0, 0]
    for c in adjusted.values():
        if c <= 4:
            t[c] += 1
    t1, t2, t3, t4 = t[1], t[2], t[3], t[4]
    if min(t1, t2, t3, t4) == 0:
        # Too little data for the estimate (tiny corpora); fall back to common constants.
        log.warning("order %d: count-of-counts %s too sparse for Kneser-Ney discounts; "
                    "using D = (0.5, 1.0, 1.5)", n, (t1, t2, t3, t4))
        return 0.5, 1.0, 1.5
    y = t1 / (t1 + 2 * t2)
    d = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    # A negative or too large discount would give negative probabilities; clamp into [0, c).
    return tuple(min(max(x, 0.0), c - 1e-3) for x, c in zip(d, (1, 2, 3)))  # type: ignore[return-value]


def estimate_kneser_ney(sentences: Iterable[Sequence[str]], order: int = 3,
                        prune: Sequence[int] = (), vocab: Iterable[str] | None = None) -> NgramModel:
    """Estimate an interpolated modified Kneser-Ney n-gram model.

    Args:
        sentences: tokenised sentences (without ``<s>``/``</s>``).
        order: highest order, 1 to 6 (default 3).
        prune: per-order thresholds (orders 1..N; the first, for unigrams, must be 0):
            n-grams whose adjusted count is <= the threshold are dropped. Shorter
            lists repeat their last value; empty = no pruning.
        vocab: extra words to give a unigram (with only the uniform share), e.g.
            the words of a lexicon that never occur in the text.

    Returns:
        The model, with the discounts used.
    """
    if not 1 <= order <= 6:
        raise ArpaError(f"order must be 1..6, got {order}")
    prune = list(prune)
    if prune and prune[0] != 0:
        raise ArpaError("unigrams cannot be pruned (the first --prune threshold must be 0)")
    thresholds = [(prune[min(i, len(prune) - 1)] if prune else 0) for i in range(order)]

    # Raw counts of the highest order (and lower orders near the sentence start, padded with <s>).
    raw: list[dict[Ngram, int]] = [defaultdict(int) for _ in range(order + 1)]
    words: set[str] = set()
    nsent = 0
    for s in sentences:
        toks = [BOS, *s, EOS]
        nsent += 1
        words.update(s)
        for n in range(1, order + 1):
            for i in range(1 if n == 1 else 0, len(toks) - n + 1):  # <s> is never a unigram event
                raw[n][tuple(toks[i:i + n])] += 1
    if nsent == 0:
        raise ArpaError("no sentences to estimate a language model from")
    for bad in (BOS, EOS):
        if bad in words:
            raise ArpaError(f"the text contains the reserved word {bad}")

    # Adjusted counts: raw for the top order and for n-grams starting with <s>; else continuation.
    adjusted: list[dict[Ngram, int]] = [dict() for _ in range(order + 1)]
    adjusted[order] = dict(raw[order])
    for n in range(order - 1, 0, -1):
        cont: dict[Ngram, int] = defaultdict(int)
        for g in raw[n + 1]:
            cont[g[1:]] += 1
        adj = {}
        for g, c in raw[n].items():
            adj[g] = c if g[0] == BOS else cont.get(g, 0)
        # n-grams seen only as left-extended contexts of <s>-less positions are covered by cont.
        for g, c in cont.items():
            if g not in adj:
                adj[g] = c
        adjusted[n] = {g: c for g, c in adj.items() if c > 0}
    adjusted[1].pop((BOS,), None)  # <s> is never predicted

    # Pruning (orders >= 2), keeping prefixes of kept n-grams.
    kept: list[set[Ngram]] = [set() for _ in range(order + 1)]
    kept[1] = set(adjusted[1])
    for n in range(order, 1, -1):
        kept[n] |= {g for g, c in adjusted[n].items() if c > thresholds[n - 1]}
        for g in kept[n]:
            if n - 1 >= 2:
                kept[n - 1].add(g[:-1])

    discounts = {n: _kn_discounts(adjusted[n], n) for n in range(1, order + 1)}

    vocab_words = set(words) | {EOS, UNK} | set(vocab or ())
    vocab_words.discard(BOS)
    uniform = 1.0 / len(vocab_words)
    model = NgramModel(order=order, discounts=discounts)
    probs: dict[Ngram, float] = {}  # linear-domain interpolated probabilities of kept n-grams

    # Unigrams: discounted continuation counts interpolated with the uniform distribution.
    d1, d2, d3 = discounts[1]
    total = sum(adjusted[1].values())
    disc_mass = 0.0
    for c in adjusted[1].values():
        disc_mass += d1 if c == 1 else d2 if c == 2 else d3
    gamma0 = disc_mass / total
    for w in vocab_words:
        c = adjusted[1].get((w,), 0)
        d = 0.0 if c == 0 else d1 if c == 1 else d2 if c == 2 else d3
        probs[(w,)] = max(c - d, 0.0) / total + gamma0 * uniform

    def lower(g: Ngram) -> float:
        """Interpolated p of g's last word given g's context minus its oldest word (back-off rule)."""
        ctx = g[1:-1]
        w = g[-1]
        penalty = 1.0
        while True:
            h = ctx + (w,)
            if h in probs:
                return penalty * probs[h]
            penalty *= gammas.get(ctx, 1.0)
            ctx = ctx[1:]

    gammas: dict[Ngram, float] = {}
    for n in range(2, order + 1):
        d1, d2, d3 = discounts[n]
        by_ctx: dict[Ngram, list[tuple[str, int]]] = defaultdict(list)
        for g, c in adjusted[n].items():
            by_ctx[g[:-1]].append((g[-1], c))
        for ctx, items in by_ctx.items():
            denom = sum(c for _, c in items)
            kept_items = [(w, c) for w, c in items if ctx + (w,) in kept[n]]
            # The context's back-off weight: discounted mass plus the mass of pruned continuations.
            kept_mass = sum(c - (d1 if c == 1 else d2 if c == 2 else d3) for _, c in kept_items)
            gamma = 1.0 - kept_mass / denom
            gammas[ctx] = gamma
            for w, c in kept_items:
                d = d1 if c == 1 else d2 if c == 2 else d3
                probs[ctx + (w,)] = (c - d) / denom + gamma * lower(ctx + (w,))

    for g, p in probs.items():
        model.prob[g] = math.log10(p) if p > 0 else _LOG10_ZERO
    model.prob[(BOS,)] = _LOG10_ZERO
    for ctx, gamma in gammas.items():
        if ctx in model.prob and len(ctx) < order:
            model.backoff[ctx] = math.log10(gamma) if gamma > 0 else _LOG10_ZERO
    # Reorder so unigrams read naturally (ARPA readers do not care about order within a section).
    model.prob = dict(sorted(model.prob.items(), key=lambda kv: (len(kv[0]), kv[0])))
    return model


def write_word_list(words: Iterable[str], path: str | Path) -> None:
    """Write a Kaldi ``words.txt`` symbol table: ``<eps> 0``, the words sorted, then ``#0``, ``<s>``, ``</s>``."""
    ws = sorted(set(words) - {BOS, EOS, "<eps>", "#0"})
    with atomic_write(path) as f:
        f.write("<eps> 0\n")
        for i, w in enumerate(ws, 1):
            f.write(f"{w} {i}\n")
        n = len(ws)
        f.write(f"#0 {n + 1}\n{BOS} {n + 2}\n{EOS} {n + 3}\n")
