"""Fine-tuning: a training run that starts from another model's system (``train.init_from``).

The frontend (with its CMVN statistics), the tokenizer and the model come from the init
model; the run gets a fresh optimizer and learning-rate schedule. What the user's config
may still change:

- the input: a ``feats`` model fine-tuned on a data dir without ``feats.scp`` reads its
  waveforms and computes the same filterbanks on the fly, from the fbank options stored in it;
- training-only options: the frontend's augmentation (SpecAugment, speed, padding, gain,
  noise, dither) and ``model.dropout`` when they differ from the defaults;
- the output units (``train.init_units``): ``keep`` the init model's units (a transcript
  with a unit it lacks is an error naming the utterance), ``extend`` them with the units of
  the new transcripts (char or phone units: rows of the output layer are kept for every
  unit the two inventories share, by name; new rows start as a fresh layer's), or ``new``
  units built from the new transcripts with a fresh output layer;
- ``train.freeze_layers``: the lowest K recurrent layers keep their weights.

Nothing here is needed to rebuild the fine-tuned model: its checkpoints hold its system as
any other does.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asr.checkpoint import load_checkpoint
from asr.config import ConfigError
from asr.features.frontend import FrontendConfig
from asr.models import EncoderConfig
from asr.models.encoder import recurrent_layer_of
from asr.system import System
from asr.text import Tokenizer, build_tokenizer

log = logging.getLogger(__name__)

INIT_UNITS = ("keep", "extend", "new")
# Frontend fields that change only training (augmentation), never the features a model sees in recognition.
TRAINING_ONLY_FRONTEND = ("num_freq_masks", "freq_mask_width", "num_time_masks", "time_mask_width",
                          "time_mask_ratio", "speed_perturb", "dither", "pad_perturb", "gain_perturb", "noise_snr",
                          "reverb_rt60", "reverb_drr", "reverb_prob", "vtlp", "eq_perturb", "eq_order")


def init_system(path: str, user_frontend: FrontendConfig, user_model: EncoderConfig, units: str,
                texts: Sequence[str], init_units: str = "keep", freeze_layers: int = 0,
                tokenizer_opts: dict[str, Any] | None = None, train_dir: str = "") -> System:
    """The system a fine-tuning run starts from.

    Args:
        path: checkpoint file or experiment dir of the init model.
        user_frontend, user_model: the run's own config sections (see the module docstring for
            what of them applies).
        units: the run's ``data.units`` (used by ``init_units`` = new).
        texts: the new training transcripts.
        init_units: keep | extend | new.
        freeze_layers: freeze the lowest K recurrent layers.
        tokenizer_opts: ``build_tokenizer`` options of the run (bpe vocabulary size, lexicon).
        train_dir: the training data dir (whether it has ``feats.scp``).

    Raises:
        AsrError: an unreadable init model, options that do not fit it.
    """
    if init_units not in INIT_UNITS:
        raise ConfigError(f"train.init_units: {init_units!r} ({' | '.join(INIT_UNITS)})")
    state = load_checkpoint(path)
    base = System.from_state(state)
    log.info("fine-tuning from %s: %s model, %d %s units", state["path"], _describe(base.cfg.model),
             base.tokenizer.vocab_size, base.tokenizer.kind)
    cfg = _fine_tune_config(base, user_frontend, user_model, train_dir)
    tokenizer = base.tokenizer
    if init_units == "extend":
        tokenizer = _extended(base.tokenizer, texts, tokenizer_opts or {})
    elif init_units == "new":
        tokenizer = build_tokenizer(units, list(texts), **(tokenizer_opts or {}))
    from asr.system import build_system

    system = build_system(cfg, tokenizer)
    frontend_state = dict(state["frontend"])
    missing, unexpected = system.frontend.load_state_dict(frontend_state, strict=False)
    if unexpected:
        raise ConfigError(f"{state['path']}: its frontend does not fit the fine-tuning config "
                          f"(unexpected {', '.join(unexpected)})")
    model_state = {k: v for k, v in state["model"].items() if not k.startswith("output.")}
    system.model.load_state_dict(model_state, strict=False)
    _init_output(system.model.output, base.model.output, base.tokenizer.tokens, tokenizer.tokens, init_units)
    if init_units != "keep":
        kept = len(set(base.tokenizer.tokens) & set(tokenizer.tokens)) if init_units == "extend" else 0
        log.info("units: %s, %d (%d of them with the init model's output weights)", init_units,
                 tokenizer.vocab_size, kept)
    if freeze_layers:
        freeze_lowest_layers(system, freeze_layers)
    return system


def _describe(m: EncoderConfig) -> str:
    return (f"{m.layers}x{m.hidden}{f' p{m.proj}' if m.proj else ''} "
            f"{'bidirectional' if m.bidirectional else 'unidirectional'} {m.cell}")


def _fine_tune_config(base: System, user_frontend: FrontendConfig, user_model: EncoderConfig,
                      train_dir: str) -> Any:
    """The init model's system config with the input the data has and the user's training-only options."""
    default_frontend, default_model = FrontendConfig(), EncoderConfig()
    source = base.cfg.frontend.feature_source
    if source == "feats" and train_dir and not (Path(train_dir) / "feats.scp").is_file():
        source = "wav"
    changes: dict[str, Any] = {"feature_source": source}
    for name in TRAINING_ONLY_FRONTEND:
        value = getattr(user_frontend, name)
        if value != getattr(default_frontend, name):
            changes[name] = value
    frontend = dataclasses.replace(base.cfg.frontend, **changes)
    model = base.cfg.model
    if user_model.dropout != default_model.dropout:
        model = dataclasses.replace(model, dropout=user_model.dropout)
    if frontend.feature_source != base.cfg.frontend.feature_source:
        log.info("fine-tuning input: waveforms of %s (no feats.scp; the init model read feats.scp): the "
                 "same filterbanks, computed on the fly", train_dir)
    return dataclasses.replace(base.cfg, frontend=frontend, model=model)


def _extended(tok: Tokenizer, texts: Sequence[str], opts: dict[str, Any]) -> Tokenizer:
    """The init model's units plus those of ``texts`` (char: their characters; phone: the run's lexicon)."""
    if tok.kind == "char":
        new = build_tokenizer("char", [*texts, *(t for t in tok.tokens[2:])], case=tok.case)
        return new
    if tok.kind == "phone":
        if not opts.get("lexicon"):
            raise ConfigError("train.init_units=extend with phone units needs data.lexicon (the new words)")
        return build_tokenizer("phone", [], lexicon=opts["lexicon"], case=tok.case)
    raise ConfigError(f"train.init_units=extend works for char and phone units, not {tok.kind} "
                      f"(use keep, or new for a new BPE model)")


def _init_output(new: nn.Linear, old: nn.Linear, old_tokens: list[str], new_tokens: list[str],
                 how: str) -> None:
    """Copy the init model's output rows into ``new`` for every unit both inventories name."""
    if how == "new":
        return  # a fresh layer (build_system initialised it)
    index = {t: i for i, t in enumerate(old_tokens)}
    with torch.no_grad():
        for j, t in enumerate(new_tokens):
            i = index.get(t)
            if i is not None:
                new.weight[j].copy_(old.weight[i])
                new.bias[j].copy_(old.bias[i])


def freeze_lowest_layers(system: System, k: int) -> list[str]:
    """Freeze the lowest ``k`` recurrent layers (and the frontend's learnt parts, if any); returns their names."""
    layers = system.cfg.model.layers
    if not 0 < k <= layers:
        raise ConfigError(f"train.freeze_layers: {k} (the model has {layers} recurrent layers)")
    frozen = []
    for name, p in system.model.named_parameters():
        layer = recurrent_layer_of(name)
        if layer is not None and layer < k:
            p.requires_grad_(False)
            frozen.append(name)
    log.info("froze the lowest %d of %d recurrent layers (%d tensors, %d parameters)", k, layers, len(frozen),
             sum(p.numel() for n, p in system.model.named_parameters() if n in set(frozen)))
    return frozen
