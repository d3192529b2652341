"""CMVN: Kaldi stats layout, apply-cmvn against a numpy reference, all three modes, padding safety."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.features.cmvn import (
    accumulate_cmvn_stats,
    apply_cmvn,
    fake_cmvn_stats,
    read_cmvn_stats,
    speaker_cmvn_stats,
    stats_for_utterances,
    utterance_cmvn_stats,
    write_cmvn_stats,
)


def _np_stats(frames: np.ndarray) -> np.ndarray:
    """Kaldi compute-cmvn-stats: [[sum x, count], [sum x^2, 0]] in double."""
    f = frames.astype(np.float64)
    s = np.zeros((2, f.shape[1] + 1))
    s[0, :-1] = f.sum(0)
    s[0, -1] = f.shape[0]
    s[1, :-1] = (f * f).sum(0)
    return s


def _np_apply(feats: np.ndarray, stats: np.ndarray, norm_vars: bool) -> np.ndarray:
    """Kaldi ApplyCmvn (transform/cmvn.cc), written out with numpy."""
    count = stats[0, -1]
    mean = stats[0, :-1] / count
    if not norm_vars:
        return (feats + (-mean).astype(np.float32)).astype(np.float32)
    var = np.maximum(stats[1, :-1] / count - mean * mean, 1e-20)
    scale = 1.0 / np.sqrt(var)
    offset = -(mean * scale)
    return (feats * scale.astype(np.float32) + offset.astype(np.float32)).astype(np.float32)


def _batch(lens: list[int], dim: int = 5, seed: int = 0) -> tuple[list[np.ndarray], torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    utts = [(rng.normal(size=(n, dim)) * 3 + rng.normal(size=dim) * 10).astype(np.float32) for n in lens]
    x = torch.full((len(lens), max(lens), dim), 123.0)  # padding must never leak
    for i, u in enumerate(utts):
        x[i, : len(u)] = torch.from_numpy(u)
    return utts, x, torch.tensor(lens)


def test_stats_layout_matches_numpy_and_ignore_padding():
    utts, x, lens = _batch([6, 3, 9])
    per = utterance_cmvn_stats(x, lens)
    assert per.shape == (3, 2, 6) and per.dtype == torch.float64
    for i, u in enumerate(utts):
        np.testing.assert_allclose(per[i].numpy(), _np_stats(u), rtol=1e-12)
    total = accumulate_cmvn_stats(x, lens)
    np.testing.assert_allclose(total.numpy(), _np_stats(np.concatenate(utts)), rtol=1e-10)
    np.testing.assert_allclose(accumulate_cmvn_stats(torch.from_numpy(utts[0])).numpy(), _np_stats(utts[0]))


@pytest.mark.parametrize("norm_vars", [False, True])
def test_global_cmvn_matches_kaldi_reference(norm_vars):
    utts, x, lens = _batch([6, 3, 9])
    stats = _np_stats(np.concatenate(utts))
    y = apply_cmvn(x, lens, torch.from_numpy(stats), norm_vars=norm_vars)
    for i, u in enumerate(utts):
        np.testing.assert_allclose(y[i, : len(u)].numpy(), _np_apply(u, stats, norm_vars), rtol=1e-5, atol=1e-5)
        assert torch.all(y[i, len(u):] == 0)


@pytest.mark.parametrize("norm_vars", [False, True])
def test_speaker_cmvn_matches_kaldi_reference(norm_vars):
    utts, x, lens = _batch([6, 3, 9, 4])
    utt_ids = ["a1", "a2", "b1", "b2"]
    spk2utt = {"a": ["a1", "a2"], "b": ["b1", "b2"]}
    utt_stats = {u: _np_stats(f) for u, f in zip(utt_ids, utts)}
    spk = speaker_cmvn_stats(utt_stats, spk2utt)
    np.testing.assert_allclose(spk["a"], _np_stats(np.concatenate(utts[:2])), rtol=1e-10)
    per_utt = stats_for_utterances(utt_ids, {u: u[0] for u in utt_ids}, spk)
    assert per_utt.shape == (4, 2, 6)
    with pytest.raises(KeyError, match="speaker c"):
        stats_for_utterances(["c1"], {"c1": "c"}, spk)
    y = apply_cmvn(x, lens, per_utt, norm_vars=norm_vars)
    for i, u in enumerate(utts):
        ref = _np_apply(u, spk[utt_ids[i][0]], norm_vars)
        np.testing.assert_allclose(y[i, : len(u)].numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_vars", [False, True])
def test_utterance_cmvn_matches_reference_and_is_batch_consistent(norm_vars):
    utts, x, lens = _batch([6, 3, 9])
    y = apply_cmvn(x, lens, utterance_cmvn_stats(x, lens), norm_vars=norm_vars)
    for i, u in enumerate(utts):
        ref = _np_apply(u, _np_stats(u), norm_vars)
        np.testing.assert_allclose(y[i, : len(u)].numpy(), ref, rtol=1e-5, atol=1e-5)
        one = torch.from_numpy(u)[None]
        single = apply_cmvn(one, torch.tensor([len(u)]), utterance_cmvn_stats(one, torch.tensor([len(u)])), norm_vars)
        np.testing.assert_allclose(y[i, : len(u)].numpy(), single[0].numpy(), rtol=1e-6, atol=1e-6)
        if norm_vars:
            np.testing.assert_allclose(y[i, : len(u)].numpy().mean(0), 0, atol=1e-4)
            np.testing.assert_allclose(y[i, : len(u)].numpy().std(0), 1, atol=1e-3)


def test_padding_invariance():
    utts, x, lens = _batch([6, 3])
    longer = torch.cat([x, torch.randn(2, 5, x.shape[2]) * 50], dim=1)
    for nv in (False, True):
        a = apply_cmvn(x, lens, utterance_cmvn_stats(x, lens), nv)
        b = apply_cmvn(longer, lens, utterance_cmvn_stats(longer, lens), nv)
        torch.testing.assert_close(a, b[:, : x.shape[1]])
        assert torch.all(b[:, x.shape[1]:] == 0)


def test_variance_floor_and_insufficient_stats():
    x = torch.ones(1, 4, 2)  # constant features: variance 0 is floored, no NaN
    y = apply_cmvn(x, torch.tensor([4]), accumulate_cmvn_stats(x), norm_vars=True)
    assert torch.isfinite(y).all() and torch.all(y == 0)
    with pytest.raises(ValueError, match="insufficient"):
        apply_cmvn(x, torch.tensor([4]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="do not fit"):
        apply_cmvn(x, torch.tensor([4]), torch.zeros(2, 5))


def test_fake_stats_are_identity():
    x = torch.randn(2, 5, 3)
    lens = torch.tensor([5, 2])
    y = apply_cmvn(x, lens, torch.from_numpy(fake_cmvn_stats(3)), norm_vars=True)
    torch.testing.assert_close(y[0], x[0])
    torch.testing.assert_close(y[1, :2], x[1, :2])


def test_stats_file_is_a_kaldi_double_matrix(tmp_path):
    import kaldiio

    stats = accumulate_cmvn_stats(torch.randn(7, 4))
    write_cmvn_stats(tmp_path / "global_cmvn.stats", stats)
    raw = (tmp_path / "global_cmvn.stats").read_bytes()
    assert raw.startswith(b"\0BDM ")  # binary Kaldi Matrix<double>, what apply-cmvn reads
    np.testing.assert_array_equal(kaldiio.load_mat(str(tmp_path / "global_cmvn.stats")), stats.numpy())
    torch.testing.assert_close(read_cmvn_stats(tmp_path / "global_cmvn.stats"), stats)


def test_gradient_flows_through_apply_cmvn():
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([5, 3])
    stats = accumulate_cmvn_stats(torch.randn(20, 3))
    assert torch.autograd.gradcheck(lambda v: apply_cmvn(v, lens, stats, norm_vars=True), (x,))
    # utterance CMVN: statistics computed from x itself, gradient through both
    assert torch.autograd.gradcheck(lambda v: apply_cmvn(v, lens, utterance_cmvn_stats(v, lens), True), (x,))
