"""Training-time augmentation: SpecAugment masks on features, speed perturbation of waveforms.

SpecAugment (Park et al., 2019) without time warping: each utterance gets
``num_freq_masks`` bands of zeroed feature bins and ``num_time_masks`` spans of
zeroed frames, drawn inside its own length. Speed perturbation is sox's
``speed`` effect (as in Kaldi's ``perturb_data_dir_speed.sh``): the signal is
resampled with libsoxr so that tempo and pitch both change by ``factor``.
"""

from __future__ import annotations

import math

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


def eq_perturb(x: torch.Tensor, x_lens: torch.Tensor, max_db: float, order: int = 4, first_bin: int = 0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """A random smooth frequency response per utterance on log-mel features: a channel perturbation.

    Microphones, rooms and voices differ in spectral tilt and broad resonances, which on log
    filterbanks is a curve added to every frame. Each utterance gets
    ``sum_{k=1..order} a_k cos(pi k (j + 1/2) / F)`` dB on mel bin j of F, with each ``a_k`` drawn
    uniformly in ``[-max_db / order, max_db / order]`` (so no bin moves by more than ``max_db``).
    The constant term (k = 0, a plain gain) is left out: that is ``gain_perturb``'s.

    Args:
        x: (B, T, F') padded log filterbank features (natural log of power, Kaldi's fbank).
        x_lens: (B,) valid frames; padded frames are left as they were.
        max_db: bound of the curve in dB of power (> 0).
        order: number of cosine terms (default 4: curves with up to 4 broad bumps).
        first_bin: columns before it are left alone (1 with a log-energy column first).
        generator: random source (default: torch's global generator); B * order draws.

    Returns:
        (B, T, F') perturbed copy of ``x``.
    """
    B, T, Fall = x.shape
    F = Fall - first_bin
    device = x.device
    a = (2 * _uniform((B, order), generator, device) - 1) * (max_db / order)  # (B, K) dB
    k = torch.arange(1, order + 1, device=device, dtype=torch.float64)[:, None]
    j = torch.arange(F, device=device, dtype=torch.float64)[None, :]
    basis = torch.cos(torch.pi * k * (j + 0.5) / F)  # (K, F)
    curve = (a @ basis) * (np.log(10.0) / 10.0)  # (B, F) in nats of power
    valid = (torch.arange(T, device=device)[None, :] < x_lens.to(device)[:, None])[..., None]
    out = x.clone()
    out[..., first_bin:] += (curve[:, None, :] * valid).to(x.dtype)
    return out


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


def background_level(wave: torch.Tensor, sr: int, window: float = 0.025) -> torch.Tensor:
    """RMS of the quietest ``window``-second stretch of a (N,) waveform: its background noise level.

    The stretches do not overlap; a waveform shorter than one window is one stretch. Returns a
    0-dim tensor (0 for an empty or digitally silent waveform).
    """
    n = max(1, int(window * sr))
    if wave.numel() == 0:
        return wave.new_zeros(())
    if wave.numel() < n:
        return wave.pow(2).mean().sqrt()
    frames = wave[: wave.numel() // n * n].reshape(-1, n)
    return frames.pow(2).mean(dim=1).min().sqrt()


def synthetic_rir(rt60: float, drr_db: float, sr: int, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """A generated room impulse response: a direct path and an exponentially decaying diffuse tail.

    The tail is Gaussian noise under the envelope ``exp(-3 ln(10) t / rt60)`` (energy 60 dB down
    after ``rt60`` seconds, the definition of the reverberation time), from 1 ms after the direct
    path to ``rt60`` seconds; its energy is ``drr_db`` dB below the direct path's (the
    direct-to-reverberant ratio). The statistical model of late reverberation (Polack 1988) without
    a room geometry: no early reflections, no frequency-dependent decay.

    Returns:
        (L,) float32, ``h[0] = 1``.
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be > 0, got {rt60}")
    n = max(2, int(rt60 * sr))
    start = min(n - 1, max(1, int(0.001 * sr)))
    t = torch.arange(n - start, device=device, dtype=torch.float64) / sr
    tail = torch.randn(n - start, generator=generator, device=device, dtype=torch.float64)
    tail = tail * torch.exp(-3 * math.log(10) * t / rt60)
    tail = tail * (10 ** (-drr_db / 10) / tail.pow(2).sum().clamp_min(1e-30)).sqrt()
    h = torch.zeros(n, device=device, dtype=torch.float64)
    h[0] = 1.0
    h[start:] = tail
    return h.float()


def reverberate(wave: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """``wave`` (N,) convolved with ``rir`` (L,) (FFT), cut to N samples and scaled back to its RMS."""
    n = wave.numel()
    if n == 0:
        return wave
    size = n + rir.numel() - 1
    out = torch.fft.irfft(torch.fft.rfft(wave.double(), size) * torch.fft.rfft(rir.to(wave.device).double(), size),
                          size)[:n]
    scale = (wave.double().pow(2).sum() / out.pow(2).sum().clamp_min(1e-30)).sqrt()
    return (out * scale).to(wave.dtype)


def perturb_waveforms(waves: torch.Tensor, lens: torch.Tensor, sr: int, pad: float = 0.0,
                      gain_db: tuple[float, float] | None = None, snr_db: tuple[float, float] | None = None,
                      generator: torch.Generator | None = None, rt60: tuple[float, float] | None = None,
                      drr_db: tuple[float, float] = (0.0, 10.0), reverb_prob: float = 0.5
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training-time waveform perturbations, one random draw per utterance.

    * ``rt60``: with probability ``reverb_prob``, the utterance convolved with a
      :func:`synthetic_rir` of reverberation time uniform in ``[lo, hi]`` seconds and
      direct-to-reverberant ratio uniform in ``drr_db`` (before the padding: the room acts on the
      speech, the padded background is the recording's), cut to its length and kept at its RMS.
    * ``pad``: at each end, independently, half the time nothing and half the time up to ``pad``
      seconds (uniform) of the utterance's own background noise (Gaussian at
      :func:`background_level`), so that speech does not always start at the first frame and the
      model learns that background has no words, while audio cut tight at the words (isolated-word
      corpora; what the test files may be) is still seen as it is.
    * ``gain_db``: a gain drawn uniformly in ``[lo, hi]`` dB (recording levels differ between
      speakers and microphones by tens of dB; log-mel features shift with them).
    * ``snr_db``: white Gaussian noise at a signal-to-noise ratio drawn uniformly in ``[lo, hi]``
      dB, relative to the utterance's mean power.

    Args:
        waves: (B, N) padded waveforms; lens: (B,) valid samples; sr: sample rate in Hz.
        generator: random source (default: torch's global one).

    Returns:
        ``(waves (B, N'), lens (B,))``, re-padded with zeros; samples are not clipped.
    """
    B = waves.shape[0]
    gen_device = generator.device if generator is not None else torch.device("cpu")

    def uniform(lo: float, hi: float) -> list[float]:
        u = torch.rand(B, generator=generator, device=gen_device, dtype=torch.float64).tolist()
        return [lo + (hi - lo) * v for v in u]

    # uniform in [-pad, pad], negative = none: no padding half the time
    lead = [max(0, int(v * sr)) for v in uniform(-pad, pad)] if pad > 0 else [0] * B
    trail = [max(0, int(v * sr)) for v in uniform(-pad, pad)] if pad > 0 else [0] * B
    gains = [10 ** (g / 20) for g in uniform(*gain_db)] if gain_db else [1.0] * B
    snrs = uniform(*snr_db) if snr_db else None
    if rt60:
        rooms = uniform(0.0, 1.0)
        times, drrs = uniform(*rt60), uniform(*drr_db)
    out = []
    for b in range(B):
        w = waves[b, : int(lens[b])]
        if rt60 and rooms[b] < reverb_prob and w.numel():
            w = reverberate(w, synthetic_rir(times[b], drrs[b], sr, generator, gen_device))
        if lead[b] or trail[b]:
            level = background_level(w, sr)
            noise = torch.randn(lead[b] + trail[b], generator=generator, device=gen_device).to(w) * level
            w = torch.cat([noise[: lead[b]], w, noise[lead[b]:]])
        if snrs is not None and w.numel():
            power = w.pow(2).mean()
            noise = torch.randn(w.numel(), generator=generator, device=gen_device).to(w)
            w = w + noise * (power / 10 ** (snrs[b] / 10)).sqrt()
        out.append(w * gains[b])
    return repad(waves, out, lens.device)


def repad(like: torch.Tensor, waves: list[torch.Tensor], lens_device: torch.device | str = "cpu"
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N_i,) waveforms as one zero-padded (B, max N_i) batch of ``like``'s dtype and device, and their lengths."""
    lens = torch.tensor([w.shape[0] for w in waves], dtype=torch.long, device=lens_device)
    padded = like.new_zeros(len(waves), int(lens.max()) if waves else 0)
    for b, w in enumerate(waves):
        padded[b, : w.shape[0]] = w
    return padded, lens
