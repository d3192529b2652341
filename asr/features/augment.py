"""Training-time augmentation: SpecAugment masks on features, speed perturbation of waveforms.

SpecAugment (Park et al., 2019) without time warping: each utterance gets
``num_freq_masks`` bands of zeroed feature bins and ``num_time_masks`` spans of
zeroed frames, drawn inside its own length. Speed perturbation is sox's
``speed`` effect (as in Kaldi's ``perturb_data_dir_speed.sh``): the signal is
resampled with libsoxr so that tempo and pitch both change by ``factor``.
"""

from __future__ import annotations

import numpy as np
import torch


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0, 1) draws made on the generator's device (CPU by default), moved to ``device``."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64).to(device)


def _mask_spans(size: torch.Tensor, max_width: torch.Tensor, n: int, length: int,
                generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(B, length) bool: ``n`` spans per row, width ~ U{0..max_width}, inside ``[0, size)``."""
    B = size.shape[0]
    u_w, u_s = _uniform((B, n), generator, device), _uniform((B, n), generator, device)
    max_width = torch.minimum(max_width, size)  # (B,)
    width = torch.floor(u_w * (max_width[:, None] + 1).to(torch.float64)).long()  # (B, n)
    start = torch.floor(u_s * (size[:, None] - width + 1).to(torch.float64)).long()
    pos = torch.arange(length, device=device)[None, None, :]  # (1, 1, L)
    spans = (pos >= start[..., None]) & (pos < (start + width)[..., None])  # (B, n, L)
    return spans.any(dim=1)


def spec_augment(x: torch.Tensor, x_lens: torch.Tensor, num_freq_masks: int = 2, freq_mask_width: int = 27,
                 num_time_masks: int = 2, time_mask_width: int = 40, time_mask_ratio: float = 1.0,
                 mask_value: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply SpecAugment frequency and time masks (no time warping).

    Args:
        x: (B, T, F) padded features (normally after CMVN, so ``mask_value`` 0 is the mean).
        x_lens: (B,) valid lengths; time masks lie inside each utterance.
        num_freq_masks: frequency masks per utterance (default 2).
        freq_mask_width: maximum width of a frequency mask in bins (default 27).
        num_time_masks: time masks per utterance (default 2).
        time_mask_width: maximum width of a time mask in frames (default 40).
        time_mask_ratio: a time mask covers at most this fraction of the
            utterance's length (default 1.0 = no extra limit).
        mask_value: value written into masked cells (default 0.0).
        generator: random source (default: torch's global generator). The
            number of draws depends only on B and the mask counts.

    Returns:
        (B, T, F) masked copy of ``x``; padded frames are left as they were.
    """
    B, T, F = x.shape
    device = x.device
    x_lens = x_lens.to(device)
    mask = torch.zeros(B, T, F, dtype=torch.bool, device=device)
    if num_freq_masks > 0 and freq_mask_width > 0:
        size = torch.full((B,), F, dtype=torch.long, device=device)
        width = torch.full((B,), freq_mask_width, dtype=torch.long, device=device)
        mask |= _mask_spans(size, width, num_freq_masks, F, generator, device)[:, None, :]
    if num_time_masks > 0 and time_mask_width > 0:
        size = x_lens.long()
        width = torch.clamp(torch.floor(size.to(torch.float64) * time_mask_ratio).long(), max=time_mask_width)
        mask |= _mask_spans(size, width, num_time_masks, T, generator, device)[:, :, None]
    valid = (torch.arange(T, device=device)[None, :] < x_lens[:, None])[..., None]
    return x.masked_fill(mask & valid, mask_value)


def speed_perturb(wave: torch.Tensor | np.ndarray, sr: int, factor: float) -> torch.Tensor:
    """Change speed by ``factor`` like ``sox ... speed <factor>``: tempo and pitch both change.

    The signal is treated as if sampled at ``sr * factor`` and resampled to
    ``sr`` with libsoxr (sox's own resampler, high quality).

    Args:
        wave: (N,) waveform (tensor on any device, or numpy array).
        sr: its sample rate in Hz.
        factor: speed factor, e.g. 0.9 (slower, longer) or 1.1 (faster, shorter).

    Returns:
        (round(N / factor),) waveform in the input's dtype (float32 for numpy
        input) and on the input's device.
    """
    import soxr

    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    is_tensor = isinstance(wave, torch.Tensor)
    arr = wave.detach().cpu().numpy() if is_tensor else np.asarray(wave)
    if arr.ndim != 1:
        raise ValueError(f"speed_perturb expects a (N,) waveform, got shape {arr.shape}")
    n_out = int(round(arr.shape[0] / factor))
    if factor == 1.0:
        out = arr.astype(np.float32, copy=True)
    else:
        out = soxr.resample(arr.astype(np.float32), sr * factor, sr, quality="HQ")
        if out.shape[0] >= n_out:
            out = out[:n_out]
        else:
            out = np.concatenate([out, np.zeros(n_out - out.shape[0], dtype=out.dtype)])
    if not is_tensor:
        return torch.from_numpy(np.ascontiguousarray(out))
    return torch.from_numpy(np.ascontiguousarray(out)).to(device=wave.device, dtype=wave.dtype)
