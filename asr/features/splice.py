"""Frame splicing, stacking and subsampling on padded batches.

``splice_frames`` is Kaldi's ``splice-feats`` (context frames clamped at the
utterance edges) with an optional frame-rate reduction; ``stack_frames`` is the
"stack N frames, keep every M-th" input of low-frame-rate CTC models (e.g.
stack 3, keep every 3rd, as in Sak et al. 2015 and EESEN). Both respect each
utterance's own length, so padding never leaks into real frames.
"""

from __future__ import annotations

import torch


def subsampled_lengths(x_lens: torch.Tensor, subsample: int) -> torch.Tensor:
    """Number of frames kept when keeping frames 0, s, 2s, ...: ``ceil(len / s)``.

    Args:
        x_lens: (B,) integer lengths.
        subsample: keep every ``subsample``-th frame (>= 1).
    """
    return torch.div(x_lens + subsample - 1, subsample, rounding_mode="floor")


def splice_frames(x: torch.Tensor, x_lens: torch.Tensor, left: int = 0, right: int = 0,
                  subsample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each frame with ``left`` past and ``right`` future frames, then subsample.

    Context indices outside an utterance are clamped to its first/last real
    frame (Kaldi's ``splice-feats`` behaviour), using each utterance's length.

    Args:
        x: (B, T, F) padded features.
        x_lens: (B,) valid lengths.
        left: past context frames (default 0).
        right: future context frames (default 0).
        subsample: keep output frames 0, s, 2s, ... (default 1).

    Returns:
        ``(y, y_lens)``: y is (B, ceil(T / s), F * (left + 1 + right)), frames
        ordered oldest first; y_lens = ceil(x_lens / s). Padded output frames are zero.
    """
    if left < 0 or right < 0 or subsample < 1:
        raise ValueError(f"bad splice config left={left} right={right} subsample={subsample}")
    B, T, F = x.shape
    x_lens = x_lens.to(x.device)
    t_out = torch.arange(0, T, subsample, device=x.device)  # (T',)
    offsets = torch.arange(-left, right + 1, device=x.device)  # (C,)
    idx = t_out[:, None] + offsets[None, :]  # (T', C)
    last = (x_lens - 1).clamp(min=0)[:, None, None]  # (B, 1, 1)
    idx = torch.minimum(idx[None].clamp(min=0), last)  # (B, T', C)
    C = offsets.numel()
    y = torch.gather(x, 1, idx.reshape(B, -1, 1).expand(B, idx.shape[1] * C, F))
    y = y.reshape(B, t_out.numel(), C * F)
    y_lens = subsampled_lengths(x_lens, subsample)
    mask = torch.arange(t_out.numel(), device=x.device)[None, :] < y_lens[:, None]
    return y * mask[..., None].to(y.dtype), y_lens


def stack_frames(x: torch.Tensor, x_lens: torch.Tensor, stack: int = 1,
                 subsample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``stack`` consecutive frames (current and future) and keep every ``subsample``-th.

    Args:
        x: (B, T, F) padded features.
        x_lens: (B,) valid lengths.
        stack: frames per stacked vector (default 1 = no stacking).
        subsample: frame-rate reduction factor (default 1).

    Returns:
        ``(y, y_lens)`` with y (B, ceil(T / subsample), F * stack).
    """
    if stack == 1 and subsample == 1:
        return x, x_lens
    return splice_frames(x, x_lens, left=0, right=stack - 1, subsample=subsample)
