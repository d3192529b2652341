"""Splicing and frame stacking: Kaldi edge clamping, subsampling, padding invariance."""

from __future__ import annotations

import numpy as np
import torch

from asr.features.splice import splice_frames, stack_frames


def _numpy_splice(x: np.ndarray, left: int, right: int, sub: int) -> np.ndarray:
    T = x.shape[0]
    rows = []
    for t in range(0, T, sub):
        rows.append(np.concatenate([x[min(max(t + o, 0), T - 1)] for o in range(-left, right + 1)]))
    return np.stack(rows)


def test_splice_matches_reference_per_utterance_in_a_padded_batch():
    g = torch.Generator().manual_seed(0)
    lens = [7, 4, 1]
    utts = [torch.randn(n, 3, generator=g) for n in lens]
    x = torch.zeros(3, 7, 3)
    for i, u in enumerate(utts):
        x[i, : len(u)] = u
        x[i, len(u):] = 99.0  # padding must never leak into real frames
    for left, right, sub in [(2, 2, 1), (0, 2, 3), (1, 0, 2)]:
        y, y_lens = splice_frames(x, torch.tensor(lens), left, right, sub)
        for i, u in enumerate(utts):
            ref = _numpy_splice(u.numpy(), left, right, sub)
            assert int(y_lens[i]) == ref.shape[0]
            np.testing.assert_allclose(y[i, : ref.shape[0]].numpy(), ref)
            assert torch.all(y[i, ref.shape[0]:] == 0)


def test_stack_three_keep_every_third():
    x = torch.arange(10.0).reshape(1, 10, 1)
    y, y_lens = stack_frames(x, torch.tensor([10]), stack=3, subsample=3)
    assert int(y_lens[0]) == 4
    assert y[0].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 9, 9]]
