"""Training curves as PNG files, from an experiment dir's ``history.json`` (``asr plot``).

Three pictures: ``loss.png`` (training loss per logged interval and per epoch, dev loss per
epoch, all per token/frame), ``accuracy.png`` (dev token accuracy per epoch) and ``lr.png``
(learning rate per interval and at each epoch's end). matplotlib draws them (the ``plot``
extra); nothing else in the toolkit needs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from asr.errors import AsrError


def read_history(exp: str | os.PathLike) -> list[dict[str, Any]]:
    """The epoch records of ``<exp>/history.json``.

    Raises:
        AsrError: no history, or one that is not a list of epoch records.
    """
    path = Path(exp) / "history.json" if Path(exp).is_dir() else Path(exp)
    try:
        history = json.loads(path.read_text())
    except FileNotFoundError:
        raise AsrError(f"{path}: no such file (train the model first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AsrError(f"{path}: not a history.json ({e})") from None
    if not isinstance(history, list) or not history or not all(isinstance(r, dict) and "epoch" in r for r in history):
        raise AsrError(f"{path}: no epoch records")
    return history


def plot_history(exp: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write ``loss.png``, ``accuracy.png`` (when there was a dev set) and ``lr.png``; returns their paths.

    Args:
        exp: experiment dir (or its history.json).
        out_dir: where to write (default ``<exp>/plots``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AsrError("asr plot needs matplotlib: pip install 'asr[plot]' (or matplotlib)") from None
    from asr.fileio import atomic_save_bytes

    history = read_history(exp)
    out = Path(out_dir) if out_dir is not None else (Path(exp) if Path(exp).is_dir() else Path(exp).parent) / "plots"
    epochs = [r["epoch"] for r in history]
    steps_per_epoch = _epoch_ends(history)
    written = []

    def save(fig: Any, name: str) -> None:
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_save_bytes(out / name, buf.getvalue())
        written.append(out / name)

    fig, ax = plt.subplots(figsize=(7, 4))
    intervals = [i for r in history for i in r.get("intervals", [])]
    if intervals and steps_per_epoch:
        ax.plot([i["step"] / steps_per_epoch for i in intervals], [i["loss"] for i in intervals], lw=0.8,
                alpha=0.6, label="train (per log interval)")
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (epoch)")
    if any("dev_loss" in r for r in history):
        ax.plot([r["epoch"] for r in history if "dev_loss" in r], [r["dev_loss"] for r in history if "dev_loss" in r],
                "s-", label="dev")
    ax.set(xlabel="epoch", ylabel="loss per unit", title=f"loss: {exp}")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, "loss.png")
    if any("dev_token_acc" in r for r in history):
        fig, ax = plt.subplots(figsize=(7, 4))
        scored = [r for r in history if "dev_token_acc" in r]
        ax.plot([r["epoch"] for r in scored], [100 * r["dev_token_acc"] for r in scored], "s-")
        ax.set(xlabel="epoch", ylabel="dev token accuracy %", title=f"dev accuracy: {exp}")
        ax.grid(alpha=0.3)
        save(fig, "accuracy.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    if intervals and steps_per_epoch:
        ax.plot([i["step"] / steps_per_epoch for i in intervals], [i["lr"] for i in intervals], lw=1,
                label="per log interval")
    ax.plot(epochs, [r["lr"] for r in history], "o", label="after each epoch")
    ax.set(xlabel="epoch", ylabel="learning rate", title=f"learning rate: {exp}", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, "lr.png")
    return written


def _epoch_ends(history: list[dict[str, Any]]) -> float | None:
    """Updates per epoch, from the interval records (to put steps on the epoch axis)."""
    last = [r["intervals"][-1]["step"] / r["epoch"] for r in history if r.get("intervals")]
    return max(last) if last else None
