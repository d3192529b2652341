"""The training loop: one trainer for every criterion and (later) every distributed back-end.

The loop is assembled from parts that other training modes replace without
copying it:

- the *system* (:class:`asr.system.System`): frontend + model + tokenizer;
- the *criterion* (:mod:`asr.train.criteria`): targets, loss and error count (CTC here;
  frame-level cross-entropy on alignments implements the same three methods);
- the *step* (:class:`asr.train.step.TrainStep`): frontend -> model -> criterion, the
  module a DDP wrapper wraps;
- the *back-end* (:mod:`asr.train.backend`): sharding of an epoch's batches, reduction of
  sums, application of an update;
- the *checkpointer* (:class:`asr.train.checkpoint.Checkpointer`): epoch checkpoints,
  pruning, the averaged ``final.pt``, resume;
- the *data* (:class:`asr.batches.UtteranceData`), shared with recognition.

Losses are reported per target unit (token or frame): the criterion returns a
summed loss and its count.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from asr.batches import UtteranceData, pad_sequences
from asr.config import ConfigError, from_dict, to_dict, to_yaml
from asr.device import resolve_device
from asr.errors import AsrError
from asr.fileio import atomic_save_bytes, atomic_write
from asr.system import System, SystemConfig, build_system, portable_system_config, system_config_of
from asr.train.backend import Backend, make_backend
from asr.train.checkpoint import Checkpointer
from asr.train.config import ExperimentConfig, OptimConfig
from asr.train.criteria import CRITERIA, Criterion, make_criterion
from asr.train.schedule import LRScheduler
from asr.train.step import Batch, StepOutput, TrainStep

log = logging.getLogger(__name__)


class TrainingError(AsrError):
    """Training cannot go on (too many non-finite losses, no usable batch)."""


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) random generator states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


OPTIMIZERS = ("adam", "sgd")


def check_config(cfg: ExperimentConfig) -> None:
    """Reject option values the trainer does not know before any work is done.

    Raises:
        AsrError: naming the option and its allowed values.
    """
    from asr.train.backend import DIST_MODES

    checks = [("optim.optimizer", cfg.optim.optimizer, OPTIMIZERS), ("train.dist", cfg.train.dist, DIST_MODES),
              ("optim.schedule", cfg.optim.schedule, ("constant", "exp", "newbob")),
              ("train.criterion", cfg.train.criterion, CRITERIA),
              ("data.units", cfg.data.units, ("char", "bpe", "phone", "pdf"))]
    for name, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {' | '.join(allowed)}")
    t, d = cfg.train, cfg.data
    if (t.criterion == "ce") != (d.units == "pdf"):
        raise ConfigError(f"train.criterion {t.criterion} with data.units {d.units}: frame-level cross-entropy "
                          f"(ce) trains pdf units (data.units pdf, data.alignments DIR) and only those")
    if t.criterion == "ce":
        if not d.alignments and not t.init_from:
            raise ConfigError("train.criterion ce needs data.alignments (an alignment dir such as exp/mono_ali, "
                              "or a pdf archive with data.num_pdfs)")
        if d.dev and not d.dev_alignments:
            raise ConfigError(f"data.dev {d.dev}: frame-level training scores the dev set against its alignments: "
                              f"set data.dev_alignments (steps/align_si.sh on the dev set), or no data.dev")
        if any(f != 1.0 for f in cfg.frontend.speed_perturb) or cfg.frontend.pad_perturb:
            raise ConfigError("frontend.speed_perturb and frontend.pad_perturb change the frames, which the "
                              "alignments fix: not with train.criterion ce")
    if t.chunk_width < 0:
        raise ConfigError(f"train.chunk_width: must be >= 0, got {t.chunk_width}")
    if t.chunk_width and cfg.model.bidirectional:
        raise ConfigError("train.chunk_width (truncated BPTT with carried state) is for unidirectional models; a "
                          "bidirectional model trains on whole utterances (train.chunk_width 0)")
    if t.dist == "asgd" and cfg.model.proj_max_norm > 0:
        raise ConfigError("model.proj_max_norm with train.dist asgd: the servers apply the updates and know no "
                          "constraints; use ddp, model-avg or hogwild, or model.proj_max_norm 0")
    for name, value in (("data.max_frames", cfg.data.max_frames), ("data.max_utts", cfg.data.max_utts),
                        ("train.max_bad_batches", cfg.train.max_bad_batches), ("train.asgd_servers", t.asgd_servers),
                        ("train.pull_interval", t.pull_interval)):
        if value < 1:
            raise ConfigError(f"{name}: must be >= 1, got {value}")


def _injected_failure(rank: int, epoch: int) -> None:
    """For tests of restarts: ``ASR_FAULT_EXIT=<rank>:<epoch>`` ends that worker's process with status 1 at
    the start of that epoch, in torchrun's first attempt only (``TORCHELASTIC_RESTART_COUNT`` 0)."""
    spec = os.environ.get("ASR_FAULT_EXIT")
    if not spec or os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        return
    r, e = (int(v) for v in spec.split(":"))
    if (r, e) == (rank, epoch):
        log.error("ASR_FAULT_EXIT: worker %d fails at the start of epoch %d", rank, epoch)
        logging.shutdown()
        os._exit(1)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


