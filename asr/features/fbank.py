"""Kaldi-compatible log-mel filterbank features (``compute-fbank-feats``) on padded batches.

The maths follows Kaldi's ``feature-window.cc`` (framing, dither, DC removal,
pre-emphasis, window functions, edge reflection) and ``feature-fbank.cc`` /
``mel-computations.cc`` (power spectrum, triangular mel bins, log, energy), in
our own words:

* A frame covers ``frame_length`` ms and starts every ``frame_shift`` ms. With
  ``snip_edges`` true, only frames that fit completely inside the signal are
  kept; with it false, the number of frames is ``round(N / shift)`` and frame
  ``t`` is centred at ``t * shift + shift / 2``, the samples falling outside the
  signal being mirrored back in (sample ``-1`` is sample ``0``, sample ``N`` is
  sample ``N - 1``).
* Each frame is dithered (Gaussian noise, off by default here), has its mean
  removed, its "raw" log energy measured, is pre-emphasised
  (``x[i] -= c * x[i-1]``, ``x[0] -= c * x[0]``), multiplied by the window and
  zero-padded to the FFT size.
* The power (or magnitude) spectrum is summed through ``num_mel_bins``
  triangles equally spaced on the mel scale ``1127 ln(1 + f / 700)`` between
  ``low_freq`` and ``high_freq`` (``high_freq <= 0`` means an offset from the
  Nyquist frequency), then floored at float epsilon and logged.
* Optionally the log energy (before or after the window: ``raw_energy``) is
  prepended (or appended with ``htk_compat``), floored at ``energy_floor``.

Only the real frames of a padded batch are computed: frames are strided views
of the waves, taken on CPU in blocks of a few hundred frames so that every pass
(DC removal, pre-emphasis, window, one real FFT per block, one matrix product
for the mel bins) runs in cache; on GPU all frames go in one pass. Samples
beyond an utterance's length never reach its frames, and frames beyond its
frame count are zero. The default compute type is float32, like Kaldi's; the
rare frames where a mel band lies more than 90 dB below the frame's power (where
float32 FFT rounding would show in its log) are recomputed in float64. Samples
are in Kaldi's int16 scale (see :data:`KALDI_WAVE_SCALE`); :class:`Fbank` takes
audio in [-1, 1].
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import torch
from torch import nn

from asr.errors import AsrError

KALDI_WAVE_SCALE = 32768.0
"""Kaldi reads 16-bit audio as integers; multiply [-1, 1] audio by this to match its features."""

_FLOAT_EPS = 1.1920928955078125e-07  # std::numeric_limits<float>::epsilon(), Kaldi's log floor

WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "blackman", "sine")


class FbankError(AsrError):
    """Bad filterbank options: unknown or unsupported option, bad value; names the file and line."""


@dataclass
class FbankOptions:
    """Options of Kaldi's ``compute-fbank-feats`` (names with underscores); Kaldi defaults except dither."""

    sample_frequency: float = 16000.0  # Hz; must match the audio
    frame_length: float = 25.0  # window length in ms
    frame_shift: float = 10.0  # frame shift in ms
    num_mel_bins: int = 23  # number of triangular mel bins (>= 3)
    low_freq: float = 20.0  # Hz, low edge of the lowest mel bin
    high_freq: float = 0.0  # Hz, high edge of the highest bin; <= 0 means Nyquist + high_freq
    dither: float = 0.0  # Gaussian dither stddev (Kaldi's default is 1.0; 0 here so results reproduce)
    preemphasis_coefficient: float = 0.97  # x[i] -= c * x[i-1]
    remove_dc_offset: bool = True  # subtract each frame's mean
    window_type: str = "povey"  # povey | hamming | hanning | rectangular | blackman | sine
    round_to_power_of_two: bool = True  # zero-pad frames to a power of two before the FFT
    snip_edges: bool = True  # only full frames; false: round(N / shift) frames, edges mirrored
    use_energy: bool = False  # add the log energy as an extra (first) column
    raw_energy: bool = True  # energy before pre-emphasis and window (false: after)
    energy_floor: float = 0.0  # floor on the energy (not its log); 0 = none
    use_log_fbank: bool = True  # log of the mel energies (false: linear)
    use_power: bool = True  # power spectrum (false: magnitude)
    blackman_coeff: float = 0.42  # constant of the generalised Blackman window
    htk_compat: bool = False  # put the energy last instead of first
    vtln_warp: float = 1.0  # VTLN warp factor of the filter frequencies (1.0: none; see vtln_warp_freq)
    vtln_low: float = 100.0  # VTLN lower cutoff (Hz); unused without VTLN
    vtln_high: float = -500.0  # VTLN upper cutoff (Hz, <= 0: offset from Nyquist); unused without VTLN

    @property
    def num_features(self) -> int:
        """Feature dimension: ``num_mel_bins`` plus one with ``use_energy``."""
        return self.num_mel_bins + (1 if self.use_energy else 0)

    @property
    def window_size(self) -> int:
        """Samples per frame (Kaldi truncates ``rate * ms / 1000``)."""
        return int(self.sample_frequency * 0.001 * self.frame_length)

    @property
    def window_shift(self) -> int:
        """Samples between frame starts."""
        return int(self.sample_frequency * 0.001 * self.frame_shift)

    @property
    def padded_window_size(self) -> int:
        """FFT size: the window size, rounded up to a power of two when ``round_to_power_of_two``."""
        n = self.window_size
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n

    @property
    def high_freq_hz(self) -> float:
        """The filters' upper edge in Hz (``high_freq <= 0`` is an offset from Nyquist)."""
        return self.high_freq if self.high_freq > 0 else 0.5 * self.sample_frequency + self.high_freq

    @property
    def vtln_high_hz(self) -> float:
        """VTLN's upper cutoff in Hz (``vtln_high <= 0`` is an offset from Nyquist)."""
        return self.vtln_high if self.vtln_high > 0 else 0.5 * self.sample_frequency + self.vtln_high

    def validate(self, where: str = "fbank options") -> None:
        """Check the values as Kaldi does.

        Args:
            where: what to name in the error message (e.g. the option file).

        Raises:
            FbankError: on a bad or unsupported value.
        """
        def bad(msg: str) -> FbankError:
            return FbankError(f"{where}: {msg}")

        if self.sample_frequency <= 0:
            raise bad(f"sample-frequency must be > 0, got {self.sample_frequency}")
        if self.window_size < 2 or self.window_shift < 1:
            raise bad(f"frame-length {self.frame_length} ms / frame-shift {self.frame_shift} ms give "
                      f"{self.window_size} / {self.window_shift} samples at {self.sample_frequency} Hz")
        if self.window_type not in WINDOW_TYPES:
            raise bad(f"window-type '{self.window_type}' is not one of {', '.join(WINDOW_TYPES)}")
        if self.num_mel_bins < 3:
            raise bad(f"num-mel-bins must be >= 3, got {self.num_mel_bins}")
        if self.dither < 0:
            raise bad(f"dither must be >= 0, got {self.dither}")
        if not 0.0 <= self.preemphasis_coefficient <= 1.0:
            raise bad(f"preemphasis-coefficient must be in [0, 1], got {self.preemphasis_coefficient}")
        nyquist = 0.5 * self.sample_frequency
        high = self.high_freq_hz
        if not (0.0 <= self.low_freq < nyquist and 0.0 < high <= nyquist and self.low_freq < high):
            raise bad(f"bad low-freq {self.low_freq} / high-freq {self.high_freq} for Nyquist {nyquist} Hz")
        if self.vtln_warp <= 0:
            raise bad(f"vtln-warp must be > 0, got {self.vtln_warp}")
        if self.vtln_warp != 1.0:
            v_high = self.vtln_high_hz
            if not (self.low_freq < self.vtln_low < high and self.vtln_low < v_high < high):
                raise bad(f"vtln-low {self.vtln_low} / vtln-high {self.vtln_high} must lie inside low-freq "
                          f"{self.low_freq} / high-freq {high} Hz, low below high")
            if not (self.vtln_low * max(1.0, self.vtln_warp) > self.low_freq
                    and v_high * min(1.0, self.vtln_warp) < high):
                raise bad(f"vtln-warp {self.vtln_warp} moves the VTLN cutoffs outside low-freq / high-freq")

    # ----- Kaldi option files / arguments -----

    @classmethod
    def from_kaldi_conf(cls, path: str | Path) -> FbankOptions:
        """Read a Kaldi option file (``--fbank-config``, e.g. ``conf/fbank.conf``).

        One ``--name=value`` per line (``--flag`` alone means true), ``#`` starts a
        comment, blank lines are skipped, ``-`` and ``_`` are interchangeable in
        names. Options not set keep Kaldi's defaults, except ``dither`` (0.0).

        Args:
            path: the option file.

        Returns:
            The options, validated.

        Raises:
            FbankError: unknown option, bad value or unsupported non-default
                option; the message names the file and line.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise FbankError(f"{path}: cannot read fbank options: {e}") from e
        items = []
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if line:
                items.append((f"{path}:{lineno}", line))
        return cls._from_items(items, str(path))

    @classmethod
    def from_kaldi_args(cls, args: list[str]) -> FbankOptions:
        """Parse Kaldi-style arguments such as ``["--num-mel-bins=40", "--snip-edges=false"]``.

        Args:
            args: one ``--name=value`` (or ``--flag``) per element.

        Returns:
            The options, validated.

        Raises:
            FbankError: unknown option, bad value or unsupported non-default option.
        """
        return cls._from_items([(f"argument {i + 1}", a.strip()) for i, a in enumerate(args)], "arguments")

    @classmethod
    def _from_items(cls, items: list[tuple[str, str]], where: str) -> FbankOptions:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for loc, item in items:
            if not item.startswith("--") or len(item) <= 2:
                raise FbankError(f"{loc}: expected '--name=value', got '{item}'")
            name, eq, raw = item[2:].partition("=")
            key = name.strip().replace("-", "_")
            raw = raw.strip()
            if key in fields:
                kind = fields[key].type
                values[key] = _parse_value(loc, name, raw if eq else None, kind)
            elif key in _IGNORED_OPTIONS:
                continue
            elif key in _UNSUPPORTED_OPTIONS:
                default, kind = _UNSUPPORTED_OPTIONS[key]
                if _parse_value(loc, name, raw if eq else None, kind) != default:
                    raise FbankError(f"{loc}: option '--{name}' is not supported "
                                     f"(only its default '{default}' is)")
            else:
                raise FbankError(f"{loc}: unknown fbank option '--{name}'")
        opts = cls(**values)
        opts.validate(where)
        return opts


# Options of compute-fbank-feats that do not change the feature values.
_IGNORED_OPTIONS = {"debug_mel", "max_feature_vectors", "output_format", "verbose"}
# Options accepted only at their default value: (default, type name).
_UNSUPPORTED_OPTIONS: dict[str, tuple[Any, str]] = {
    "vtln_map": ("", "str"),
    "utt2spk": ("", "str"),
    "subtract_mean": (False, "bool"),
    "channel": (-1, "int"),
    "min_duration": (0.0, "float"),
    "allow_downsample": (False, "bool"),
    "allow_upsample": (False, "bool"),
    "write_utt2dur": ("", "str"),
}


def _parse_value(loc: str, name: str, raw: str | None, kind: Any) -> Any:
    """Parse one option value the way Kaldi's ParseOptions does."""
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind == "bool":
        if raw is None:
            return True
        low = raw.lower()
        if low in ("true", "t", "1"):
            return True
        if low in ("false", "f", "0"):
            return False
        raise FbankError(f"{loc}: '--{name}' expects true or false, got '{raw}'")
    if raw is None or raw == "":
        raise FbankError(f"{loc}: '--{name}' needs a value ('--{name}=...')")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise FbankError(f"{loc}: '--{name}' expects a{'n int' if kind == 'int' else ' number'}, "
                         f"got '{raw}'") from None
    return raw


