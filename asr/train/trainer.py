"""The training loop: one trainer for every criterion and (later) every distributed back-end.

Three things are kept apart so that new training modes plug in without copying
the loop:

- the *system* (:class:`asr.system.System`): frontend + model + tokenizer;
- the *criterion* (:class:`Criterion`): what the targets of an utterance are, how
  the loss and the error count are computed (CTC here; frame-level cross-entropy
  on alignments implements the same three methods);
- the *data* (:class:`asr.train.data.UtteranceData`): the utterances, their
  batches per epoch and their loading (a distributed back-end shards
  :meth:`Trainer.epoch_batches` and all-reduces the sums in :meth:`Trainer.reduce`).

Losses are reported per target unit (token or frame): the criterion returns a
summed loss and its count.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from asr.config import to_yaml
from asr.errors import AsrError
from asr.fileio import atomic_write
from asr.losses import ctc_loss
from asr.system import System, build_system
from asr.train.checkpoint import average_checkpoints, latest_epoch_checkpoint, load_checkpoint, save_checkpoint
from asr.train.config import ExperimentConfig
from asr.train.data import Utterance, UtteranceData, pad_sequences
from asr.train.schedule import LRScheduler

log = logging.getLogger(__name__)


class TrainingError(AsrError):
    """Training cannot go on (too many non-finite losses, no usable batch)."""


@dataclass
class Batch:
    """A padded batch of raw inputs with the criterion's targets.

    Attributes:
        utts: the utterances, in batch order.
        x: (B, N) padded waves or (B, T, F) padded feature matrices.
        x_lens: (B,) valid samples or frames.
        targets: (B, S) padded targets (token ids for CTC).
        target_lens: (B,) valid targets.
        spk_stats: (B, 2, D+1) speaker CMVN statistics (``cmvn: speaker``), else None.
    """

    utts: list[Utterance]
    x: torch.Tensor
    x_lens: torch.Tensor
    targets: torch.Tensor
    target_lens: torch.Tensor
    spk_stats: torch.Tensor | None = None


class Criterion(Protocol):
    """What the trainer needs from a training criterion."""

    unit: str  # what losses are reported per: "token" | "frame"

    def targets(self, utts: list[Utterance]) -> list[torch.Tensor]:
        """One 1-D target tensor per utterance."""
        ...

    def loss(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Summed loss of a batch and the number of units it is summed over."""
        ...

    def errors(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
               target_lens: torch.Tensor) -> tuple[int, int]:
        """``(errors, units)`` of the best output against the targets (for the accuracy)."""
        ...