# SystemConfig fields -> the experiment option a user sets them with
_SYSTEM_OPTION = {"units": "data.units", "bpe_vocab_size": "data.bpe_vocab_size"}


def _resume_options(system: SystemConfig, optim: OptimConfig) -> dict[str, Any]:
    """The options ``--resume`` keeps, by the name a user sets them with (``model.hidden``, ``data.units``)."""
    out = {_SYSTEM_OPTION.get(k, k): v for k, v in _flat(to_dict(system)).items()}
    if system.units != "bpe":
        out.pop("data.bpe_vocab_size")
    return {**out, **_flat(to_dict(optim), "optim.")}


def check_resume(cfg: ExperimentConfig, state: dict[str, Any]) -> None:
    """Refuse a config whose system or optimizer options differ from the checkpoint it resumes.

    A resumed run keeps the checkpoint's model, its features, units and optimizer; its data and
    loop options (``train.epochs``, ...) come from ``cfg``. Once nothing contradicts, ``cfg`` is the
    config the run trains with.

    Raises:
        ConfigError: naming every contradicting option in one message.
    """
    where = state.get("path", "checkpoint")
    saved_system = system_config_of(state, where)
    saved_optim = from_dict(OptimConfig, state.get("config", {}).get("optim", {}), where=f"{where}: config.optim")
    given = _resume_options(portable_system_config(cfg.system()), cfg.optim)
    saved = _resume_options(saved_system, saved_optim)
    diff = [f"{k}={given[k]!r} (the checkpoint has {saved[k]!r})" for k in sorted(given)
            if k in saved and given[k] != saved[k]]
    if diff:
        raise ConfigError(f"--resume from {where}: the config contradicts the checkpoint: {'; '.join(diff)}. "
                          f"Resuming keeps the model, its features, units and optimizer; drop these options, or "
                          f"train into a new experiment dir")


