"""CTC search on hand-made posteriors, checked against brute-force enumeration of alignments."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from asr.decode import Hypothesis, greedy_decode, prefix_beam_search


def _log(probs: list[list[float]]) -> torch.Tensor:
    """(T, V) probabilities -> (1, T, V) log-probabilities."""
    return torch.tensor(probs, dtype=torch.float64).log()[None]


def _random_log_probs(B: int, T: int, V: int, seed: int, sharp: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, T, V, generator=g, dtype=torch.float64) * sharp).log_softmax(-1)


def _peaky(B: int, T: int, V: int, seed: int) -> torch.Tensor:
    """Posteriors like a trained CTC model's: one dominant unit per frame, mostly blank."""
    g = torch.Generator().manual_seed(seed)
    path = torch.randint(1, V, (B, T), generator=g) * (torch.rand(B, T, generator=g) > 0.6)
    logits = torch.randn(B, T, V, generator=g, dtype=torch.float64)
    logits.scatter_add_(2, path[..., None], torch.full((B, T, 1), 5.0, dtype=torch.float64))
    return logits.log_softmax(-1)


def _brute_force(lp: np.ndarray, blank: int = 0) -> tuple[dict, dict]:
    """All V**T alignments of lp (T, V): labelling -> log-prob, and -> (Viterbi log-prob, peak frames)."""
    T, V = lp.shape
    total: dict[tuple[int, ...], float] = {}
    viterbi: dict[tuple[int, ...], tuple[float, list[int]]] = {}
    for path in itertools.product(range(V), repeat=T):
        score = float(sum(lp[t, c] for t, c in enumerate(path)))
        toks: list[int] = []
        frames: list[int] = []
        prev = -1
        for t, c in enumerate(path):
            if c != blank and c != prev:
                toks.append(c)
                frames.append(t)
            elif c != blank and lp[t, c] > lp[frames[-1], c]:
                frames[-1] = t  # peak of the token's run
            prev = c
        key = tuple(toks)
        total[key] = float(np.logaddexp(total.get(key, -math.inf), score))
        if score > viterbi.get(key, (-math.inf, []))[0]:
            viterbi[key] = (score, frames)
    return total, viterbi


# ---------------------------------------------------------------- greedy

def test_greedy_collapses_repeats_and_blanks() -> None:
    # best path: a a - a b b - - c   (blank = 0, a = 1, b = 2, c = 3)
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3]
    peaks = [0.6, 0.9, 0.7, 0.8, 0.5, 0.95, 0.7, 0.7, 0.6]
    probs = []
    for c, p in zip(path, peaks):
        row = [(1 - p) / 3] * 4
        row[c] = p
        probs.append(row)
    (hyp,) = greedy_decode(_log(probs), torch.tensor([9]))
    assert hyp.tokens == [1, 1, 2, 3]
    assert hyp.frames == [1, 3, 5, 8]  # peak frame within each run
    assert hyp.confidences == pytest.approx([0.9, 0.8, 0.95, 0.6])
    assert hyp.score == pytest.approx(sum(math.log(p) for p in peaks))


def test_greedy_blank_id_and_empty() -> None:
    lp = _log([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert greedy_decode(lp, blank=1)[0].tokens == [0]
    assert greedy_decode(lp, blank=0)[0].tokens == [1, 1]
    empty = greedy_decode(lp, torch.tensor([0]))[0]
    assert empty == Hypothesis([], [], [], 0.0)


def test_bad_inputs() -> None:
    lp = _random_log_probs(2, 5, 3, 0)
    with pytest.raises(ValueError, match="lens"):
        greedy_decode(lp, torch.tensor([5, 6]))
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        prefix_beam_search(lp[0])
    with pytest.raises(ValueError, match="blank"):
        prefix_beam_search(lp, blank=3)
    with pytest.raises(ValueError, match="beam"):
        prefix_beam_search(lp, beam=0)


# ---------------------------------------------------------------- beam search

def test_beam_beats_best_path_classic_example() -> None:
    # Two frames, P(blank) = 0.6, P(a) = 0.4: best path "- -" gives "" (0.36), but
    # "a" has three paths (a a, a -, - a) totalling 0.64.
    lp = _log([[0.6, 0.4], [0.6, 0.4]])
    (greedy,) = greedy_decode(lp)
    assert greedy.tokens == [] and greedy.score == pytest.approx(math.log(0.36))
    nbest = prefix_beam_search(lp, beam=4, nbest=2)[0]
    assert [h.tokens for h in nbest] == [[1], []]
    assert [h.score for h in nbest] == pytest.approx([math.log(0.64), math.log(0.36)])
    assert nbest[0].frames == [0] and nbest[0].confidences == pytest.approx([0.4])


def test_beam_beats_best_path_longer_example() -> None:
    # Best path "a - a" -> "aa" (0.1125, its only alignment); "a" collects 0.409 over its alignments.
    lp = _log([[0.35, 0.50, 0.15], [0.50, 0.45, 0.05], [0.25, 0.45, 0.30]])
    total, _ = _brute_force(lp[0].numpy())
    (greedy,) = greedy_decode(lp)
    assert greedy.tokens == [1, 1] and total[(1, 1)] == pytest.approx(math.log(0.1125))
    (best,) = prefix_beam_search(lp, beam=16)[0]
    assert best.tokens == [1] and tuple(best.tokens) == max(total, key=total.get)
    assert best.score == pytest.approx(math.log(0.409))
    assert best.frames == [0]  # Viterbi alignment "a a -": the run's peak is frame 0 (0.50 > 0.45)


@pytest.mark.parametrize("seed", range(12))
def test_beam_matches_brute_force(seed: int) -> None:
    g = np.random.default_rng(seed)
    T, V = int(g.integers(1, 7)), int(g.integers(2, 4))
    lp = _random_log_probs(1, T, V, seed)
    total, viterbi = _brute_force(lp[0].numpy())
    # A beam as wide as the number of labellings makes prefix search exact.
    hyps = prefix_beam_search(lp, beam=len(total), nbest=len(total))[0]
    assert sorted(tuple(h.tokens) for h in hyps) == sorted(total)
    for h in hyps:
        key = tuple(h.tokens)
        assert h.score == pytest.approx(total[key], abs=1e-9)
        assert h.frames == viterbi[key][1]  # peak frames of the labelling's Viterbi alignment
        assert h.confidences == pytest.approx([math.exp(lp[0, f, c]) for f, c in zip(h.frames, h.tokens)])
    # A narrow beam's score is a lower bound of its labelling's probability (merged paths may be lost).
    best = prefix_beam_search(lp, beam=2)[0][0]
    assert best.score <= total[tuple(best.tokens)] + 1e-9


def test_nbest_sorted_distinct_and_frames_increasing() -> None:
    lp = _random_log_probs(3, 40, 6, 1, sharp=3.0)
    for nbest in prefix_beam_search(lp, beam=10, nbest=10):
        assert len(nbest) == 10
        scores = [h.score for h in nbest]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in nbest}) == len(nbest)
        for h in nbest:
            assert len(h.frames) == len(h.tokens) == len(h.confidences)
            assert all(a < b for a, b in zip(h.frames, h.frames[1:]))
            assert all(0 < c <= 1 for c in h.confidences)
            assert 0 not in h.tokens
    assert len(prefix_beam_search(lp, beam=3, nbest=10)[0]) == 3  # never more than the beam


