"""Training criteria: CTC over token sequences and frame-level cross-entropy on alignments.

Both return a *summed* loss and the count it is summed over (tokens for CTC,
frames for cross-entropy), so the trainer reports losses per token/frame and
can average correctly across batches and workers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ctc_loss(logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor, blank: int = 0) -> tuple[torch.Tensor, int]:
    """Summed CTC loss of a padded batch.

    Utterances whose targets cannot be aligned (more tokens than frames, after
    repeats need a blank between them) give an infinite CTC loss; they are
    zeroed (``zero_infinity``) and excluded from the token count, so one bad
    utterance does not poison the batch.

    Args:
        logits: (B, T, C) unnormalised scores.
        lens: (B,) valid frames per utterance.
        targets: (B, S) padded token ids (no blanks).
        target_lens: (B,) tokens per utterance.
        blank: blank id (default 0).

    Returns:
        ``(loss_sum, num_tokens)``: scalar summed negative log-likelihood and the
        number of target tokens of the utterances that contributed.
    """
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T, B, C)
    per_utt = F.ctc_loss(log_probs, targets, lens, target_lens, blank=blank, reduction="none",
                         zero_infinity=True)
    feasible = per_utt != 0
    num_tokens = int(target_lens[feasible.cpu()].sum()) if feasible.any() else 0
    return per_utt.sum(), num_tokens


def frame_ce_loss(logits: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor,
                  ignore_index: int = -100) -> tuple[torch.Tensor, int]:
    """Summed frame-level cross-entropy (training on forced alignments).

    Args:
        logits: (B, T, C) unnormalised scores.
        lens: (B,) valid frames.
        labels: (B, T) class per frame; frames beyond ``lens`` are ignored.
        ignore_index: label value that is never scored (default -100).

    Returns:
        ``(loss_sum, num_frames)``.
    """
    B, T, C = logits.shape
    mask = torch.arange(T, device=logits.device)[None, :] < lens.to(logits.device)[:, None]
    labels = labels[:, :T].masked_fill(~mask, ignore_index)
    loss = F.cross_entropy(logits.float().reshape(B * T, C), labels.reshape(B * T),
                           ignore_index=ignore_index, reduction="sum")
    return loss, int((labels != ignore_index).sum())
