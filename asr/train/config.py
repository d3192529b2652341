"""The experiment configuration: everything ``asr train`` needs, as nested dataclasses.

:class:`ExperimentConfig` is the system (:class:`asr.system.SystemConfig`: ``frontend``,
``model`` and the units ``data.units``/``data.bpe_vocab_size``) plus the data, the
optimizer and the training loop. Its YAML layout is flat (``frontend:``, ``model:``,
``data:``, ``optim:``, ``train:``); :meth:`ExperimentConfig.system` picks the system out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asr.features.frontend import FrontendConfig
from asr.models import EncoderConfig
from asr.system import SystemConfig


@dataclass
class DataConfig:
    """Training data and batching."""

    train: str = ""  # training data dir (Kaldi layout)
    dev: str = ""  # dev data dir for loss/accuracy and the newbob schedule ("" = none)
    units: str = "char"  # output units: char | bpe | phone | pdf (frame labels of an alignment; train.criterion ce)
    bpe_vocab_size: int = 100  # sentencepiece vocabulary size (units=bpe)
    lexicon: str = ""  # pronunciation lexicon (units=phone)
    alignments: str = ""  # units=pdf: alignment dir (final.mdl + ali.*.gz, e.g. exp/mono_ali) or pdf archive
    dev_alignments: str = ""  # units=pdf: the dev set's alignments (same forms; needed with data.dev)
    num_pdfs: int = 0  # units=pdf from a pdf archive (Kaldi's ali-to-pdf output): the number of pdfs
    max_frames: int = 20000  # batch limit: utterances x longest utterance, in input frames
    max_utts: int = 64  # batch limit: utterances per batch
    max_duration: float = 30.0  # drop training utterances longer than this (seconds)
    sortagrad: int = 0  # the first N epochs visit batches shortest first (SortaGrad, Amodei et al. 2016)
    cache: bool = True  # keep raw inputs (waveforms or feature matrices) in memory across epochs
    skip_bad: bool = False  # log and skip unreadable utterances instead of stopping
    keep_empty: bool = False  # train on utterances with an empty transcript (CTC: all blank; no speech)


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    optimizer: str = "adam"  # adam | sgd (SGD uses momentum)
    lr: float = 1e-3  # peak learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 0.0  # L2 weight decay
    warmup_steps: int = 0  # linear warm-up steps
    schedule: str = "newbob"  # constant | exp | newbob (halve on dev-loss plateau)
    decay: float = 0.5  # exp: factor per epoch; newbob: halving factor
    newbob_threshold: float = 0.0  # newbob: start halving when relative dev gain is below this
    min_lr: float = 1e-5  # learning-rate floor
    grad_clip: float = 5.0  # clip the gradient norm to this (0 = off)


@dataclass
class TrainConfig:
    """The training loop."""

    epochs: int = 10  # passes over the training data
    seed: int = 0  # seed for initialisation, batch order, dropout and augmentation
    criterion: str = "ctc"  # ctc | ce (frame-level cross-entropy on data.alignments; data.units pdf)
    chunk_width: int = 0  # truncated BPTT, unidirectional models: N output frames per chunk, state carried (0 = off)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # mixed precision (CUDA only)
    num_threads: int = 0  # CPU threads for torch (0 = torch's default)
    log_interval: int = 50  # log a line every N batches
    average_last: int = 1  # final.pt = average of the last N epoch checkpoints
    keep_last: int = 0  # delete older epoch checkpoints beyond the last N (0 = keep all)
    max_bad_batches: int = 20  # stop after this many batches with a non-finite loss
    tensorboard: bool = True  # write TensorBoard scalars to <exp>/tensorboard
    dist: str = "none"  # none | ddp | model-avg | asgd | hogwild, under torchrun (steps/train.sh --nproc N --dist MODE)
    avg_every: int = 10  # dist=model-avg: average the workers' parameters every N batches (and at epoch ends)
    asgd_servers: int = 1  # dist=asgd: parameter server processes (the last ranks; torchrun starts workers + servers)
    pull_interval: int = 1  # dist=asgd: a worker's updates between pulls of fresh parameters from the servers
    asgd_wait: float = 120.0  # dist=asgd: seconds the main worker waits at an epoch's end for a slower worker
    # Fine-tuning (steps/finetune.sh): start from another model's frontend, units and weights, with a
    # fresh optimizer and schedule (asr/train/init.py says what of this config still applies).
    init_from: str = ""  # checkpoint or experiment dir to start from ("" = a fresh model)
    init_units: str = "keep"  # init_from: keep | extend (add the new transcripts' units) | new (fresh output layer)
    freeze_layers: int = 0  # init_from: keep the lowest N recurrent layers fixed
    early_stop: int = 0  # stop after N epochs without a better dev loss; final.pt ends at the best (0 = off)


@dataclass
class ExperimentConfig:
    """Everything that defines an experiment; stored in every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)  # data and batching
    frontend: FrontendConfig = field(default_factory=FrontendConfig)  # features
    model: EncoderConfig = field(default_factory=EncoderConfig)  # acoustic model
    optim: OptimConfig = field(default_factory=OptimConfig)  # optimizer and schedule
    train: TrainConfig = field(default_factory=TrainConfig)  # training loop

    def system(self) -> SystemConfig:
        """The system part: frontend, model and units (what a checkpoint rebuilds a model from)."""
        d = self.data
        return SystemConfig(frontend=self.frontend, model=self.model, units=d.units,
                            bpe_vocab_size=d.bpe_vocab_size if d.units == "bpe" else 0)
