"""A recognition system: frontend + acoustic model + tokenizer + the config that made them.

:class:`System` is what a checkpoint holds and what training and decoding use:
raw input (waveforms or precomputed filterbank matrices) -> frontend (fbank,
deltas, CMVN, augmentation in training) -> model -> logits over the tokenizer's
units. :meth:`System.state` / :meth:`System.from_state` turn it into plain data
and back, so a checkpoint alone rebuilds the model *and* its frontend, without
the YAML or the ``fbank.conf`` it was trained with (their resolved values are
stored).

A system is defined by :class:`SystemConfig` alone (frontend, model, units);
the experiment config of training (:class:`asr.train.config.ExperimentConfig`:
data, optimizer, loop) is stored beside it in a checkpoint but never needed to
rebuild it. This module imports nothing from :mod:`asr.train`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from asr.config import from_dict, to_dict
from asr.errors import AsrError
from asr.features.fbank import Fbank, FbankOptions
from asr.features.frontend import Frontend, FrontendConfig
from asr.models import AcousticModel, EncoderConfig, build_model
from asr.text import Tokenizer

log = logging.getLogger(__name__)


@dataclass
class SystemConfig:
    """What defines a recognition system: features, acoustic model and output units."""

    frontend: FrontendConfig = field(default_factory=FrontendConfig)  # features
    model: EncoderConfig = field(default_factory=EncoderConfig)  # acoustic model
    units: str = "char"  # output units: char | bpe | phone (the tokenizer itself is stored with the system)
    bpe_vocab_size: int = 0  # sentencepiece vocabulary size (units=bpe; 0 otherwise)


def system_config_of(state: dict[str, Any], where: str) -> SystemConfig:
    """The :class:`SystemConfig` of a checkpoint: its ``system`` entry, or (older checkpoints) the
    frontend, model and units sections of the experiment config stored under ``config``."""
    if "system" in state:
        return from_dict(SystemConfig, state["system"], where=f"{where}: system")
    cfg = state["config"]
    data = cfg.get("data", {})
    units = data.get("units", "char")
    return from_dict(SystemConfig, {"frontend": cfg.get("frontend", {}), "model": cfg.get("model", {}),
                                    "units": units,
                                    "bpe_vocab_size": data.get("bpe_vocab_size", 0) if units == "bpe" else 0},
                     where=f"{where}: config")


class System(nn.Module):
    """Frontend + acoustic model + tokenizer, with the system config that made them.

    Args:
        cfg: the portable system config (see :func:`build_system`).
        frontend: the feature frontend (holds the fbank options and CMVN statistics); its
            config must be portable (:meth:`asr.features.frontend.Frontend.portable_config`).
        model: the acoustic model (input dim = the frontend's output dim).
        tokenizer: the output units (index 0 = CTC blank).
    """

    def __init__(self, cfg: SystemConfig, frontend: Frontend, model: AcousticModel, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.cfg = cfg
        self.frontend = frontend
        self.model = model
        self.tokenizer = tokenizer
        self._fbank: Fbank | None = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def fbank_options(self) -> FbankOptions:
        """The resolved filterbank options (from ``fbank.conf`` and the config)."""
        return self.frontend.fbank_opts

    @property
    def feature_source(self) -> str:
        """``wav`` (features computed from waveforms) or ``feats`` (precomputed, ``feats.scp``)."""
        return self.frontend.cfg.feature_source

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) the frontend expects; audio is resampled to it."""
        return self.frontend.sample_rate

    @property
    def frame_shift(self) -> float:
        """Seconds per feature frame (before the model's subsampling)."""
        return self.frontend.frame_shift

    @property
    def subsample(self) -> int:
        """Feature frames per model output frame."""
        return int(self.model.subsample)

    def min_duration(self, waves: bool, train: bool = False) -> float:
        """Seconds of input that give one output frame: one filterbank window of a waveform
        (``waves``; with the fastest speed perturbation when ``train``), one frame of a feature matrix."""
        if not waves:
            return self.frame_shift
        opts = self.fbank_options
        samples = opts.window_size if opts.snip_edges else opts.window_shift - opts.window_shift // 2
        fastest = max(self.frontend.cfg.speed_perturb, default=1.0) if train else 1.0
        return samples * max(fastest, 1.0) / self.sample_rate

    @property
    def input_dim(self) -> int:
        """Feature dimension the model reads (the frontend's output)."""
        return int(self.frontend.output_dim)

    @property
    def needs_global_cmvn(self) -> bool:
        """Whether global CMVN statistics still have to be estimated (``cmvn: global`` without stats)."""
        return self.frontend.needs_global_stats

    @property
    def needs_cmvn_prior(self) -> bool:
        """Whether a ``cmvn: speaker`` system still needs the global statistics of its speaker prior."""
        return self.frontend.needs_prior_stats

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.model.parameters()).device

    # -- computation --------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, x_lens: torch.Tensor, train: bool = False,
                spk_stats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of a padded batch of raw inputs.

        Args:
            x: (B, N) waves in [-1, 1] at :attr:`sample_rate` (``feature_source`` wav) or
                (B, T, F) filterbank features (``feats``), padded.
            x_lens: (B,) valid samples or frames.
            train: apply the frontend's training-time augmentation (speed perturbation,
                SpecAugment), drawing from torch's global generator (default False).
            spk_stats: (B, 2, D+1) CMVN statistics of each utterance's speaker (``cmvn: speaker``).

        Returns:
            ``(logits (B, T', V), out_lens (B,))``, unnormalised.
        """
        feats, f_lens = self.frontend(x, x_lens, spk_stats=spk_stats, train=train)
        return self.model(feats, f_lens)

    def static_features(self, waves: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Filterbank features (B, T, F) of waves (B, N): what ``feats.scp`` holds for this system."""
        if self._fbank is None:
            self._fbank = Fbank(self.fbank_options).to(waves.device)
        return self._fbank(waves, lens)

    def frontend_inputs(self, x: torch.Tensor, x_lens: torch.Tensor, waves: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """What the frontend reads: waveforms (``waves``) given to a ``feats`` system become its filterbank features."""
        if waves and self.feature_source == "feats":
            return self.static_features(x, x_lens)
        return x, x_lens

    def recognize_logits(self, x: torch.Tensor, x_lens: torch.Tensor, waves: bool = True,
                         spk_stats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for recognition, from waveforms whatever the feature source, or from raw inputs.

        Args:
            x: (B, N) audio in [-1, 1] at :attr:`sample_rate` (``waves``), or (B, T, F) features
                when ``waves`` is False and the system reads ``feats.scp``; padded.
            x_lens: (B,) valid samples or frames.
            waves: whether ``x`` holds waveforms (default True); for a ``feats`` system the
                filterbank is computed here with the options it was trained on.
            spk_stats: (B, 2, D+1) speaker statistics for ``cmvn: speaker``; when None each
                utterance is taken as its own speaker.

        Returns:
            ``(logits (B, T', V), out_lens (B,))``.
        """
        x, x_lens = self.frontend_inputs(x, x_lens, waves)
        if self.frontend.cfg.cmvn == "speaker" and spk_stats is None:
            spk_stats = self.utterance_stats(x, x_lens)
        return self(x, x_lens, spk_stats=spk_stats)

    @torch.no_grad()
    def utterance_stats(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        """(B, 2, D+1) CMVN statistics of each utterance of a padded batch of raw inputs."""
        from asr.features.cmvn import utterance_cmvn_stats

        feats, f_lens = self.frontend.features(x.to(self.device), x_lens.to(self.device))
        return utterance_cmvn_stats(feats.double(), f_lens)

    @torch.no_grad()
    def cmvn_stats(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        """Kaldi-layout CMVN statistics (2, D+1) of a padded batch of raw inputs (before normalisation)."""
        return self.utterance_stats(x, x_lens).sum(0).cpu()

    def set_global_cmvn(self, stats: torch.Tensor) -> None:
        """Store global CMVN statistics (2, D+1) in the frontend (and so in every checkpoint)."""
        self.frontend.set_global_stats(stats)

    # -- (de)serialisation --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain-data state: portable system config, frontend (with CMVN statistics), model and tokenizer."""
        return {"system": to_dict(self.cfg),
                "frontend": {k: v.detach().cpu() for k, v in self.frontend.state_dict().items()},
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "tokenizer": self.tokenizer.state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> System:
        """Rebuild a system from :meth:`state` (or a checkpoint holding it).

        Raises:
            AsrError: the state does not fit this version of the toolkit.
        """
        where = state.get("path", "checkpoint")
        try:
            cfg = system_config_of(state, where)
            tokenizer = Tokenizer.from_state(state["tokenizer"])
            system = build_system(cfg, tokenizer)
            system.frontend.load_state_dict(state["frontend"])
            system.model.load_state_dict(state["model"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise AsrError(f"{where}: cannot rebuild the system from it ({type(e).__name__}: {e})") from e
        return system


def portable_system_config(cfg: SystemConfig) -> SystemConfig:
    """``cfg`` with the fbank option file folded in and no file path left (what a checkpoint stores).

    Raises:
        AsrError: an unreadable fbank option file (named with its line).
    """
    return dataclasses.replace(cfg, frontend=Frontend(cfg.frontend).portable_config())


def build_system(cfg: SystemConfig, tokenizer: Tokenizer) -> System:
    """A freshly initialised system (seed torch before calling).

    The system keeps a *portable* copy of the config: the fbank option file (and a
    CMVN statistics file) are folded in, so its :meth:`System.state` needs no other file.

    Args:
        cfg: the system config; ``frontend.fbank_conf`` and ``frontend.cmvn_stats`` are read
            here (relative to the current directory).
        tokenizer: the output units.
    """
    frontend = Frontend(cfg.frontend)
    model = build_model(cfg.model, frontend.output_dim, tokenizer.vocab_size)
    return System(dataclasses.replace(cfg, frontend=frontend.portable_config()), frontend, model, tokenizer)