def edit_distance(ref: list[int], hyp: list[int]) -> int:
    """Levenshtein distance between two sequences (substitutions, insertions, deletions all cost 1)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


class CTCCriterion:
    """CTC over the tokenizer's units (blank id 0); errors = greedy token edit distance.

    Args:
        tokenizer: turns a transcript into token ids (:meth:`encode`).
    """

    unit = "token"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def targets(self, utts: list[Utterance]) -> list[torch.Tensor]:
        return [torch.tensor(self.tokenizer.encode(u.text or "", utt=u.utt), dtype=torch.long) for u in utts]

    def loss(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor) -> tuple[torch.Tensor, int]:
        return ctc_loss(logits, lens, targets, target_lens, blank=0)

    def errors(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
               target_lens: torch.Tensor) -> tuple[int, int]:
        best = logits.argmax(-1).cpu()
        targets, target_lens, lens = targets.cpu(), target_lens.cpu(), lens.cpu()
        errs = count = 0
        for i in range(best.shape[0]):
            hyp = [t for t in torch.unique_consecutive(best[i, : int(lens[i])]).tolist() if t != 0]
            ref = targets[i, : int(target_lens[i])].tolist()
            errs += edit_distance(ref, hyp)
            count += len(ref)
        return errs, count


def resolve_device(name: str) -> torch.device:
    """Turn a device name into a device: ``auto`` is CUDA when available, else CPU.

    Raises:
        AsrError: CUDA requested but not available, or an unknown name.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise AsrError(f"unknown device {name!r} (cpu | cuda | cuda:N | auto)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AsrError(f"device {name!r} requested but CUDA is not available")
    return dev


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
CRITERIA = ("ctc",)


def check_config(cfg: ExperimentConfig) -> None:
    """Reject option values the trainer does not know before any work is done.

    Raises:
        AsrError: naming the option and its allowed values.
    """
    from asr.config import ConfigError

    checks = [("optim.optimizer", cfg.optim.optimizer, OPTIMIZERS),
              ("optim.schedule", cfg.optim.schedule, ("constant", "exp", "newbob")),
              ("train.criterion", cfg.train.criterion, CRITERIA),
              ("data.units", cfg.data.units, ("char", "bpe", "phone"))]
    for name, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {' | '.join(allowed)}")
    for name, value in (("data.max_frames", cfg.data.max_frames), ("data.max_utts", cfg.data.max_utts),
                        ("train.max_bad_batches", cfg.train.max_bad_batches)):
        if value < 1:
            raise ConfigError(f"{name}: must be >= 1, got {value}")


class Trainer:
    """Trains a system on a data dir; writes epoch checkpoints and ``final.pt`` into ``exp_dir``.

    Args:
        cfg: the resolved experiment config.
        exp_dir: output directory (created).
        resume: continue from the newest ``epoch-N.pt`` in ``exp_dir`` (default False). The
            system, optimizer, schedule and random state come from the checkpoint; the
            loop options (e.g. ``train.epochs``) from ``cfg``.
        progress: show a progress bar per epoch (default False; the CLI enables it on a terminal).
    """

    def __init__(self, cfg: ExperimentConfig, exp_dir: str | Path, resume: bool = False,
                 progress: bool = False) -> None:
        check_config(cfg)
        self.cfg = cfg
        self.exp = Path(exp_dir)
        self.exp.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.device = resolve_device(cfg.train.device)
        if cfg.train.num_threads > 0:
            torch.set_num_threads(cfg.train.num_threads)
        resume_state = None
        if resume:
            latest = latest_epoch_checkpoint(self.exp)
            if latest is None:
                log.warning("--resume: no epoch checkpoint in %s; starting from scratch", self.exp)
            else:
                resume_state = load_checkpoint(latest)
                log.info("resuming from %s (epoch %d)", latest, resume_state["epoch"])
        seed_everything(cfg.train.seed)
        self.system = self._system(resume_state)
        self.train_data, self.dev_data = self._data()
        if resume_state is None and self.system.needs_global_cmvn:
            self._global_cmvn()
        self.system.to(self.device)
        self.criterion = self.make_criterion()
        self.optimizer = self._optimizer()
        o = cfg.optim
        self.scheduler = LRScheduler(o.lr, o.warmup_steps, o.schedule, o.decay, o.newbob_threshold, o.min_lr)
        self.amp = cfg.train.amp and self.device.type == "cuda"
        if cfg.train.amp and not self.amp:
            log.warning("train.amp: mixed precision needs CUDA; training in float32 on %s", self.device)
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
            return System.from_state(resume_state)
        from asr.datadir import DataDir
        from asr.text import build_tokenizer

        if not cfg.data.train:
            raise AsrError("no training data dir: set data.train")
        texts = DataDir.load(cfg.data.train).text
        if texts is None:
            raise AsrError(f"{cfg.data.train}/text: missing (needed for training)")
        opts: dict[str, Any] = {}
        if cfg.data.units == "bpe":
            opts["vocab_size"] = cfg.data.bpe_vocab_size
        if cfg.data.units == "phone":
            if not cfg.data.lexicon:
                raise AsrError("data.units=phone needs data.lexicon (a pronunciation lexicon)")
            opts["lexicon"] = cfg.data.lexicon
        tokenizer = build_tokenizer(cfg.data.units, list(texts.values()), **opts)
        return build_system(cfg, tokenizer)

    def _data(self) -> tuple[UtteranceData, UtteranceData | None]:
        cfg, s = self.cfg, self.system
        if not cfg.data.train:
            raise AsrError("no training data dir: set data.train")
        train = UtteranceData(cfg.data.train, s.feature_source, s.sample_rate, s.frame_shift,
                              max_duration=cfg.data.max_duration, cache=cfg.data.cache, skip_bad=cfg.data.skip_bad)
        dev = None
        if cfg.data.dev:
            dev = UtteranceData(cfg.data.dev, s.feature_source, s.sample_rate, s.frame_shift,
                                cache=cfg.data.cache, skip_bad=cfg.data.skip_bad)
        log.info("training on %d utterances (%.2f h) from %s; dev: %s", len(train),
                 sum(train.durations) / 3600, cfg.data.train,
                 f"{len(dev)} utterances from {cfg.data.dev}" if dev else "none")
        return train, dev

    def make_criterion(self) -> Criterion:
        """The training criterion named by ``train.criterion``."""
        if self.cfg.train.criterion == "ctc":
            return CTCCriterion(self.system.tokenizer)
        raise AsrError(f"unknown criterion {self.cfg.train.criterion!r} (ctc)")

    def _optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        params = [p for p in self.system.parameters() if p.requires_grad]
        if o.optimizer == "adam":
            return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        if o.optimizer == "sgd":
            return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        raise AsrError(f"unknown optimizer {o.optimizer!r} (adam | sgd)")

    def _global_cmvn(self) -> None:
        """One pass over the training inputs to estimate global CMVN statistics."""
        t0 = time.time()
        stats = None
        for idx in self.train_data.batches(self.system.frame_shift, 200000, 256):
            _, xs = self.train_data.load(idx)
            if not xs:
                continue
            s = self.system.cmvn_stats(*pad_sequences(xs))
            stats = s if stats is None else stats + s
        if stats is None:
            raise TrainingError("no readable training utterance for the CMVN statistics")
        self.system.set_global_cmvn(stats)
        log.info("global CMVN statistics over %d frames (%.1f s)", int(stats[0, -1]), time.time() - t0)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This epoch's batches of training utterance indices (a distributed back-end shards them)."""
        d = self.cfg.data
        # SortaGrad: short utterances first helps CTC out of its early all-blank stage.
        shuffle = epoch > d.sortagrad
        return self.train_data.batches(self.system.frame_shift, d.max_frames, d.max_utts, shuffle=shuffle,
                                       seed=self.cfg.train.seed, epoch=epoch)

    def reduce(self, values: list[float]) -> list[float]:
        """Sum statistics over workers (identity for one process)."""
        return values

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

    def forward(self, batch: Batch, train: bool) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
        """Loss sum, count, logits (B, T', V) and output lengths (B,) of a batch."""
        dev = self.device
        # The frontend stays in float32 (filterbank energies overflow float16); the model may not.
        feats, f_lens = self.system.frontend(batch.x.to(dev), batch.x_lens.to(dev), train=train,
                                             spk_stats=batch.spk_stats)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=self.amp):
            logits, out_lens = self.system.model(feats, f_lens)
        loss, count = self.criterion.loss(logits.float(), out_lens, batch.targets.to(dev),
                                          batch.target_lens.to(dev))
        return loss, count, logits, out_lens

    # -- loop -----------------------------------------------------------------------------------
    def run(self) -> Path:
        """Train the remaining epochs, then write ``final.pt``; returns its path."""
        cfg = self.cfg
        with atomic_write(self.exp / "config.yaml") as f:
            f.write(to_yaml(cfg))
        writer = self._tensorboard()
        try:
            while self.epoch < cfg.train.epochs:
                self.epoch += 1
                t0 = time.time()
                train_loss = self.train_epoch(writer)
                dev = self.evaluate(self.dev_data) if self.dev_data is not None else None
                self.scheduler.epoch_end(dev["loss"] if dev else None)
                rec: dict[str, Any] = {"epoch": self.epoch, "train_loss": round(train_loss, 6),
                                       "lr": self.scheduler.lr(self.step), "time_s": round(time.time() - t0, 2)}
                if dev:
                    rec.update(dev_loss=round(dev["loss"], 6), dev_token_acc=round(dev["acc"], 6))
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
                self.save_epoch()
        finally:
            if writer is not None:
                writer.close()
        return self.finalize()

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
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for b, idx in enumerate(batches):
            if bar is not None:
                bar.update(1)
            batch = self.make_batch(self.train_data, idx, train=True)
            if batch is None:
                continue
            for g in self.optimizer.param_groups:
                g["lr"] = self.scheduler.lr(self.step)
            self.optimizer.zero_grad(set_to_none=True)
            loss, count, _, _ = self.forward(batch, train=True)
            if count == 0:
                continue
            finite = bool(torch.isfinite(loss))
            norm = None
            if finite:
                self.scaler.scale(loss / count).backward()
                self.scaler.unscale_(self.optimizer)
                norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip if cfg.optim.grad_clip > 0
                                                      else math.inf)
                # With AMP, inf gradients are the scaler's business (it skips the step and lowers the scale).
                finite = self.amp or bool(torch.isfinite(norm))
            if not finite:
                bad += 1
                what = ("loss" if norm is None else
                        f"gradient (norm {float(norm)}; loss {float(loss.detach()) / count:.4f} per token)")
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
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
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
                win_loss, win_count = 0.0, 0
        if bar is not None:
            bar.close()
        tot_loss, tot_count = self.reduce([tot_loss, float(tot_count)])
        if tot_count == 0:
            raise TrainingError(f"epoch {self.epoch}: no training batch gave a loss (empty transcripts? "
                                f"utterances shorter than their transcripts?)")
        return tot_loss / tot_count

    @torch.no_grad()
    def evaluate(self, data: UtteranceData) -> dict[str, float]:
        """Loss per unit and accuracy (1 - edit distance / units) of the greedy output on ``data``."""
        self.system.eval()
        d = self.cfg.data
        tot_loss = tot_count = errs = units = 0.0
        for idx in data.batches(self.system.frame_shift, d.max_frames, d.max_utts):
            batch = self.make_batch(data, idx, train=False)
            if batch is None:
                continue
            loss, count, logits, out_lens = self.forward(batch, train=False)
            if torch.isfinite(loss):
                tot_loss += float(loss)
                tot_count += count
            e, n = self.criterion.errors(logits, out_lens, batch.targets, batch.target_lens)
            errs += e
            units += n
        tot_loss, tot_count, errs, units = self.reduce([tot_loss, tot_count, errs, units])
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
        """Write ``epoch-N.pt``: system, optimizer, schedule, RNG and history (atomically)."""
        state = self.system.state()
        state.update(optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                     scaler=self.scaler.state_dict() if self.amp else None, rng=rng_state(),
                     epoch=self.epoch, step=self.step, history=self.history)
        path = self.exp / f"epoch-{self.epoch}.pt"
        save_checkpoint(path, state)
        with atomic_write(self.exp / "history.json") as f:
            json.dump(self.history, f, indent=1)
            f.write("\n")
        keep = self.cfg.train.keep_last
        if keep > 0:
            keep = max(keep, self.cfg.train.average_last)
            for e in range(1, self.epoch - keep + 1):
                (self.exp / f"epoch-{e}.pt").unlink(missing_ok=True)
        log.info("wrote %s", path)
        return path

    def finalize(self) -> Path:
        """Write ``final.pt``: the average of the last ``train.average_last`` epochs of this run."""
        n = max(1, min(self.cfg.train.average_last, self.epoch))
        ckpts = [self.exp / f"epoch-{e}.pt" for e in range(self.epoch - n + 1, self.epoch + 1)]
        missing = [str(p) for p in ckpts if not p.is_file()]
        if missing:
            raise TrainingError(f"cannot average: missing {', '.join(missing)}")
        final = average_checkpoints(ckpts)
        final["history"] = self.history
        save_checkpoint(self.exp / "final.pt", final)
        log.info("wrote %s (average of %s)", self.exp / "final.pt", ", ".join(p.name for p in ckpts))
        return self.exp / "final.pt"
