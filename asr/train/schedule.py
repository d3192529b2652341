"""Learning-rate schedules: linear warm-up, then constant, exponential decay or "newbob".

Newbob is the schedule of Kaldi's nnet1 and EESEN recipes: keep the learning
rate while the dev loss improves by at least a relative threshold; once it does
not, multiply it by a factor (0.5) after every epoch. We apply the warm-up per
step and the decay per epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class LRScheduler:
    """Per-step warm-up and per-epoch decay of an optimizer's learning rate.

    Args:
        base_lr: peak learning rate.
        warmup_steps: linear warm-up length in steps (0 = none).
        kind: ``constant`` | ``exp`` | ``newbob``.
        decay: factor per epoch (exp) or per halving (newbob).
        threshold: newbob: relative dev-loss improvement below which decay starts.
        min_lr: floor.
    """

    base_lr: float
    warmup_steps: int = 0
    kind: str = "newbob"
    decay: float = 0.5
    threshold: float = 0.0
    min_lr: float = 0.0
    scale: float = 1.0  # the decayed multiplier of base_lr
    halving: bool = False  # newbob: decay every epoch from now on
    best_loss: float = math.inf  # newbob: best dev loss so far

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "exp", "newbob"):
            raise ValueError(f"unknown schedule {self.kind!r} (constant | exp | newbob)")

    def lr(self, step: int) -> float:
        """Learning rate at optimizer step ``step`` (0-based)."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        return max(self.min_lr, self.base_lr * self.scale) * warm

    def epoch_end(self, dev_loss: float | None) -> None:
        """Update the decay after an epoch, given its dev loss per token (None if no dev set)."""
        if self.kind == "exp":
            self.scale *= self.decay
        elif self.kind == "newbob" and dev_loss is not None and math.isfinite(dev_loss):
            if self.halving:
                self.scale *= self.decay
            elif math.isfinite(self.best_loss) and \
                    (self.best_loss - dev_loss) / max(abs(self.best_loss), 1e-12) < self.threshold:
                self.halving = True
                self.scale *= self.decay
            self.best_loss = min(self.best_loss, dev_loss)

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "halving": self.halving, "best_loss": self.best_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.halving, self.best_loss = state["scale"], state["halving"], state["best_loss"]
