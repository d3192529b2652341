"""One training step as a module: raw batch -> frontend -> model -> criterion -> (loss, count).

:class:`TrainStep` is what a distributed wrapper (DDP) wraps: its ``forward`` is the
whole computation from raw inputs to the summed loss, so a wrapper sees every
parameter used. It also carries recurrent state in and out, for truncated BPTT
over chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from asr.batches import Utterance
from asr.models.encoder import EncoderState
from asr.system import System
from asr.train.criteria import Criterion


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


@dataclass
class StepOutput:
    """What :class:`TrainStep` returns."""

    loss: torch.Tensor  # summed loss (scalar)
    count: int  # units (tokens or frames) the loss is summed over
    logits: torch.Tensor  # (B, T', V)
    out_lens: torch.Tensor  # (B,)
    state: EncoderState | None = None  # final recurrent state (to carry into the next chunk)


class TrainStep(nn.Module):
    """frontend -> model -> criterion for one batch.

    Args:
        system: the system being trained (its parameters are this module's).
        criterion: the training criterion.
        amp: run the model (not the frontend) under float16 autocast (default False; CUDA).
        chunk_width: truncated BPTT in training: the recurrent state is carried from chunk to chunk
            of this many output frames but gradients stop at each chunk's start (default 0: whole
            utterances). The loss and the outputs are those of the whole utterance; only the
            gradients are truncated (:meth:`asr.models.AcousticModel.forward_truncated`).
    """

    def __init__(self, system: System, criterion: Criterion, amp: bool = False, chunk_width: int = 0) -> None:
        super().__init__()
        self.system = system
        self.criterion = criterion
        self.amp = amp
        self.chunk_width = chunk_width

    def forward(self, batch: Batch, train: bool = True, state: EncoderState | None = None) -> StepOutput:
        """Loss of a batch.

        Args:
            batch: raw inputs and targets (on any device; moved to the system's).
            train: apply the frontend's training-time augmentation (default True).
            state: initial recurrent state (default None: zeros); the final state is returned.

        Returns:
            :class:`StepOutput`.
        """
        dev = self.system.device
        # The frontend stays in float32 (filterbank energies overflow float16); the model may not.
        feats, f_lens = self.system.frontend(batch.x.to(dev), batch.x_lens.to(dev), train=train,
                                             spk_stats=batch.spk_stats)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=self.amp):
            logits, out_lens, new_state = self.system.model.forward_state(
                feats, f_lens, state, chunk_width=self.chunk_width if train else 0)
        loss, count = self.criterion.loss(logits.float(), out_lens, batch.targets.to(dev),
                                          batch.target_lens.to(dev))
        return StepOutput(loss, count, logits, out_lens, new_state)
