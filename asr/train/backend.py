"""Training back-ends: how batches are sharded, how sums are reduced, how an update is applied.

The trainer calls a :class:`Backend` at exactly these points, so distributed
training (DDP, asynchronous SGD, model averaging) plugs in behind the same
interface without another copy of the loop. :class:`SingleProcess` is the
one-process back-end.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import nn


class Backend(Protocol):
    """What the trainer needs from a back-end."""

    rank: int  # this worker's index
    world_size: int  # number of workers

    @property
    def is_main(self) -> bool:
        """Whether this worker writes checkpoints, TensorBoard and the main log."""
        ...

    def wrap(self, step: nn.Module) -> nn.Module:
        """The module the loop calls for a batch (a DDP wrapper, or ``step`` itself)."""
        ...

    def shard(self, batches: list[list[int]]) -> list[list[int]]:
        """This worker's share of an epoch's batches (every worker gets the same number)."""
        ...

    def reduce(self, values: list[float]) -> list[float]:
        """Sums of ``values`` over the workers."""
        ...

    def apply(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: list[nn.Parameter],
              grad_clip: float) -> tuple[bool, torch.Tensor]:
        """Apply the update from the gradients in ``params``.

        Returns:
            ``(applied, grad_norm)``: False when the gradient was not finite and nothing was applied.
        """
        ...


class SingleProcess:
    """One process, one device: no sharding, sums are local, a plain (clipped) optimizer step.

    Args:
        amp: the scaler is in use (CUDA float16): then inf gradients are the scaler's business (it
            skips the step and lowers the scale), and the step counts as applied.
    """

    rank = 0
    world_size = 1

    def __init__(self, amp: bool = False) -> None:
        self.amp = amp

    @property
    def is_main(self) -> bool:
        return True

    def wrap(self, step: nn.Module) -> nn.Module:
        return step

    def shard(self, batches: list[list[int]]) -> list[list[int]]:
        return batches

    def reduce(self, values: list[float]) -> list[float]:
        return list(values)

    def apply(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: list[nn.Parameter],
              grad_clip: float) -> tuple[bool, torch.Tensor]:
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
        if not self.amp and not bool(torch.isfinite(norm)):
            optimizer.zero_grad(set_to_none=True)
            return False, norm
        scaler.step(optimizer)
        scaler.update()
        return True, norm