class Trainer:
    """Trains a system on a data dir; writes epoch checkpoints and ``final.pt`` into ``exp_dir``.

    Args:
        cfg: the resolved experiment config.
        exp_dir: output directory (created).
        resume: continue from the newest ``epoch-N.pt`` in ``exp_dir`` (default False). The
            system, optimizer, schedule and random state come from the checkpoint; the data and
            loop options (e.g. ``train.epochs``) from ``cfg``. A ``cfg`` whose system or optimizer
            options contradict the checkpoint is refused (:func:`resume_config`).
        progress: show a progress bar per epoch (default False; the CLI enables it on a terminal).
        backend: how batches are sharded, sums reduced and updates applied (default: one process).
    """

    def __init__(self, cfg: ExperimentConfig, exp_dir: str | Path, resume: bool = False,
                 progress: bool = False, backend: Backend | None = None) -> None:
        check_config(cfg)
        self._labels: dict[bool, Any] = {}  # frame_labels(), read once
        self.exp = Path(exp_dir)
        self.exp.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        # early stopping may end at an epoch up to early_stop epochs back: keep those
        self.checkpointer = Checkpointer(self.exp, cfg.train.keep_last and cfg.train.keep_last + cfg.train.early_stop,
                                         cfg.train.average_last)
        self.cfg = cfg
        self.device = resolve_device(cfg.train.device)
        if cfg.train.dist != "none" and self.device.type == "cuda" and os.environ.get("LOCAL_RANK"):
            self.device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # one GPU per torchrun worker
            torch.cuda.set_device(self.device)
        self.amp = cfg.train.amp and self.device.type == "cuda"
        if cfg.train.amp and not self.amp:
            log.warning("train.amp: mixed precision needs CUDA; training in float32 on %s", self.device)
        self.backend: Backend = backend or make_backend(cfg.train.dist, amp=self.amp, device=self.device,
                                                        avg_every=cfg.train.avg_every, train=cfg.train,
                                                        optim=cfg.optim)
        log.info("distributed: %s, %d worker%s", cfg.train.dist if self.backend.world_size > 1 else "none",
                 self.backend.world_size, "s" if self.backend.world_size > 1 else "")
        if self.backend.is_main:
            self.checkpointer.clean()
        resume_state = None
        if resume:
            resume_state = self.checkpointer.latest()
            if resume_state is None:
                log.warning("--resume: no epoch checkpoint in %s; starting from scratch", self.exp)
            else:
                if not cfg.train.init_from:  # a fine-tuning run's system is the init model's, not its config's
                    check_resume(cfg, resume_state)
                self.checkpointer.check_can_average(resume_state["epoch"], cfg.train.epochs)
                log.info("resuming from %s (epoch %d)", resume_state["path"], resume_state["epoch"])
        if cfg.train.num_threads > 0:
            torch.set_num_threads(cfg.train.num_threads)
        seed_everything(cfg.train.seed)
        self.system = self._system(resume_state)
        self.train_data, self.dev_data = self._data()
        if resume_state is None and (self.system.needs_global_cmvn or self.system.needs_cmvn_prior):
            stats = torch.zeros_like(self.system.frontend.global_stats)
            if self.backend.is_main:  # computed once, by the main worker
                if self.system.needs_global_cmvn:
                    stats = self._global_cmvn_stats()
                else:  # the training speakers' statistics summed: the prior of frontend.cmvn_prior_frames
                    spk = self.train_data.speaker_stats(self.system.utterance_stats)
                    stats = torch.stack(list(spk.values())).sum(0)
            self.system.set_global_cmvn(self.backend.broadcast(stats))
        if self.backend.world_size > 1:  # the same initial model, but each worker its own dropout/augmentation
            seed_everything(cfg.train.seed + 1009 * self.backend.rank)
        self.system.to(self.device)
        self.criterion = self.make_criterion()
        if cfg.train.criterion == "ce" and self.backend.is_main:
            self._copy_alignment_model()
        for data in (self.train_data, self.dev_data):
            if data is not None:
                self._drop_unalignable(data)
        self.train_step = self.backend.wrap(TrainStep(self.system, self.criterion, amp=self.amp,
                                                      chunk_width=cfg.train.chunk_width))
        self.optimizer = self._optimizer()
        o = cfg.optim
        self.scheduler = LRScheduler(o.lr, o.warmup_steps, o.schedule, o.decay, o.newbob_threshold, o.min_lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.epoch = 0
        self.step = 0
        self.history: list[dict[str, Any]] = []
        if resume_state is not None:
            self.optimizer.load_state_dict(resume_state["optimizer"])
            self.scheduler.load_state_dict(resume_state["scheduler"])
            if resume_state.get("scaler"):
                self.scaler.load_state_dict(resume_state["scaler"])
            self.epoch, self.step = resume_state["epoch"], resume_state["step"]
            self.history = list(resume_state["history"])
            set_rng_state(resume_state["rng"])
        log.info("model: %s; %d parameters; %d output units (%s); device %s", cfg.model.cell,
                 self.system.model.num_parameters(), self.system.tokenizer.vocab_size, cfg.data.units,
                 self.device)

    # -- set-up (override points for other criteria and back-ends) ------------------------------
    def _system(self, resume_state: dict[str, Any] | None) -> System:
        cfg = self.cfg
        if resume_state is not None:
            system = System.from_state(resume_state)
            if cfg.train.init_from:
                self._describe_system(system)
                if cfg.train.freeze_layers:  # not stored: the same layers again, before the optimizer is built
                    from asr.train.init import freeze_lowest_layers

                    freeze_lowest_layers(system, cfg.train.freeze_layers)
            return system
        from asr.datadir import DataDir
        from asr.text import build_tokenizer

        if not cfg.data.train:
            raise AsrError("no training data dir: set data.train")
        if cfg.train.freeze_layers and not cfg.train.init_from:
            raise ConfigError("train.freeze_layers needs train.init_from (a model to fine-tune)")
        if cfg.data.units == "pdf" and not cfg.train.init_from:
            from asr.align.labels import pdf_counts
            from asr.text import PdfUnits

            labels = self.frame_labels()
            utts = list(DataDir.load(cfg.data.train).utt2spk)
            counts = pdf_counts(labels, utts)
            log.info("pdf units: %d pdfs from %s; priors from %d frames of %d training utterances", labels.num_pdfs,
                     labels.source, int(counts.sum()), sum(u in labels.pdfs for u in utts))
            return build_system(cfg.system(), PdfUnits(labels.num_pdfs, counts.tolist()))
        texts = DataDir.load(cfg.data.train).text
        if texts is None:
            raise AsrError(f"{cfg.data.train}/text: missing (needed for training)")
        if not any(t.strip() for t in texts.values()):
            raise AsrError(f"{cfg.data.train}/text: {'every transcript is empty' if texts else 'empty file'}: "
                           f"nothing to build the {cfg.data.units} units from")
        opts: dict[str, Any] = {}
        if cfg.data.units == "bpe":
            opts["vocab_size"] = cfg.data.bpe_vocab_size
        if cfg.data.units == "phone":
            if not cfg.data.lexicon:
                raise AsrError("data.units=phone needs data.lexicon (a pronunciation lexicon)")
            opts["lexicon"] = cfg.data.lexicon
        if cfg.train.init_from:
            from asr.train.init import init_system

            system = init_system(cfg.train.init_from, cfg.frontend, cfg.model, cfg.data.units,
                                 list(texts.values()), cfg.train.init_units, cfg.train.freeze_layers, opts,
                                 train_dir=cfg.data.train)
            self._describe_system(system)
            return system
        tokenizer = build_tokenizer(cfg.data.units, list(texts.values()), **opts)
        return build_system(cfg.system(), tokenizer)

    def frame_labels(self, dev: bool = False) -> Any:
        """The frame labels of ``data.alignments`` (``dev``: ``data.dev_alignments``), read once."""
        from asr.align.labels import load_frame_labels

        if dev not in self._labels:
            d = self.cfg.data
            self._labels[dev] = load_frame_labels(d.dev_alignments if dev else d.alignments, d.num_pdfs)
        return self._labels[dev]

    def _copy_alignment_model(self) -> None:
        """A hybrid system decodes with its alignment model's transition model and tree: copy
        ``final.mdl``, ``tree`` and ``phones.txt`` of the alignment dir into the experiment dir
        (Kaldi's nnet dirs hold them too), so ``utils/mkgraph.sh <lang> <exp> <exp>/graph`` works."""
        labels = self.frame_labels()
        if labels.model_dir is None:
            log.warning("%s is a pdf archive: no final.mdl and tree to decode with; copy the alignment model's "
                        "final.mdl and tree into %s before utils/mkgraph.sh", labels.source, self.exp)
            return
        for name in ("final.mdl", "tree", "phones.txt"):
            src = labels.model_dir / name
            if src.is_file():
                atomic_save_bytes(self.exp / name, src.read_bytes())

    def _describe_system(self, system: System) -> None:
        """The run's config describes the system it trains (written to config.yaml and checkpoints)."""
        c = self.cfg
        self.cfg = dataclasses.replace(c, frontend=system.cfg.frontend, model=system.cfg.model,
                                       data=dataclasses.replace(c.data, units=system.tokenizer.kind))

    def _data(self) -> tuple[UtteranceData, UtteranceData | None]:
        cfg, s = self.cfg, self.system
        if not cfg.data.train:
            raise AsrError("no training data dir: set data.train")
        waves = s.feature_source == "wav"
        train = UtteranceData(cfg.data.train, s.feature_source, s.sample_rate, s.frame_shift,
                              max_duration=cfg.data.max_duration, cache=cfg.data.cache, skip_bad=cfg.data.skip_bad,
                              keep_empty=cfg.data.keep_empty, min_duration=s.min_duration(waves, train=True))
        dev = None
        if cfg.data.dev:
            dev = UtteranceData(cfg.data.dev, s.feature_source, s.sample_rate, s.frame_shift,
                                cache=cfg.data.cache, skip_bad=cfg.data.skip_bad, keep_empty=cfg.data.keep_empty,
                                min_duration=s.min_duration(waves))
        log.info("training on %d utterances (%.2f h) from %s; dev: %s", len(train),
                 sum(train.durations) / 3600, cfg.data.train,
                 f"{len(dev)} utterances from {cfg.data.dev}" if dev else "none")
        return train, dev

    def _drop_unalignable(self, data: UtteranceData) -> None:
        """Leave out, naming each, the utterances too short for their transcripts.

        CTC cannot align more tokens than output frames (its loss is infinite, then zeroed):
        such an utterance would train nothing and its absence would go unnoticed.
        """
        s = self.system
        per_frame = s.frame_shift * s.subsample  # seconds per output frame
        dropped = []
        for u, target in zip(data.utts, self.criterion.targets(data.utts)):
            frames = int(u.duration / per_frame + 1e-6)
            why = self.criterion.unusable(u.utt, target, frames, per_frame)
            if why is not None:
                dropped.append(u.utt)
                if len(dropped) <= 20:
                    log.warning("%s: utterance '%s' cannot be trained on: %s; left out", data.path, u.utt, why)
        if dropped:
            keep = set(dropped)
            data.utts = [u for u in data.utts if u.utt not in keep]
            log.warning("%s: left out %d utterance(s) that cannot be trained on%s", data.path, len(dropped),
                        " (the first 20 named above)" if len(dropped) > 20 else "")
            if not data.utts:
                raise AsrError(f"{data.path}: no utterance can be trained on (see the warnings above)")

    def make_criterion(self) -> Criterion:
        """The training criterion named by ``train.criterion``."""
        if self.cfg.train.criterion != "ce":
            return make_criterion(self.cfg.train.criterion, self.system.tokenizer)
        labels = self.frame_labels()
        if labels.num_pdfs != self.system.tokenizer.vocab_size:
            raise AsrError(f"{labels.source}: {labels.num_pdfs} pdfs, the model has {self.system.tokenizer.vocab_size} "
                           f"outputs (alignments of another model?)")
        pdfs = dict(labels.pdfs)
        sources = labels.source
        if self.cfg.data.dev:
            dev = self.frame_labels(dev=True)
            if dev.num_pdfs != labels.num_pdfs:
                raise AsrError(f"{dev.source}: {dev.num_pdfs} pdfs, {labels.source} {labels.num_pdfs}: the dev "
                               f"alignments must come from the same model")
            pdfs.update({u: p for u, p in dev.pdfs.items() if u not in pdfs})
            sources += f" or {dev.source}"
        return make_criterion("ce", self.system.tokenizer, pdfs, self.system.subsample, sources)

    def _optimizer(self) -> torch.optim.Optimizer:
        from asr.train.async_sgd import make_optimizer

        return make_optimizer([p for p in self.system.parameters() if p.requires_grad], self.cfg.optim)

    def _global_cmvn_stats(self) -> torch.Tensor:
        """One pass over the training inputs to estimate global CMVN statistics."""
        t0 = time.time()
        stats = None
        for idx in self.train_data.batches(200000, 256):
            _, xs = self.train_data.load(idx)
            if not xs:
                continue
            s = self.system.cmvn_stats(*pad_sequences(xs))
            stats = s if stats is None else stats + s
        if stats is None:
            raise TrainingError("no readable training utterance for the CMVN statistics")
        log.info("global CMVN statistics over %d frames (%.1f s)", int(stats[0, -1]), time.time() - t0)
        return stats

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This epoch's batches of training utterance indices, this worker's share of them."""
        d = self.cfg.data
        # SortaGrad: short utterances first helps CTC out of its early all-blank stage.
        shuffle = epoch > d.sortagrad
        return self.backend.shard(self.train_data.batches(d.max_frames, d.max_utts, shuffle=shuffle,
                                                          seed=self.cfg.train.seed, epoch=epoch))

    # -- batches --------------------------------------------------------------------------------
    def make_batch(self, data: UtteranceData, indices: list[int], train: bool) -> Batch | None:
        """Load and pad a batch (None when every utterance of it was skipped as unreadable)."""
        utts, xs = data.load(indices)
        if not utts:
            return None
        x, x_lens = pad_sequences(xs)
        targets, target_lens = pad_sequences(self.criterion.targets(utts), value=0)
        spk_stats = None
        if self.system.frontend.cfg.cmvn == "speaker":
            spk_stats = data.batch_speaker_stats(utts, self.system.utterance_stats)
        return Batch(utts, x, x_lens, targets.long(), target_lens, spk_stats)

    # -- loop -----------------------------------------------------------------------------------
    def close(self) -> None:
        """End the back-end. A DDP wrapper holds the process group: it goes first, while the
        interpreter is whole (a gloo group torn down at interpreter exit aborted a worker now and then,
        "terminate called without an active exception", after all its work was done)."""
        import gc

        self.train_step = None
        gc.collect()
        self.backend.close()

    def run(self) -> Path:
        """Train the remaining epochs, then write ``final.pt``; returns its path."""
        cfg = self.cfg
        if self.backend.is_main:
            with atomic_write(self.exp / "config.yaml") as f:
                f.write(to_yaml(cfg))
        writer = self._tensorboard() if self.backend.is_main else None
        if cfg.train.early_stop and self.dev_data is None:
            log.warning("train.early_stop needs a dev set (data.dev): training all %d epochs", cfg.train.epochs)
        self.backend.start(self.system, self.optimizer, self.epoch)
        evaluates = self.dev_data is not None and (self.backend.is_main or not self.backend.eval_on_main_only)
        try:
            while self.epoch < cfg.train.epochs:
                self.epoch += 1
                _injected_failure(self.backend.rank, self.epoch)
                t0 = time.time()
                train_loss = self.train_epoch(writer)
                dev = self.evaluate(self.dev_data) if evaluates else None
                self.scheduler.epoch_end(dev["loss"] if dev else None)
                rec: dict[str, Any] = {"epoch": self.epoch, "train_loss": round(train_loss, 6),
                                       "lr": self.scheduler.lr(self.step), "time_s": round(time.time() - t0, 2)}
                if dev:
                    rec.update(dev_loss=round(dev["loss"], 6), dev_token_acc=round(dev["acc"], 6))
                if self._intervals:
                    rec["intervals"] = self._intervals
                rec.update(self.backend.epoch_report())
                self.history.append(rec)
                unit = self.criterion.unit
                log.info("epoch %d/%d: train loss %.4f per %s%s; next lr %.3g; %.1f s", self.epoch,
                         cfg.train.epochs, train_loss, unit,
                         f", dev loss {dev['loss']:.4f} per {unit}, dev {unit} accuracy {100 * dev['acc']:.2f}%"
                         if dev else "", rec["lr"], rec["time_s"])
                if writer is not None:
                    for k in ("train_loss", "dev_loss", "dev_token_acc", "lr"):
                        if k in rec:
                            writer.add_scalar(f"epoch/{k}", rec[k], self.epoch)
                    writer.flush()
                if self.backend.is_main:
                    self.backend.sync_optimizer(self.optimizer)
                    self.save_epoch()
                best = self._best_epoch()
                if best is not None and self.epoch - best >= cfg.train.early_stop:
                    log.info("early stop: no better dev loss for %d epochs (best: epoch %d, %.4f per %s)",
                             self.epoch - best, best, self.history[best - 1]["dev_loss"], unit)
                    break
        finally:
            if writer is not None:
                writer.close()
        if not self.backend.is_main:
            self.backend.barrier()  # the main worker writes final.pt
            return self.exp / "final.pt"
        path = self.finalize()
        self.backend.barrier()
        return path

    def train_epoch(self, writer: Any = None) -> float:
        """One pass over the training data; returns the loss per unit."""
        cfg = self.cfg
        self.system.train()
        batches = self.epoch_batches(self.epoch)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(batches), desc=f"epoch {self.epoch}", unit="batch", leave=False)
        tot_loss, tot_count, bad = 0.0, 0, 0
        win_loss, win_count = 0.0, 0  # since the last log line
        self._intervals: list[dict[str, float]] = []  # the log lines' losses, into history.json (asr plot)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        dropped = False
        for b, idx in enumerate(batches):
            if bar is not None:
                bar.update(1)
            # model averaging every K batches, ASGD's pulls, else nothing; True: this share is dropped (ASGD)
            if self.backend.after_batches(b, self.system, epoch=self.epoch):
                dropped = True
                break
            batch = self.make_batch(self.train_data, idx, train=True)
            if batch is None:
                continue
            out, applied, norm = self.update(batch, params)
            loss, count = out.loss, out.count
            if applied is None:
                continue
            if not applied:
                bad += 1
                what = ("loss" if norm is None else
                        f"gradient (norm {float(norm)}; loss {float(loss.detach()) / count:.4f} per "
                        f"{self.criterion.unit})")
                names = [u.utt for u in batch.utts]
                log.warning("non-finite %s in the batch of %s; batch skipped (%d so far, limit %d)", what,
                            ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else ""),
                            bad, cfg.train.max_bad_batches)
                self.optimizer.zero_grad(set_to_none=True)
                if self.amp:
                    self.scaler.update()
                if bad >= cfg.train.max_bad_batches:
                    raise TrainingError(
                        f"{bad} batches with a non-finite loss or gradient in epoch {self.epoch}: stopping. The "
                        f"checkpoints in {self.exp} are untouched; lower optim.lr, set optim.grad_clip, or check "
                        f"the data of the utterances named in the warnings")
                continue
            batch_loss = float(loss.detach())
            tot_loss += batch_loss
            tot_count += count
            win_loss += batch_loss
            win_count += count
            if bar is not None:
                bar.set_postfix(loss=f"{tot_loss / max(tot_count, 1):.3f}")
            if cfg.train.log_interval and (b + 1) % cfg.train.log_interval == 0:
                if bar is None:
                    log.info("epoch %d, batch %d/%d: loss %.4f per %s (last %d batches %.4f)", self.epoch,
                             b + 1, len(batches), tot_loss / max(tot_count, 1), self.criterion.unit,
                             cfg.train.log_interval, win_loss / max(win_count, 1))
                if writer is not None:
                    writer.add_scalar("train/loss", win_loss / max(win_count, 1), self.step)
                self._intervals.append({"step": self.step, "loss": round(win_loss / max(win_count, 1), 5),
                                        "lr": self.scheduler.lr(self.step)})
                win_loss, win_count = 0.0, 0
        if bar is not None:
            bar.close()
        self.backend.after_batches(len(batches), self.system, epoch_end=True, epoch=self.epoch)
        tot_loss, tot_count = self.backend.reduce([tot_loss, float(tot_count)])
        if tot_count == 0 and dropped:
            return math.nan  # an ASGD worker whose share of the epoch was dropped before its first batch
        if tot_count == 0:
            raise TrainingError(f"epoch {self.epoch}: no training batch gave a loss (empty transcripts? "
                                f"utterances shorter than their transcripts?)")
        return tot_loss / tot_count

    def update(self, batch: Batch, params: list[nn.Parameter],
               inspect: Callable[[StepOutput], None] | None = None
               ) -> tuple[StepOutput, bool | None, torch.Tensor | None]:
        """One update on a training batch: learning rate, forward, backward, clipped step, constraints.

        Args:
            batch: from :meth:`make_batch` (``train=True``).
            params: the optimizer's parameters (the gradient norm is theirs).
            inspect: called after the backward pass, before clipping and the step (e.g. to read
                the gradients); default None.

        Returns:
            ``(out, applied, norm)``: ``applied`` None when the batch has no units to learn from
            (nothing done), False when its loss (``norm`` None) or gradient (``norm`` its value)
            was not finite (nothing applied), True when the step was taken and :attr:`step`
            advanced.
        """
        for g in self.optimizer.param_groups:
            g["lr"] = self.scheduler.lr(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.train_step(batch, train=True)
        # over every worker's batch: all of them step, or none (a distributed step is collective)
        count, finite = self.backend.agree(out.count, bool(torch.isfinite(out.loss)))
        if count == 0:
            return out, None, None
        if not finite:
            return out, False, None
        # normalised by the global batch's units (DDP averages the workers' gradients: hence world_size)
        self.scaler.scale(out.loss * self.backend.world_size / count).backward()
        if inspect is not None:
            inspect(out)
        applied, norm = self.backend.apply(self.optimizer, self.scaler, params, self.cfg.optim.grad_clip)
        if applied:
            self.system.model.apply_constraints()
            self.step += 1
        return out, applied, norm

    @torch.no_grad()
    def evaluate(self, data: UtteranceData) -> dict[str, float]:
        """Loss per unit and accuracy (1 - edit distance / units) of the greedy output on ``data``."""
        self.system.eval()
        d = self.cfg.data
        tot_loss = tot_count = errs = units = 0.0
        for idx in self.backend.shard(data.batches(d.max_frames, d.max_utts), complete=True):
            batch = self.make_batch(data, idx, train=False)
            if batch is None:
                continue
            out = self.train_step(batch, train=False)
            if torch.isfinite(out.loss):
                tot_loss += float(out.loss)
                tot_count += out.count
            e, n = self.criterion.errors(out.logits, out.out_lens, batch.targets, batch.target_lens)
            errs += e
            units += n
        tot_loss, tot_count, errs, units = self.backend.reduce([tot_loss, tot_count, errs, units])
        return {"loss": tot_loss / max(tot_count, 1), "acc": 1.0 - errs / max(units, 1)}

    def _tensorboard(self) -> Any:
        if not self.cfg.train.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed: no TensorBoard scalars")
            return None
        return SummaryWriter(str(self.exp / "tensorboard"), purge_step=self.epoch + 1 if self.epoch else None)

    # -- checkpoints ----------------------------------------------------------------------------
    def save_epoch(self) -> Path:
        """Write ``epoch-N.pt``: system, experiment config, optimizer, schedule, RNG and history (atomically)."""
        state = self.system.state()
        state.update(config=to_dict(self.cfg), optimizer=self.optimizer.state_dict(),
                     scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict() if self.amp else None,
                     rng=rng_state(), step=self.step)
        return self.checkpointer.save_epoch(self.epoch, state, self.history)

    def _best_epoch(self) -> int | None:
        """With ``train.early_stop`` and a dev set: the epoch of the lowest dev loss so far (else None)."""
        if not self.cfg.train.early_stop or self.dev_data is None:
            return None
        scored = [r for r in self.history if "dev_loss" in r]
        return min(scored, key=lambda r: r["dev_loss"])["epoch"] if scored else None

    def finalize(self) -> Path:
        """Write ``final.pt``: the average of the last ``train.average_last`` epochs of this run (with
        ``train.early_stop``: up to the best epoch)."""
        best = self._best_epoch()
        try:
            return self.checkpointer.finalize(best or self.epoch, self.history)
        except AsrError as e:
            raise TrainingError(str(e)) from None
