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

CRITERIA = ("ctc", "ce")


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

    def unusable(self, utt: str, target: torch.Tensor, frames: int, seconds_per_frame: float) -> str | None:
        """Why an utterance cannot be trained on (one line), or None when it can.

        Args:
            utt: utterance id.
            target: its target (from :meth:`targets`).
            frames: the output frames its duration gives (approximately: from the duration).
            seconds_per_frame: seconds per output frame (for the message).
        """
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

    def unusable(self, utt: str, target: torch.Tensor, frames: int, seconds_per_frame: float) -> str | None:
        need = self.min_frames(target)
        if need <= frames:
            return None
        return (f"{len(target)} tokens need {need} output frames, its {frames * seconds_per_frame:.2f} s give "
                f"{frames} ({1000 * seconds_per_frame:.0f} ms each); check its transcript and audio")

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


class FrameCECriterion:
    """Frame-level cross-entropy against forced-alignment pdf labels (Sak et al. 2014's criterion).

    Output frame ``t`` of a model that subsamples by ``s`` is scored against the label of feature
    frame ``t * s``. The output delay is the model's (``model.delay``: output ``t`` has seen the
    input up to ``t + delay``, and is still scored against label ``t``), so the labels here are
    never shifted twice. Errors are frames whose best output is not the label (frame accuracy).

    An utterance's output and label lengths may differ by a few frames (the alignment's features
    and the model's were framed by different tools): up to ``tolerance`` output frames are
    trimmed from the longer one; more leaves the utterance out (:meth:`unusable`).

    Args:
        labels: utterance -> (T,) pdf ids per feature frame.
        subsample: feature frames per output frame (the model's ``subsample``).
        tolerance: output frames of length mismatch accepted (default 2).
    """

    unit = "frame"

    def __init__(self, labels: dict[str, Any], subsample: int = 1, tolerance: int = 2,
                 source: str = "the alignments") -> None:
        self.labels = labels
        self.subsample = subsample
        self.tolerance = tolerance
        self.source = source

    def targets(self, utts: list[Utterance]) -> list[torch.Tensor]:
        out = []
        for u in utts:
            lab = self.labels.get(u.utt)
            out.append(torch.as_tensor(lab[:: self.subsample], dtype=torch.long) if lab is not None
                       else torch.zeros(0, dtype=torch.long))
        return out

    def unusable(self, utt: str, target: torch.Tensor, frames: int, seconds_per_frame: float) -> str | None:
        if utt not in self.labels:
            return f"no alignment in {self.source}"
        # ``frames`` comes from the duration and overcounts the framed output by up to a window
        if len(target) > frames + self.tolerance or len(target) + self.tolerance + 2 < frames:
            return (f"its alignment has {len(target)} output frames, its {frames * seconds_per_frame:.2f} s of "
                    f"audio about {frames} (were the features framed differently?)")
        return None

    def _trim(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) mask of the frames scored and (B, T) targets padded to the logits' length."""
        B, T, _ = logits.shape
        n = torch.minimum(lens.to(logits.device), target_lens.to(logits.device))  # <= T and <= targets' width
        mask = torch.arange(T, device=logits.device)[None, :] < n[:, None]
        tgt = torch.zeros(B, T, dtype=torch.long, device=logits.device)
        S = min(T, targets.shape[1])
        tgt[:, :S] = targets[:, :S].to(logits.device)
        return mask, tgt

    def loss(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor) -> tuple[torch.Tensor, int]:
        mask, tgt = self._trim(logits, lens, targets, target_lens)
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt, reduction="none")  # (B, T)
        return (nll * mask).sum(), int(mask.sum())

    def errors(self, logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
               target_lens: torch.Tensor) -> tuple[int, int]:
        mask, tgt = self._trim(logits, lens, targets, target_lens)
        return int(((logits.argmax(-1) != tgt) & mask).sum()), int(mask.sum())


def make_criterion(name: str, tokenizer: Any, labels: dict[str, Any] | None = None, subsample: int = 1,
                   source: str = "the alignments") -> Criterion:
    """The criterion called ``name`` (``train.criterion``) for a system's tokenizer.

    Args:
        name: ``ctc`` or ``ce``.
        tokenizer: the system's units.
        labels: ``ce``: utterance -> pdf ids per feature frame.
        subsample: ``ce``: the model's frame subsampling.
        source: ``ce``: where the labels came from (named in messages).

    Raises:
        AsrError: an unknown name, or ``ce`` without labels.
    """
    if name == "ctc":
        return CTCCriterion(tokenizer)
    if name == "ce":
        if labels is None:
            raise AsrError("train.criterion ce needs frame labels (data.alignments)")
        return FrameCECriterion(labels, subsample, source=source)
    raise AsrError(f"unknown criterion {name!r} ({' | '.join(CRITERIA)})")
