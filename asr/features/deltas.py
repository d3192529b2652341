"""Delta and delta-delta features, exactly as Kaldi's ``add-deltas`` (``DeltaFeatures`` in feat/feature-functions.cc).

The order-``i`` coefficients are one FIR filter over the *static* features:
the order-``i-1`` filter convolved with ``[-N, ..., N] / sum(j^2)``, so order 2
with window 2 is a 9-tap filter. Frames outside an utterance are replaced by
its first or last real frame (per utterance, never by padding).
"""

from __future__ import annotations

import torch


def delta_scales(order: int = 2, window: int = 2) -> list[torch.Tensor]:
    """Kaldi's filter coefficients for orders 0..``order``.

    Args:
        order: highest order (default 2: deltas and delta-deltas).
        window: ``N`` of the regression window (default 2).

    Returns:
        ``order + 1`` float64 tensors; the one for order ``i`` has ``2 * i * window + 1`` taps.
    """
    if order < 0 or window < 1:
        raise ValueError(f"bad delta options order={order} window={window}")
    scales = [torch.ones(1, dtype=torch.float64)]
    j = torch.arange(-window, window + 1, dtype=torch.float64)
    normalizer = float((j * j).sum())
    for _ in range(order):
        prev = scales[-1]
        cur = torch.zeros(prev.numel() + 2 * window, dtype=torch.float64)
        for a, w in enumerate(j.tolist()):
            cur[a: a + prev.numel()] += w * prev
        scales.append(cur / normalizer)
    return scales


def add_deltas(x: torch.Tensor, x_lens: torch.Tensor, order: int = 2,
               window: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Append delta features of orders 1..``order`` (Kaldi ``add-deltas``).

    Args:
        x: (B, T, F) padded features.
        x_lens: (B,) valid lengths.
        order: highest delta order (default 2; 0 returns ``x`` unchanged).
        window: regression window ``N`` (default 2, Kaldi's ``--delta-window``).

    Returns:
        ``(y, x_lens)`` with y (B, T, F * (order + 1)): static features, then
        deltas, then delta-deltas; padded frames are zero.
    """
    if order == 0:
        return x, x_lens
    B, T, F = x.shape
    x_lens = x_lens.to(x.device)
    scales = delta_scales(order, window)
    max_off = order * window
    K = 2 * max_off + 1
    # One (order+1, K) weight table, each order's filter centred in K taps.
    weights = torch.zeros(order + 1, K, dtype=torch.float64)
    for i, s in enumerate(scales):
        pad = (K - s.numel()) // 2
        weights[i, pad: pad + s.numel()] = s
    weights = weights.to(device=x.device, dtype=x.dtype)
    offsets = torch.arange(-max_off, max_off + 1, device=x.device)
    last = (x_lens - 1).clamp(min=0)[:, None, None]  # (B, 1, 1)
    idx = (torch.arange(T, device=x.device)[:, None] + offsets[None, :])[None].clamp(min=0)
    idx = torch.minimum(idx, last)  # (B, T, K)
    ctx = torch.gather(x, 1, idx.reshape(B, T * K, 1).expand(B, T * K, F)).reshape(B, T, K, F)
    y = torch.einsum("btkf,ok->btof", ctx, weights).reshape(B, T, (order + 1) * F)
    mask = torch.arange(T, device=x.device)[None, :] < x_lens[:, None]
    return y * mask[..., None].to(y.dtype), x_lens
