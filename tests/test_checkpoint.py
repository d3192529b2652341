"""Checkpoints: atomic writes, discovery of epoch files, averaging, clear errors."""

from __future__ import annotations

import pytest
import torch

from asr.checkpoint import (
    average_checkpoints,
    epoch_checkpoints,
    latest_epoch_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from asr.errors import AsrError


def test_save_load_and_epoch_order(tmp_path):
    for e in (1, 2, 10):
        save_checkpoint(tmp_path / f"epoch-{e}.pt", {"model": {"w": torch.full((2,), float(e))}, "epoch": e})
    assert [p.name for p in epoch_checkpoints(tmp_path)] == ["epoch-1.pt", "epoch-2.pt", "epoch-10.pt"]
    assert latest_epoch_checkpoint(tmp_path).name == "epoch-10.pt"
    # An experiment dir without final.pt loads its newest epoch checkpoint.
    assert load_checkpoint(tmp_path)["epoch"] == 10
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files are left behind"


def test_average_is_elementwise_mean(tmp_path):
    paths = []
    for e, v in enumerate([1.0, 2.0, 6.0]):
        p = tmp_path / f"epoch-{e + 1}.pt"
        save_checkpoint(p, {"model": {"w": torch.tensor([v, 2 * v]), "steps": torch.tensor(e)},
                            "optimizer": {"x": 1}, "epoch": e + 1})
        paths.append(p)
    avg = average_checkpoints(paths)
    torch.testing.assert_close(avg["model"]["w"], torch.tensor([3.0, 6.0]))
    assert int(avg["model"]["steps"]) == 2  # integer buffers come from the newest
    assert "optimizer" not in avg


def test_missing_and_corrupt_checkpoints_are_named(tmp_path):
    with pytest.raises(AsrError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AsrError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(AsrError, match="no final.pt"):
        load_checkpoint(tmp_path)
