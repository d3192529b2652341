"""add_deltas against a numpy transcription of Kaldi's DeltaFeatures, batching and padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.features.deltas import add_deltas, delta_scales


def _np_kaldi_deltas(x: np.ndarray, order: int, window: int) -> np.ndarray:
    """Kaldi feat/feature-functions.cc DeltaFeatures::Process, loop for loop."""
    scales = [np.array([1.0])]
    for _ in range(order):
        prev = scales[-1]
        prev_off = (len(prev) - 1) // 2
        cur_off = prev_off + window
        cur = np.zeros(len(prev) + 2 * window)
        normalizer = 0.0
        for j in range(-window, window + 1):
            normalizer += j * j
            for k in range(-prev_off, prev_off + 1):
                cur[j + k + cur_off] += j * prev[k + prev_off]
        scales.append(cur / normalizer)
    T, F = x.shape
    out = np.zeros((T, F * (order + 1)))
    for t in range(T):
        for i, s in enumerate(scales):
            m = (len(s) - 1) // 2
            for j in range(-m, m + 1):
                tt = min(max(t + j, 0), T - 1)
                out[t, i * F:(i + 1) * F] += s[j + m] * x[tt]
    return out


def test_scales_are_kaldis():
    s = delta_scales(2, 2)
    np.testing.assert_allclose(s[1].numpy(), np.array([-2, -1, 0, 1, 2]) / 10)
    np.testing.assert_allclose(s[2].numpy(), np.array([4, 4, 1, -4, -10, -4, 1, 4, 4]) / 100, atol=1e-15)


@pytest.mark.parametrize("order,window", [(2, 2), (1, 2), (2, 1), (3, 2)])
def test_matches_kaldi_reference_per_utterance_in_a_padded_batch(order, window):
    rng = np.random.default_rng(0)
    lens = [12, 5, 1, 3]
    utts = [rng.normal(size=(n, 4)).astype(np.float32) for n in lens]
    x = torch.full((len(lens), 12, 4), 77.0)  # padding must not be used as context
    for i, u in enumerate(utts):
        x[i, : len(u)] = torch.from_numpy(u)
    y, y_lens = add_deltas(x, torch.tensor(lens), order=order, window=window)
    assert y.shape == (4, 12, 4 * (order + 1))
    assert y_lens.tolist() == lens
    for i, u in enumerate(utts):
        np.testing.assert_allclose(y[i, : len(u)].numpy(), _np_kaldi_deltas(u, order, window), rtol=1e-5, atol=1e-5)
        assert torch.all(y[i, len(u):] == 0)
        single, _ = add_deltas(torch.from_numpy(u)[None], torch.tensor([len(u)]), order, window)
        torch.testing.assert_close(y[i, : len(u)], single[0])


def test_static_part_is_unchanged_and_order_zero_is_identity():
    x = torch.randn(2, 6, 3)
    lens = torch.tensor([6, 6])
    y, _ = add_deltas(x, lens, order=2)
    torch.testing.assert_close(y[..., :3], x)
    assert add_deltas(x, lens, order=0)[0] is x


def test_gradient_flows():
    x = torch.randn(1, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: add_deltas(v, torch.tensor([5]), 2)[0], (x,))
