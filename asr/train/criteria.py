"""Training criteria: what the targets of an utterance are, the loss, and the error count.

The trainer only sees the :class:`Criterion` protocol; CTC is implemented here and
frame-level cross-entropy on alignments implements the same three methods. Losses
are *summed* with the count they are summed over (tokens or frames), so they are
reported per unit and reduce correctly across batches and workers.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from asr.batches import Utterance
from asr.errors import AsrError
from asr.losses import ctc_loss

CRITERIA = ("ctc",)


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

    def min_frames(self, target: torch.Tensor) -> int:
        """Output frames an utterance needs for its target to be trainable at all."""
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

    def min_frames(self, target: torch.Tensor) -> int:
        """CTC's: one frame per token, and a blank between two equal tokens in a row."""
        t = target.tolist()
        return len(t) + sum(a == b for a, b in zip(t, t[1:]))

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


def make_criterion(name: str, tokenizer: Any) -> Criterion:
    """The criterion called ``name`` (``train.criterion``) for a system's tokenizer.

    Raises:
        AsrError: an unknown name.
    """
    if name == "ctc":
        return CTCCriterion(tokenizer)
    raise AsrError(f"unknown criterion {name!r} ({' | '.join(CRITERIA)})")
