"""Fixtures for trainer tests: tiny Kaldi data dirs cut from the demo corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test modules here and in tests/cli import the helpers in tinydata.py (pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinydata import write_demo_dir  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, dev) data dirs: 16 and 6 short demo utterances."""
    root = tmp_path_factory.mktemp("tiny_data")
    train = write_demo_dir(root / "train", "train", [f"s0{s}-00{i}" for s in (1, 2) for i in range(8)])
    dev = write_demo_dir(root / "dev", "test", [f"s{s}-00{i}" for s in (11, 12) for i in range(3)])
    return train, dev