# ----- frame counting -----

@overload
def num_frames(num_samples: int, opts: FbankOptions) -> int: ...
@overload
def num_frames(num_samples: torch.Tensor, opts: FbankOptions) -> torch.Tensor: ...


def num_frames(num_samples: torch.Tensor | int, opts: FbankOptions) -> torch.Tensor | int:
    """Number of frames Kaldi makes from ``num_samples`` samples.

    With ``snip_edges``: ``1 + (N - L) // S`` when ``N >= L``, else 0; without:
    ``(N + S // 2) // S`` (round to nearest), L and S the window size and shift.

    Args:
        num_samples: an int or an integer tensor of any shape, e.g. (B,) lengths.
        opts: the options.

    Returns:
        Same type and shape as ``num_samples``.
    """
    size, shift = opts.window_size, opts.window_shift
    if isinstance(num_samples, torch.Tensor):
        n = num_samples.long()
        if opts.snip_edges:
            return torch.where(n >= size, 1 + torch.div(n - size, shift, rounding_mode="floor"),
                               torch.zeros_like(n))
        return torch.div(n + shift // 2, shift, rounding_mode="floor")
    n = int(num_samples)
    if opts.snip_edges:
        return 1 + (n - size) // shift if n >= size else 0
    return (n + shift // 2) // shift


# ----- precomputed matrices -----

def _window(opts: FbankOptions) -> torch.Tensor:
    """The window function, (L,) float64 (Kaldi's FeatureWindowFunction)."""
    n = opts.window_size
    i = torch.arange(n, dtype=torch.float64)
    a = 2 * math.pi / (n - 1)
    w = opts.window_type
    if w == "hanning":
        return 0.5 - 0.5 * torch.cos(a * i)
    if w == "sine":
        return torch.sin(0.5 * a * i)
    if w == "hamming":
        return 0.54 - 0.46 * torch.cos(a * i)
    if w == "povey":  # hanning raised to 0.85: does not go to zero at the edges
        return (0.5 - 0.5 * torch.cos(a * i)).pow(0.85)
    if w == "rectangular":
        return torch.ones(n, dtype=torch.float64)
    if w == "blackman":
        c = opts.blackman_coeff
        return c - 0.5 * torch.cos(a * i) + (0.5 - c) * torch.cos(2 * a * i)
    raise FbankError(f"unknown window type '{w}'")


def _mel(f: torch.Tensor | float) -> Any:
    return 1127.0 * (torch.log1p(f / 700.0) if isinstance(f, torch.Tensor) else math.log1p(f / 700.0))


def vtln_warp_freq(freq: torch.Tensor, low: float, high: float, vtln_low: float, vtln_high: float,
                   warp: float) -> torch.Tensor:
    """Kaldi's piecewise-linear VTLN frequency warp (``VtlnWarpFreq``, Lee & Rose 1996 style).

    Between the cutoffs ``l = vtln_low * max(1, warp)`` and ``h = vtln_high * min(1, warp)``
    frequencies are divided by ``warp``; below ``l`` and above ``h`` two more linear pieces join
    that line to the fixed ends ``low`` and ``high``, so the band edges stay where they are.
    Frequencies outside [low, high] are returned as they are.
    """
    lo_cut, hi_cut = vtln_low * max(1.0, warp), vtln_high * min(1.0, warp)
    scale = 1.0 / warp
    left = low + (scale * lo_cut - low) / (lo_cut - low) * (freq - low)
    right = high + (high - scale * hi_cut) / (high - hi_cut) * (freq - high)
    out = torch.where(freq < lo_cut, left, torch.where(freq < hi_cut, scale * freq, right))
    return torch.where((freq < low) | (freq > high), freq, out)


def _inverse_mel(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * torch.expm1(m / 1127.0)


def mel_banks(opts: FbankOptions) -> torch.Tensor:
    """Kaldi's triangular mel filters over the FFT bins.

    Bin ``m`` rises linearly in mel from ``mel_low + m * d`` to its centre
    ``mel_low + (m + 1) * d`` and falls to ``mel_low + (m + 2) * d``, with
    ``d = (mel_high - mel_low) / (num_mel_bins + 1)``; FFT bin ``k`` sits at
    ``k * rate / fft_size`` Hz. The Nyquist bin gets no weight, as in Kaldi.

    Args:
        opts: the options.

    Returns:
        (fft_size // 2 + 1, num_mel_bins) float64 weights.
    """
    n_fft = opts.padded_window_size
    high = opts.high_freq_hz
    mel_low, mel_high = _mel(opts.low_freq), _mel(high)
    delta = (mel_high - mel_low) / (opts.num_mel_bins + 1)
    m = torch.arange(opts.num_mel_bins, dtype=torch.float64)
    left, center, right = mel_low + m * delta, mel_low + (m + 1) * delta, mel_low + (m + 2) * delta
    if opts.vtln_warp != 1.0:  # each filter's corners move (Kaldi's VtlnWarpMelFreq), in Hz
        left, center, right = (_mel(vtln_warp_freq(_inverse_mel(x), opts.low_freq, high, opts.vtln_low,
                                                   opts.vtln_high_hz, opts.vtln_warp)) for x in (left, center, right))
    freqs = torch.arange(n_fft // 2, dtype=torch.float64) * (opts.sample_frequency / n_fft)
    mel = _mel(freqs)[:, None]  # (K-1, 1)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    w = torch.where(mel <= center, up, down)
    w = torch.where((mel > left) & (mel < right), w, torch.zeros_like(w))
    return torch.cat([w, torch.zeros(1, opts.num_mel_bins, dtype=torch.float64)])


def _options_key(opts: FbankOptions) -> tuple:
    return dataclasses.astuple(opts)


@dataclass(frozen=True)
class _Tables:
    window: torch.Tensor  # (L,)
    banks_t: torch.Tensor  # (M, k_end - k_begin): mel weights of the FFT bins that have any
    banks2t: torch.Tensor  # (M, 2 * (k_end - k_begin)): same, each column twice (real, imaginary part)
    k_begin: int
    k_end: int


@functools.lru_cache(maxsize=64)
def _tables(key: tuple, device: torch.device, dtype: torch.dtype) -> _Tables:
    """Window and mel matrices for the options with this key, on device/dtype (cached)."""
    opts = FbankOptions(*key)
    banks = mel_banks(opts)
    used = torch.nonzero(banks.abs().sum(1) > 0).flatten()
    k_begin, k_end = int(used.min()), int(used.max()) + 1
    banks = banks[k_begin:k_end]
    return _Tables(window=_window(opts).to(device=device, dtype=dtype),
                   banks_t=banks.t().contiguous().to(device=device, dtype=dtype),
                   banks2t=banks.repeat_interleave(2, dim=0).t().contiguous().to(device=device, dtype=dtype),
                   k_begin=k_begin, k_end=k_end)


# ----- framing -----

def _frames(waves: torch.Tensor, lens: torch.Tensor, opts: FbankOptions, t_max: int) -> torch.Tensor:
    """Cut (B, N) waves into (B, T, L) frames (a strided view with ``snip_edges``).

    Without ``snip_edges`` the first frame starts at ``S // 2 - L // 2`` (may be
    negative) and samples outside ``[0, len)`` are mirrored back in per
    utterance, so padding never enters a real frame.
    """
    size, shift = opts.window_size, opts.window_shift
    B, N = waves.shape
    if opts.snip_edges:
        need = (t_max - 1) * shift + size
        if need > N:
            waves = torch.nn.functional.pad(waves, (0, need - N))
        return waves.unfold(1, size, shift)[:, :t_max]
    start = shift // 2 - size // 2
    total = (t_max - 1) * shift + size
    pos = torch.arange(start, start + total, device=waves.device)  # (P,)
    n = lens.clamp(min=1)[:, None]  # (B, 1)
    # Kaldi mirrors repeatedly (s -> -s - 1, s -> 2N - 1 - s): a symmetric extension of period 2N.
    p = torch.remainder(pos[None, :], 2 * n)
    idx = torch.where(p >= n, 2 * n - 1 - p, p)  # (B, P)
    if N == 0:
        waves = waves.new_zeros(B, 1)
    buf = torch.gather(waves, 1, idx.clamp(max=max(N - 1, 0)))
    return buf.unfold(1, size, shift)


def _frame_features(frames: torch.Tensor, opts: FbankOptions, tab: _Tables, buf: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
    """Features of a block of frames.

    Args:
        frames: (n, L) frames, may be an overlapping strided view (read only).
        opts: the options.
        tab: the cached window and mel matrices.
        buf: (n, padded L) scratch, zero beyond column L (the FFT's zero padding).
        generator: random generator for the dither.

    Returns:
        (n, F) features.
    """
    if opts.dither > 0:
        noise = torch.randn(frames.shape, generator=generator, device=frames.device, dtype=frames.dtype)
        frames = frames + opts.dither * noise
    feats, weak = _frame_features_core(frames, opts, tab, buf)
    if weak is not None and bool(weak.any()):
        # A mel band far below the frame's total power is swamped by the float32 rounding of
        # the FFT (errors scale with the whole frame): redo those few frames in float64.
        idx = weak.nonzero(as_tuple=True)
        sub = frames[idx].double()
        tab64 = _tables(_options_key(opts), frames.device, torch.float64)
        buf64 = sub.new_zeros(sub.shape[0], buf.shape[-1])
        feats[idx] = _frame_features_core(sub, opts, tab64, buf64)[0].to(feats.dtype)
    return feats


# A frame is recomputed in float64 when one of its mel energies is below this fraction of its
# total power; on real speech that is well under 1% of frames.
_REFINE_RATIO = 1e-9


def _frame_features_core(frames: torch.Tensor, opts: FbankOptions, tab: _Tables,
                         buf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`_frame_features` after the dither; also flags float32 frames to redo in float64."""
    size = opts.window_size
    energy = None
    if opts.remove_dc_offset:
        frames = frames - frames.mean(dim=-1, keepdim=True)
    if opts.use_energy and opts.raw_energy:
        energy = frames.square().sum(-1)
    x = buf[..., :size]
    c = opts.preemphasis_coefficient
    if c != 0.0:  # x[i] - c x[i-1]; the first sample is taken as its own predecessor
        torch.sub(frames[..., 1:], frames[..., :-1], alpha=c, out=x[..., 1:])
        torch.sub(frames[..., :1], frames[..., :1], alpha=c, out=x[..., :1])
    else:
        x.copy_(frames)
    x.mul_(tab.window)
    if opts.use_energy and not opts.raw_energy:
        energy = x.square().sum(-1)
    spec = torch.fft.rfft(buf)[..., tab.k_begin:tab.k_end]  # (..., K)
    z = torch.view_as_real(spec).flatten(-2)  # (..., 2K): re, im, re, im, ...
    z.square_()
    # (M, K') @ (K', n) is much faster than (n, K') @ (K', M) for M small; the (M, n) result
    # is contiguous, which keeps the element-wise passes below vectorised.
    if opts.use_power:  # re^2 + im^2 summed through the bins in one product
        mel_t = torch.matmul(tab.banks2t, z.transpose(-1, -2))
    else:
        mag = (z[..., 0::2] + z[..., 1::2]).sqrt_()
        mel_t = torch.matmul(tab.banks_t, mag.transpose(-1, -2))
    weak = None
    if buf.dtype == torch.float32:
        total = z.sum(-1)
        weak = mel_t.amin(0) < _REFINE_RATIO * (total if opts.use_power else total.sqrt())
    if opts.use_log_fbank:
        mel_t = mel_t.clamp_(min=_FLOAT_EPS).log_()
    mel = mel_t.transpose(-1, -2)  # (n, M)
    if energy is None:
        return mel, weak
    log_e = energy.clamp_(min=_FLOAT_EPS).log_()
    if opts.energy_floor > 0:
        log_e = log_e.clamp_(min=math.log(opts.energy_floor))
    parts = [mel, log_e[..., None]] if opts.htk_compat else [log_e[..., None], mel]
    return torch.cat(parts, dim=-1), weak


# Frames per block on CPU: a block's scratch stays in cache, which makes the FFT and the
# element-wise passes several times faster than on one big (B * T, L) array.
_CPU_BLOCK = 256
_CPU_BLOCK_SAMPLES = 1 << 18  # larger blocks for small FFTs


# ----- the features -----

def fbank(waves: torch.Tensor, lens: torch.Tensor, opts: FbankOptions | None = None,
          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Kaldi's log-mel filterbank features of a padded batch of waves.

    Args:
        waves: (B, N) samples in Kaldi's int16 scale (multiply [-1, 1] audio by
            :data:`KALDI_WAVE_SCALE`), padded; float32 (default compute type) or
            float64; integer tensors are converted to float32. CPU or CUDA.
        lens: (B,) number of valid samples of each wave.
        opts: the options (default: :class:`FbankOptions` ()).
        generator: random generator for the dither (only used when ``opts.dither > 0``).

    Returns:
        ``(feats, frame_lens)``: feats is (B, T, F) with ``T = max(frame_lens)``
        and ``F = opts.num_features``, on the device of ``waves``; frames past
        ``frame_lens[b]`` are zero. frame_lens is (B,) int64 (:func:`num_frames`).

    Note:
        On CPU the work is many small cache-sized operations; run it with one
        intra-op thread per process (``torch.set_num_threads(1)``, as in
        DataLoader workers) and parallelise over processes. On a busy machine a
        second OpenMP thread can make it many times slower, not faster.
    """
    opts = opts if opts is not None else FbankOptions()
    _validated(_options_key(opts))
    if waves.dim() != 2:
        raise ValueError(f"waves must be (B, N), got shape {tuple(waves.shape)}")
    if not waves.is_floating_point():
        waves = waves.float()
    waves = waves.contiguous()
    device, dtype = waves.device, waves.dtype
    lens = lens.to(device=device, dtype=torch.long)
    frame_lens = num_frames(lens, opts)
    B = waves.shape[0]
    t_max = int(frame_lens.max()) if B > 0 else 0
    F = opts.num_features
    if t_max == 0:
        return waves.new_zeros(B, 0, F), frame_lens
    tab = _tables(_options_key(opts), device, dtype)
    frames = _frames(waves, lens, opts, t_max)  # (B, T, L), a view with snip_edges
    if device.type == "cpu":
        feats = _features_blocked(frames, frame_lens, opts, tab, generator)
    else:
        feats = _features_gathered(frames, frame_lens, opts, tab, generator)
    return feats, frame_lens


def _features_gathered(frames: torch.Tensor, frame_lens: torch.Tensor, opts: FbankOptions, tab: _Tables,
                       generator: torch.Generator | None) -> torch.Tensor:
    """(B, T, L) frames -> (B, T, F) features, all real frames in one pass (for GPUs)."""
    B, t_max, _ = frames.shape
    valid = torch.arange(t_max, device=frames.device)[None, :] < frame_lens[:, None]  # (B, T)
    b_idx, t_idx = valid.nonzero(as_tuple=True)
    buf = frames.new_zeros(b_idx.numel(), opts.padded_window_size)
    feats = frames.new_zeros(B, t_max, opts.num_features)
    feats[b_idx, t_idx] = _frame_features(frames[b_idx, t_idx], opts, tab, buf, generator)
    return feats


def _features_blocked(frames: torch.Tensor, frame_lens: torch.Tensor, opts: FbankOptions, tab: _Tables,
                      generator: torch.Generator | None) -> torch.Tensor:
    """(B, T, L) frames -> (B, T, F) features in blocks of real frames that fit in a CPU cache.

    The samples under the frames are laid out as one flat array whose rows
    ``b * R + t`` are the frames, so a block is either a plain view (frames of
    one utterance) or one ``index_select`` of rows, whatever the batch holds.
    """
    B, t_max, size = frames.shape
    shift = opts.window_shift
    samples = frames.as_strided((B, (t_max - 1) * shift + size), (frames.stride(0), 1))  # (B, P)
    R = -(-samples.shape[1] // shift)  # rows per utterance
    flat = torch.nn.functional.pad(samples, (0, R * shift - samples.shape[1])).reshape(-1)
    rows = torch.nn.functional.pad(flat, (0, size)).unfold(0, size, shift)  # (>= B * R, L)
    lens = frame_lens.tolist()
    starts = [0]
    for n in lens:
        starts.append(starts[-1] + n)
    total = starts[-1]
    valid = torch.arange(t_max)[None, :] < frame_lens[:, None]  # (B, T)
    b_idx, t_idx = valid.nonzero(as_tuple=True)
    row_idx = b_idx * R + t_idx
    block = max(_CPU_BLOCK, _CPU_BLOCK_SAMPLES // opts.padded_window_size)
    buf = frames.new_zeros(min(block, total), opts.padded_window_size)
    out = frames.new_empty(total, opts.num_features)
    for s in range(0, total, block):
        e = min(total, s + block)
        b = bisect.bisect_right(starts, s) - 1
        if e <= starts[b + 1]:  # one utterance: a view
            r0 = b * R + s - starts[b]
            x = rows[r0:r0 + e - s]
        else:
            x = rows.index_select(0, row_idx[s:e])
        out[s:e] = _frame_features(x, opts, tab, buf[: e - s], generator)
    feats = frames.new_zeros(B * t_max, opts.num_features)
    feats.index_copy_(0, b_idx * t_max + t_idx, out)
    return feats.view(B, t_max, opts.num_features)


@functools.lru_cache(maxsize=64)
def _validated(key: tuple) -> bool:
    FbankOptions(*key).validate()
    return True


class Fbank(nn.Module):
    """Log-mel filterbank frontend: audio in [-1, 1] to Kaldi-compatible features.

    Args:
        opts: the options (default: :class:`FbankOptions` ()).
    """

    def __init__(self, opts: FbankOptions | None = None) -> None:
        super().__init__()
        self.opts = opts if opts is not None else FbankOptions()
        self.opts.validate()

    @property
    def num_features(self) -> int:
        """Output feature dimension."""
        return self.opts.num_features

    def forward(self, waves: torch.Tensor, lens: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of a padded batch.

        Args:
            waves: (B, N) audio in [-1, 1], padded.
            lens: (B,) valid samples per wave.
            generator: random generator for the dither (when ``opts.dither > 0``).

        Returns:
            ``(feats (B, T, F), frame_lens (B,))`` as :func:`fbank`.
        """
        return fbank(waves * KALDI_WAVE_SCALE, lens, self.opts, generator=generator)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, opts={self.opts}"
