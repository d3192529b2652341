"""The acoustic frontend: waveforms or stored features in, normalised model inputs out.

Pipeline (each step a pure function from this package)::

    [speed, padding, gain, noise perturbation, training] -> [dither] -> fbank (feature_source=wav)
        -> deltas -> CMVN -> [SpecAugment, training]

One switch, ``feature_source``, chooses between computing filterbanks on the fly
from waveforms and reading precomputed ``feats.scp`` features; both give the
same numbers for the same fbank options, so a model trained one way can be fed
the other way.

CMVN statistics over all ``F * (deltas + 1)`` output dimensions are applied
after the deltas. Statistics over the ``F`` static dimensions only (what
``compute-cmvn-stats`` writes for a ``feats.scp``) are applied before the
deltas, as Kaldi's ``apply-cmvn | add-deltas`` pipelines do. Global
statistics live in the ``global_stats`` buffer, so they are saved in the
model's ``state_dict``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from asr.config import ConfigError
from asr.features.augment import eq_perturb, perturb_waveforms, repad, spec_augment, speed_perturb
from asr.features.cmvn import apply_cmvn, read_cmvn_stats, utterance_cmvn_stats
from asr.features.deltas import add_deltas
from asr.features.fbank import KALDI_WAVE_SCALE, Fbank, FbankError, FbankOptions, num_frames

FEATURE_SOURCES = ("wav", "feats")
CMVN_MODES = ("none", "global", "speaker", "utterance")


@dataclass
class FrontendConfig:
    """Feature extraction, normalisation and augmentation."""

    feature_source: str = "wav"  # wav (fbank on the fly from audio) | feats (precomputed feats.scp)
    fbank_conf: str = ""  # Kaldi fbank option file (e.g. conf/fbank.conf); "" = Kaldi defaults
    fbank_args: list[str] = field(default_factory=list)  # extra Kaldi fbank options, after fbank_conf
    num_mel_bins: int = 0  # overrides --num-mel-bins of fbank_conf when > 0 (0 = file or Kaldi default 23)
    sample_frequency: float = 0.0  # overrides --sample-frequency when > 0 (Hz; audio is resampled to it)
    cmvn: str = "global"  # none | global | speaker | utterance
    norm_vars: bool = True  # also normalise variances (Kaldi apply-cmvn --norm-vars)
    cmvn_stats: str = ""  # global statistics file (Kaldi matrix from compute-cmvn-stats); "" = set later
    # The training set's statistics (stored in the model) are added to each speaker's in training and
    # recognition alike, so that a speaker with little audio (a lone file given to `asr transcribe`)
    # is normalised sensibly (Kaldi's online CMVN: --global-frames 200). 0 = off.
    cmvn_prior_frames: float = 200.0  # cmvn=speaker: the global statistics as a prior worth this many frames
    deltas: int = 0  # delta order: 0 none, 1 deltas, 2 deltas + delta-deltas (Kaldi add-deltas)
    delta_window: int = 2  # delta regression window (Kaldi --delta-window)
    num_freq_masks: int = 0  # SpecAugment frequency masks per utterance (0 = off; training only)
    freq_mask_width: int = 27  # SpecAugment maximum frequency-mask width (bins)
    num_time_masks: int = 0  # SpecAugment time masks per utterance (0 = off; training only)
    time_mask_width: int = 40  # SpecAugment maximum time-mask width (frames)
    time_mask_ratio: float = 0.2  # SpecAugment: a time mask covers at most this fraction of an utterance
    speed_perturb: list[float] = field(default_factory=list)  # speed factors, one drawn per utterance in training
    dither: float = 0.0  # waveform Gaussian noise, std in 16-bit sample units (Kaldi's --dither); fixed in recognition
    pad_perturb: float = 0.0  # each end, half the time: up to this many seconds of the utterance's background
    gain_perturb: list[float] = field(default_factory=list)  # [lo, hi] dB, a gain drawn per utterance (training)
    noise_snr: list[float] = field(default_factory=list)  # [lo, hi] dB, white noise at an SNR drawn per utterance
    # Generated reverberation (augment.synthetic_rir): with probability reverb_prob a training utterance
    # is convolved with a decaying-noise room response, RT60 and direct-to-reverberant ratio drawn per utterance
    reverb_rt60: list[float] = field(default_factory=list)  # [lo, hi] seconds, e.g. [0.2, 0.8]; empty = off
    reverb_drr: list[float] = field(default_factory=lambda: [0.0, 10.0])  # [lo, hi] dB
    reverb_prob: float = 0.5  # the share of training utterances reverberated
    # VTLP (Jaitly & Hinton 2013): each training utterance's filterbank gets a VTLN warp factor drawn
    # from [lo, hi] (in steps of 0.01), as if a speaker with a longer or shorter vocal tract said it
    vtlp: list[float] = field(default_factory=list)  # [lo, hi] VTLN warp per utterance, e.g. [0.9, 1.1] (training)
    # A random smooth frequency response per training utterance, at most this many dB in any mel bin
    # (augment.eq_perturb: eq_order cosine terms over the bins): other microphones, rooms, voices
    eq_perturb: float = 0.0  # dB, 0 = off (log filterbanks only)
    eq_order: int = 4  # cosine terms of the eq_perturb curve


def fbank_args(opts: FbankOptions) -> list[str]:
    """Kaldi-style arguments (``--num-mel-bins=40``) for every option that differs from the default.

    ``FbankOptions.from_kaldi_args(fbank_args(opts)) == opts``.
    """
    default = FbankOptions()
    args = []
    for f in dataclasses.fields(opts):
        v = getattr(opts, f.name)
        if v != getattr(default, f.name):
            v = str(v).lower() if isinstance(v, bool) else v
            args.append(f"--{f.name.replace('_', '-')}={v}")
    return args


def resolve_fbank_options(cfg: FrontendConfig) -> FbankOptions:
    """The filterbank options a config describes: option file, then ``fbank_args``, then overrides.

    Raises:
        FbankError: unreadable file or bad option (the message names the file and line).
    """
    opts = FbankOptions.from_kaldi_conf(cfg.fbank_conf) if cfg.fbank_conf else FbankOptions()
    args = fbank_args(opts) + list(cfg.fbank_args)
    if cfg.num_mel_bins > 0:
        args.append(f"--num-mel-bins={cfg.num_mel_bins}")
    if cfg.sample_frequency > 0:
        args.append(f"--sample-frequency={cfg.sample_frequency}")
    return FbankOptions.from_kaldi_args(args) if args else opts


class Frontend(nn.Module):
    """fbank (if waveforms) -> deltas -> CMVN -> SpecAugment (training), on padded batches.

    Args:
        cfg: the configuration (default: :class:`FrontendConfig` ()).

    Raises:
        ConfigError: an unknown ``feature_source`` or ``cmvn`` mode, or a bad value.
        FbankError: bad filterbank options.
    """

    def __init__(self, cfg: FrontendConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else FrontendConfig()
        if cfg.feature_source not in FEATURE_SOURCES:
            raise ConfigError(f"frontend.feature_source: {cfg.feature_source!r} is not one of {list(FEATURE_SOURCES)}")
        if cfg.cmvn not in CMVN_MODES:
            raise ConfigError(f"frontend.cmvn: {cfg.cmvn!r} is not one of {list(CMVN_MODES)}")
        if cfg.deltas < 0 or cfg.delta_window < 1:
            raise ConfigError(f"frontend: bad deltas={cfg.deltas} / delta_window={cfg.delta_window}")
        if any(f <= 0 for f in cfg.speed_perturb):
            raise ConfigError(f"frontend.speed_perturb: factors must be positive, got {cfg.speed_perturb}")
        if cfg.speed_perturb and cfg.feature_source != "wav":
            raise ConfigError("frontend.speed_perturb needs feature_source=wav (it changes the waveform)")
        if cfg.dither < 0 or (cfg.dither > 0 and cfg.feature_source != "wav"):
            raise ConfigError(f"frontend.dither: {cfg.dither} (must be >= 0, and needs feature_source=wav; for "
                              f"feats.scp set --dither in the fbank config of make_fbank.sh)")
        for name in ("gain_perturb", "noise_snr"):
            r = getattr(cfg, name)
            if r and (len(r) != 2 or r[0] > r[1]):
                raise ConfigError(f"frontend.{name}: expected [lo, hi] in dB with lo <= hi, got {r}")
        if cfg.reverb_rt60 and (len(cfg.reverb_rt60) != 2 or not 0 < cfg.reverb_rt60[0] <= cfg.reverb_rt60[1] <= 3):
            raise ConfigError(f"frontend.reverb_rt60: expected [lo, hi] seconds with 0 < lo <= hi <= 3, "
                              f"got {cfg.reverb_rt60}")
        if len(cfg.reverb_drr) != 2 or cfg.reverb_drr[0] > cfg.reverb_drr[1]:
            raise ConfigError(f"frontend.reverb_drr: expected [lo, hi] in dB with lo <= hi, got {cfg.reverb_drr}")
        if not 0 <= cfg.reverb_prob <= 1:
            raise ConfigError(f"frontend.reverb_prob: {cfg.reverb_prob} (a probability, 0-1)")
        if cfg.pad_perturb < 0:
            raise ConfigError(f"frontend.pad_perturb: {cfg.pad_perturb} (seconds, must be >= 0)")
        waveform_perturbations = cfg.pad_perturb > 0 or cfg.gain_perturb or cfg.noise_snr or cfg.reverb_rt60
        if waveform_perturbations and cfg.feature_source != "wav":
            raise ConfigError("frontend.pad_perturb, gain_perturb, noise_snr and reverb_rt60 need feature_source=wav "
                              "(they change the waveform)")
        self.fbank_opts = resolve_fbank_options(cfg)
        if cfg.vtlp:
            if len(cfg.vtlp) != 2 or not 0.5 <= cfg.vtlp[0] <= cfg.vtlp[1] <= 1.5 or cfg.feature_source != "wav":
                raise ConfigError(f"frontend.vtlp: expected [lo, hi] warp factors with 0.5 <= lo <= hi <= 1.5 "
                                  f"(Jaitly & Hinton drew from 0.9-1.1), and "
                                  f"feature_source=wav; got {cfg.vtlp} ({cfg.feature_source})")
            for a in cfg.vtlp:
                try:
                    dataclasses.replace(self.fbank_opts, vtln_warp=a).validate(f"frontend.vtlp {cfg.vtlp}")
                except FbankError as e:
                    raise ConfigError(str(e)) from None
        if cfg.eq_perturb < 0 or cfg.eq_order < 1 or (cfg.eq_perturb > 0 and not self.fbank_opts.use_log_fbank):
            raise ConfigError(f"frontend.eq_perturb: {cfg.eq_perturb} dB with eq_order {cfg.eq_order} (need "
                              f">= 0 dB, order >= 1, and log filterbanks: use-log-fbank=true)")
        self.fbank = Fbank(self.fbank_opts) if cfg.feature_source == "wav" else None
        self.feat_dim = self.fbank_opts.num_features
        # Count 0 = not set yet; the shape follows the statistics given (static or full dimension).
        self.register_buffer("global_stats", torch.zeros(2, self.output_dim + 1, dtype=torch.float64))
        if cfg.cmvn == "global" and cfg.cmvn_stats:
            self.set_global_stats(read_cmvn_stats(cfg.cmvn_stats))

    # -- properties ---------------------------------------------------------------------------
    @property
    def output_dim(self) -> int:
        """Feature dimension D of the output: ``F * (deltas + 1)``."""
        return self.feat_dim * (self.cfg.deltas + 1)

    @property
    def frame_shift(self) -> float:
        """Seconds between output frames."""
        return self.fbank_opts.frame_shift / 1000.0

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) the waveforms must have."""
        return int(self.fbank_opts.sample_frequency)

    @property
    def needs_global_stats(self) -> bool:
        """True when ``cmvn="global"`` and no statistics have been set yet."""
        return self.cfg.cmvn == "global" and not self.has_global_stats

    @property
    def has_global_stats(self) -> bool:
        """Whether global statistics are set (for ``cmvn: global``, or as the speaker prior)."""
        return float(self.global_stats[0, -1]) >= 1.0

    @property
    def needs_prior_stats(self) -> bool:
        """True when ``cmvn="speaker"`` with a prior (``cmvn_prior_frames``) and no global statistics yet."""
        return self.cfg.cmvn == "speaker" and self.cfg.cmvn_prior_frames > 0 and not self.has_global_stats

    def portable_config(self) -> FrontendConfig:
        """This config with the fbank option file folded into ``fbank_args`` (no file needed to rebuild)."""
        return dataclasses.replace(self.cfg, fbank_conf="", fbank_args=fbank_args(self.fbank_opts),
                                   num_mel_bins=0, sample_frequency=0.0, cmvn_stats="")

    # -- CMVN statistics -----------------------------------------------------------------------
    def _check_stats_dim(self, stats: torch.Tensor, what: str) -> None:
        dims = {self.output_dim + 1, self.feat_dim + 1}
        if stats.shape[-2] != 2 or stats.shape[-1] not in dims:
            raise ConfigError(f"{what} of shape {tuple(stats.shape)} do not fit this frontend: expected "
                              f"(2, {self.output_dim + 1}) or, applied before the deltas, (2, {self.feat_dim + 1})")

    def set_global_stats(self, stats: torch.Tensor) -> None:
        """Set the global CMVN statistics (stored in the ``state_dict``).

        Args:
            stats: (2, D+1) statistics of the pre-CMVN features (:meth:`features`),
                or (2, F+1) statistics of the static features (applied before the deltas).
        """
        stats = torch.as_tensor(stats, dtype=torch.float64)
        if stats.dim() != 2:
            raise ConfigError(f"global CMVN statistics must be (2, F+1), got shape {tuple(stats.shape)}")
        self._check_stats_dim(stats, "global CMVN statistics")
        self.global_stats = stats.to(self.global_stats.device).clone()

    def load_global_stats(self, path: str) -> None:
        """Read global statistics from a Kaldi matrix file (``compute-cmvn-stats`` output)."""
        self.set_global_stats(read_cmvn_stats(path))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        key = prefix + "global_stats"
        if key in state_dict and state_dict[key].shape != self.global_stats.shape:
            self.global_stats = torch.zeros_like(state_dict[key], device=self.global_stats.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- pipeline ------------------------------------------------------------------------------
    def perturb_speed(self, waves: torch.Tensor, lens: torch.Tensor,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Speed-perturb each waveform by a factor drawn from ``cfg.speed_perturb``.

        Args:
            waves: (B, N) padded waveforms.
            lens: (B,) valid samples.
            generator: random source for the factor choice (default: torch's global one).

        Returns:
            ``(waves (B, N'), lens (B,))``, re-padded with zeros.
        """
        factors = self.cfg.speed_perturb
        if not factors:
            return waves, lens
        gen_device = generator.device if generator is not None else torch.device("cpu")
        pick = torch.randint(len(factors), (waves.shape[0],), generator=generator, device=gen_device).tolist()
        out = [speed_perturb(waves[b, : int(lens[b])], self.sample_rate, factors[k]) for b, k in enumerate(pick)]
        return repad(waves, out, lens.device)

    def dither(self, x: torch.Tensor, x_lens: torch.Tensor, train: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Add ``cfg.dither`` Gaussian noise to waveforms (B, N), within each utterance's length.

        Kaldi dithers every frame with fresh noise, so its features are never quite the same
        twice. Here training draws fresh noise (``generator``, default torch's global one) and
        recognition adds one fixed pseudo-random sequence, the same for every utterance and
        batch, so decoding reproduces and a batched call equals per-utterance calls. Either way
        the spectrum gets a floor: digital silence no longer gives features far below
        anything seen in training.
        """
        if self.cfg.dither <= 0:
            return x
        if train:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        else:
            noise = _fixed_noise(x.shape[1]).to(device=x.device, dtype=x.dtype)[None].expand_as(x)
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < x_lens.to(x.device)[:, None]
        return x + (self.cfg.dither / KALDI_WAVE_SCALE) * noise * mask

    def _static(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) static features: fbank of waveforms, or the stored features checked."""
        if self.fbank is not None:
            if x.dim() != 2:
                raise ValueError(f"feature_source=wav expects (B, N) waveforms, got shape {tuple(x.shape)}")
            return self.fbank(x, x_lens)
        if x.dim() != 3 or x.shape[-1] != self.feat_dim:
            raise ValueError(f"feature_source=feats expects (B, T, {self.feat_dim}) features, "
                             f"got shape {tuple(x.shape)} (are the fbank options those of feats.scp?)")
        return x, x_lens

    def warped_fbank(self, x: torch.Tensor, x_lens: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The filterbank of each waveform under a VTLN warp drawn from ``cfg.vtlp`` (training).

        Factors are rounded to 0.01, so the batch is computed in a few groups, each with its own
        (cached) filters; the frame counts do not depend on the warp.
        """
        lo, hi = self.cfg.vtlp
        gen_device = generator.device if generator is not None else torch.device("cpu")
        warp = lo + (hi - lo) * torch.rand(x.shape[0], generator=generator, device=gen_device, dtype=torch.float64)
        warp = (warp * 100).round() / 100
        x_lens = x_lens.to(x.device)
        lens = num_frames(x_lens, self.fbank_opts)
        feats: torch.Tensor | None = None
        for a in warp.unique().tolist():
            idx = (warp == a).nonzero().flatten().to(x.device)
            f, _ = Fbank(dataclasses.replace(self.fbank_opts, vtln_warp=a))(x[idx], x_lens[idx])
            if feats is None:
                feats = f.new_zeros(x.shape[0], int(lens.max()), f.shape[-1])
            feats[idx, : f.shape[1]] = f
        assert feats is not None
        return feats, lens

    def features(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-CMVN features (fbank, deltas), no augmentation: what statistics are accumulated on.

        Args:
            x: (B, N) waveforms in [-1, 1] (feature_source=wav) or (B, T, F) features.
            x_lens: (B,) valid samples or frames.

        Returns:
            ``(feats (B, T, D), lens (B,))``; padded frames are zero.
        """
        if self.fbank is not None:
            x = self.dither(x, x_lens)  # the recognition-time (fixed) dither
        feats, lens = self._static(x, x_lens)
        return add_deltas(feats, lens, self.cfg.deltas, self.cfg.delta_window)

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor, spk_stats: torch.Tensor | None = None,
                generator: torch.Generator | None = None,
                train: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs from waveforms or stored features.

        Args:
            x: (B, N) waveforms in [-1, 1] at :attr:`sample_rate` (feature_source=wav)
                or (B, T, F) precomputed features (feature_source=feats), padded.
            x_lens: (B,) valid samples (wav) or frames (feats).
            spk_stats: (B, 2, D+1) or (B, 2, F+1) statistics of each utterance's
                speaker; required when ``cmvn="speaker"``.
            generator: random source for the waveform perturbations and SpecAugment
                (default: torch's global generator).
            train: apply training-only augmentation (default: ``self.training``).

        Returns:
            ``(x (B, T, D) float32, x_lens (B,))``; padded frames are zero.
        """
        cfg = self.cfg
        train = self.training if train is None else train
        if train and self.fbank is not None and cfg.speed_perturb:
            x, x_lens = self.perturb_speed(x, x_lens, generator)
        if train and self.fbank is not None and (cfg.pad_perturb > 0 or cfg.gain_perturb or cfg.noise_snr
                                                 or cfg.reverb_rt60):
            x, x_lens = perturb_waveforms(x, x_lens, self.sample_rate, cfg.pad_perturb, cfg.gain_perturb or None,
                                          cfg.noise_snr or None, generator, cfg.reverb_rt60 or None,
                                          tuple(cfg.reverb_drr), cfg.reverb_prob)
        if self.fbank is not None:
            x = self.dither(x, x_lens, train, generator)
        if train and cfg.vtlp and x.shape[0] > 0:
            feats, lens = self.warped_fbank(x, x_lens, generator)
        else:
            feats, lens = self._static(x, x_lens)
        if train and cfg.eq_perturb > 0:
            feats = eq_perturb(feats, lens, cfg.eq_perturb, cfg.eq_order, int(self.fbank_opts.use_energy), generator)
        stats: torch.Tensor | None = None
        if cfg.cmvn == "global":
            if self.needs_global_stats:
                raise ConfigError("cmvn=global but no global CMVN statistics were set "
                                  "(frontend.cmvn_stats, or set_global_stats before use)")
            stats = self.global_stats
        elif cfg.cmvn == "speaker":
            if spk_stats is None:
                raise ValueError("cmvn=speaker needs the speakers' statistics (spk_stats)")
            self._check_stats_dim(spk_stats, "speaker CMVN statistics")
            stats = self.with_prior(spk_stats.to(feats.device))
        if stats is not None and stats.shape[-1] == self.feat_dim + 1 and cfg.deltas > 0:
            # Static-dimension statistics: Kaldi's order, apply-cmvn then add-deltas.
            feats = apply_cmvn(feats, lens, stats, cfg.norm_vars)
            feats, lens = add_deltas(feats, lens, cfg.deltas, cfg.delta_window)
        else:
            feats, lens = add_deltas(feats, lens, cfg.deltas, cfg.delta_window)
            if cfg.cmvn == "utterance":
                stats = utterance_cmvn_stats(feats, lens)
            if stats is not None:
                feats = apply_cmvn(feats, lens, stats, cfg.norm_vars)
        if train and (cfg.num_freq_masks > 0 or cfg.num_time_masks > 0):
            feats = spec_augment(feats, lens, cfg.num_freq_masks, cfg.freq_mask_width, cfg.num_time_masks,
                                 cfg.time_mask_width, cfg.time_mask_ratio, generator=generator)
        return feats.float(), lens

    def with_prior(self, spk_stats: torch.Tensor) -> torch.Tensor:
        """Speaker statistics (B, 2, D+1) plus the global ones as a prior of ``cmvn_prior_frames`` frames.

        Unchanged when the prior is off or no global statistics of the same dimension are set
        (models trained before the prior existed).
        """
        g = self.global_stats
        if self.cfg.cmvn_prior_frames <= 0 or not self.has_global_stats or g.shape[-1] != spk_stats.shape[-1]:
            return spk_stats
        return spk_stats + (self.cfg.cmvn_prior_frames / float(g[0, -1])) * g.to(spk_stats)

    def extra_repr(self) -> str:
        c = self.cfg
        return (f"source={c.feature_source}, feat_dim={self.feat_dim}, deltas={c.deltas}, cmvn={c.cmvn}, "
                f"norm_vars={c.norm_vars}, output_dim={self.output_dim}")


_NOISE_BLOCK = 1 << 16
_NOISE = torch.zeros(0)  # the fixed sequence drawn so far, whole blocks


def _fixed_noise(n: int) -> torch.Tensor:
    """The first ``n`` samples of one fixed N(0, 1) sequence (blocks of 65,536 samples, block k seeded k)."""
    global _NOISE
    if _NOISE.numel() < n:
        blocks = [_NOISE] + [torch.randn(_NOISE_BLOCK, generator=torch.Generator().manual_seed(k))
                             for k in range(_NOISE.numel() // _NOISE_BLOCK, -(-n // _NOISE_BLOCK))]
        _NOISE = torch.cat(blocks)
    return _NOISE[:n]