def test_beam_one_and_peaky_posteriors_agree_with_greedy() -> None:
    # Peaky posteriors (as a trained CTC model gives): the best path's labelling dominates.
    lp = _peaky(4, 60, 8, 2)
    greedy = greedy_decode(lp)
    for beam in (1, 2, 8):
        for g, nb in zip(greedy, prefix_beam_search(lp, beam=beam)):
            assert nb[0].tokens == g.tokens
            assert nb[0].frames == g.frames
            assert nb[0].score >= g.score  # labelling mass >= its best path
    # Wider beams never do worse on the returned labelling's probability here.
    s1 = [nb[0].score for nb in prefix_beam_search(_random_log_probs(4, 30, 5, 3), beam=1)]
    s8 = [nb[0].score for nb in prefix_beam_search(_random_log_probs(4, 30, 5, 3), beam=8)]
    assert all(b >= a - 1e-9 for a, b in zip(s1, s8))


def test_padding_invariance_and_batch_consistency() -> None:
    lens = torch.tensor([17, 30, 1, 0, 24])
    lp = _random_log_probs(5, 30, 7, 4)
    garbage = lp.clone()
    for b, n in enumerate(lens.tolist()):
        garbage[b, n:] = _random_log_probs(1, 30 - n, 7, 100 + b)[0]  # different padding values
    for decode in (greedy_decode, lambda x, n: prefix_beam_search(x, n, beam=5, nbest=3)):
        batched = decode(lp, lens)
        assert decode(garbage, lens) == batched
        for b, n in enumerate(lens.tolist()):
            assert decode(lp[b:b + 1, :n], torch.tensor([n])) == [batched[b]]
    assert prefix_beam_search(lp, lens)[3] == [Hypothesis([], [], [], 0.0)]


def test_prune_topk_and_float32() -> None:
    lp = _random_log_probs(2, 50, 12, 5, sharp=4.0)
    exact = prefix_beam_search(lp, beam=8)
    pruned = prefix_beam_search(lp, beam=8, prune_topk=3)
    assert [h[0].tokens for h in pruned] == [h[0].tokens for h in exact]
    f32 = prefix_beam_search(lp.float(), beam=8)
    assert [h[0].tokens for h in f32] == [h[0].tokens for h in exact]
    assert [h[0].score for h in f32] == pytest.approx([h[0].score for h in exact], abs=1e-4)


def test_blank_not_zero() -> None:
    lp = _random_log_probs(1, 5, 3, 6)
    total, _ = _brute_force(lp[0].numpy(), blank=2)
    (best,) = prefix_beam_search(lp, beam=len(total), blank=2)[0]
    assert tuple(best.tokens) == max(total, key=total.get)
    assert best.score == pytest.approx(max(total.values()))


def test_beam_search_of_long_batches() -> None:
    """300 frames x 30 units, beam 8, a batch of 4: one best hypothesis per utterance, each equal to its
    search alone (its speed is measured in tests/bench/prefix_beam.py, not asserted here)."""
    lp = _random_log_probs(4, 300, 30, 7, sharp=3.0).float()
    batched = prefix_beam_search(lp, beam=8)
    assert len(batched) == 4
    for i in range(4):
        alone = prefix_beam_search(lp[i:i + 1], beam=8)[0]
        assert [h.tokens for h in batched[i]] == [h.tokens for h in alone]
