"""Fixtures for CLI tests: a tiny model trained on a few demo-corpus utterances."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinydata import tiny_overrides, write_demo_dir


@pytest.fixture(scope="session")
def cli_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, test) data dirs: 16 and 4 demo utterances."""
    root = tmp_path_factory.mktemp("cli_data")
    train = write_demo_dir(root / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    test = write_demo_dir(root / "test", "test", [f"s{s}-01{i}" for s in (11, 12) for i in range(2)])
    return train, test


@pytest.fixture(scope="session")
def tiny_model(cli_data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Experiment dir of a tiny model (final.pt) trained for a few epochs at 8 kHz."""
    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, _ = cli_data
    exp = tmp_path_factory.mktemp("tiny_exp")
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, train__epochs=4, optim__lr=0.01,
                                                           frontend__sample_frequency=8000,
                                                           frontend__cmvn="utterance"))
    Trainer(cfg, exp).run()
    return exp
