"""Checkpoint files: the one place that writes, finds, loads and averages them.

A checkpoint is a dict saved with ``torch.save`` and written atomically. It
holds the system (:meth:`asr.system.System.state`: its config, model and
frontend state, the tokenizer), the experiment config that trained it, and (for
epoch checkpoints) optimizer, scheduler and RNG state, so it alone can rebuild
the model and its frontend, and ``--resume`` continues exactly. Recognition
reads checkpoints through this module; training writes them through
:class:`asr.train.checkpoint.Checkpointer`.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from asr.errors import AsrError
from asr.fileio import atomic_save_bytes

log = logging.getLogger(__name__)

FORMAT = "asr-checkpoint-1"
_EPOCH_RE = re.compile(r"^epoch-(\d+)\.pt$")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a crash never leaves a half-written file)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_save_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file, or the ``final.pt`` of an experiment dir.

    Raises:
        AsrError: missing file or not a checkpoint of this toolkit.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("final.pt",):
            if (path / name).is_file():
                path = path / name
                break
        else:
            latest = latest_epoch_checkpoint(path)
            if latest is None:
                raise AsrError(f"{path}: no final.pt or epoch-N.pt checkpoint in this directory")
            path = latest
    if not path.is_file():
        raise AsrError(f"{path}: model checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises many types for a corrupt file
        raise AsrError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise AsrError(f"{path}: not an asr checkpoint")
    state["path"] = str(path)
    return state


def epoch_checkpoints(exp_dir: str | os.PathLike) -> list[Path]:
    """``epoch-N.pt`` files of an experiment dir, by epoch."""
    exp_dir = Path(exp_dir)
    found = [(int(m.group(1)), p) for p in exp_dir.glob("epoch-*.pt") if (m := _EPOCH_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_epoch_checkpoint(exp_dir: str | os.PathLike) -> Path | None:
    """The newest ``epoch-N.pt`` or None."""
    ckpts = epoch_checkpoints(exp_dir)
    return ckpts[-1] if ckpts else None


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of model state dicts (floating tensors; others from the last)."""
    if not states:
        raise ValueError("nothing to average")
    out = {}
    for k, v in states[-1].items():
        if torch.is_floating_point(v):
            out[k] = sum(s[k].double() for s in states).div(len(states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def average_checkpoints(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """A checkpoint whose model is the average of ``paths``' models (rest from the last one)."""
    loaded = [load_checkpoint(p) for p in paths]
    out = {k: v for k, v in loaded[-1].items() if k not in ("optimizer", "scheduler", "scaler", "rng", "path")}
    out["model"] = average_state_dicts([c["model"] for c in loaded])
    out["averaged"] = [str(p) for p in paths]
    return out
