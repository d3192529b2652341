"""CTC and frame cross-entropy losses: sums and counts, padding, infeasible utterances."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from asr.losses import ctc_loss, frame_ce_loss


def test_ctc_sum_equals_per_utterance_losses_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 12, 5, generator=g)
    lens = torch.tensor([12, 7])
    targets = torch.tensor([[1, 2, 3], [4, 4, 0]])
    tlens = torch.tensor([3, 2])
    loss, count = ctc_loss(logits, lens, targets, tlens)
    assert count == 5
    per = []
    for i in range(2):
        lp = F.log_softmax(logits[i: i + 1, : lens[i]], -1).transpose(0, 1)
        per.append(F.ctc_loss(lp, targets[i: i + 1, : tlens[i]], lens[i: i + 1], tlens[i: i + 1],
                              reduction="sum"))
    torch.testing.assert_close(loss, sum(per))
    logits2 = logits.clone()
    logits2[1, 7:] = 1e3  # padding frames must not matter
    torch.testing.assert_close(ctc_loss(logits2, lens, targets, tlens)[0], loss)


def test_ctc_infeasible_utterance_is_zeroed_and_not_counted():
    logits = torch.zeros(2, 3, 4)
    targets = torch.tensor([[1, 1, 1, 1], [1, 2, 0, 0]])  # 4 repeated tokens need 7 frames
    loss, count = ctc_loss(logits, torch.tensor([3, 3]), targets, torch.tensor([4, 2]))
    assert torch.isfinite(loss)
    assert count == 2


def test_frame_ce_counts_only_valid_frames():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 3, generator=g)
    labels = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])
    loss, count = frame_ce_loss(logits, torch.tensor([4, 2]), labels)
    assert count == 6
    ref = F.cross_entropy(logits[0], labels[0], reduction="sum") + \
        F.cross_entropy(logits[1, :2], labels[1, :2], reduction="sum")
    torch.testing.assert_close(loss, ref)
