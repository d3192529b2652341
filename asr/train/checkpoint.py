"""The trainer's checkpoints: epoch saves, pruning, the averaged ``final.pt``, resume and init-from.

File I/O (atomic writes, discovery, loading, averaging) is :mod:`asr.checkpoint`,
shared with recognition; this class is the policy of one experiment dir.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from asr.checkpoint import average_checkpoints, epoch_checkpoints, load_checkpoint, save_checkpoint
from asr.errors import AsrError
from asr.fileio import atomic_write, remove_stale_temporaries
from asr.system import System

log = logging.getLogger(__name__)


class Checkpointer:
    """Writes and reads the checkpoints of one experiment dir.

    Args:
        exp_dir: the experiment dir (``epoch-N.pt``, ``final.pt``, ``history.json``).
        keep_last: delete epoch checkpoints older than the last N (default 0: keep all); never
            fewer than ``average_last``.
        average_last: ``final.pt`` averages the last N epochs (default 1).

    A training run owns its experiment dir: the temporary files of checkpoint and history
    writes that a killed run left there are removed when the next run starts (:meth:`clean`).
    """

    def __init__(self, exp_dir: str | Path, keep_last: int = 0, average_last: int = 1) -> None:
        self.exp = Path(exp_dir)
        self.keep_last = keep_last
        self.average_last = max(1, average_last)

    def clean(self) -> None:
        """Remove what an interrupted write left in the dir (``.epoch-N.pt.*.tmp``, ...), with a log line."""
        for pattern in ("epoch-*.pt", "final.pt", "history.json"):
            for p in remove_stale_temporaries(self.exp, pattern):
                log.info("removed %s, left by an interrupted run", p)

    def latest(self) -> dict[str, Any] | None:
        """The newest readable epoch checkpoint of the dir (to resume from), or None.

        An unreadable one (truncated by a copy, corrupt) is named in the log and an older one is
        tried, so a crash loop calling ``--resume`` always makes progress.
        """
        for path in reversed(epoch_checkpoints(self.exp)):
            try:
                return load_checkpoint(path)
            except AsrError as e:
                log.warning("--resume: cannot use %s (%s); trying an older checkpoint", path, e)
        return None

    @staticmethod
    def init_from(path: str | Path) -> System:
        """The system of another checkpoint or experiment dir (its model, frontend and tokenizer).

        Raises:
            AsrError: missing or unreadable checkpoint.
        """
        return System.from_state(load_checkpoint(path))

    def save_epoch(self, epoch: int, state: dict[str, Any], history: list[dict[str, Any]]) -> Path:
        """Write ``epoch-N.pt`` and ``history.json`` (atomically), then prune old epochs."""
        path = self.exp / f"epoch-{epoch}.pt"
        save_checkpoint(path, {**state, "epoch": epoch, "history": history})
        with atomic_write(self.exp / "history.json") as f:
            json.dump(history, f, indent=1)
            f.write("\n")
        if self.keep_last > 0:
            keep = max(self.keep_last, self.average_last)
            for e in range(1, epoch - keep + 1):
                (self.exp / f"epoch-{e}.pt").unlink(missing_ok=True)
        log.info("wrote %s", path)
        return path

    def _first_averaged(self, last_epoch: int) -> int:
        """The first of the epochs ``final.pt`` averages when training ends after ``last_epoch``."""
        return last_epoch - min(self.average_last, last_epoch) + 1

    def check_can_average(self, epoch: int, last_epoch: int) -> None:
        """Fail before training when ``final.pt`` could not be made after ``last_epoch``.

        Resuming at ``epoch`` into a dir whose older epochs are gone (copied checkpoint, pruned)
        would otherwise train for hours and fail at the end.

        Raises:
            AsrError: naming the missing checkpoints.
        """
        first = self._first_averaged(last_epoch)
        needed = [self.exp / f"epoch-{e}.pt" for e in range(first, epoch + 1)]  # those already trained
        missing = [str(p) for p in needed if not p.is_file()]
        if missing:
            raise AsrError(f"final.pt averages the last {last_epoch - first + 1} epochs, but "
                           f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: set "
                           f"train.average_last so that it covers only the epochs still to train and those present")

    def finalize(self, epoch: int, history: list[dict[str, Any]]) -> Path:
        """Write ``final.pt``: the average of the last ``average_last`` epochs up to ``epoch``.

        Raises:
            AsrError: an epoch checkpoint to average is missing.
        """
        ckpts = [self.exp / f"epoch-{e}.pt" for e in range(self._first_averaged(epoch), epoch + 1)]
        missing = [str(p) for p in ckpts if not p.is_file()]
        if missing:
            raise AsrError(f"cannot average: missing {', '.join(missing)}")
        final = average_checkpoints(ckpts)
        final["history"] = history
        save_checkpoint(self.exp / "final.pt", final)
        log.info("wrote %s (average of %s)", self.exp / "final.pt", ", ".join(p.name for p in ckpts))
        return self.exp / "final.pt"
