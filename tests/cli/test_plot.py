"""asr plot: training curves from history.json (intervals included), bad histories in one line."""

from __future__ import annotations

import json

import pytest
from tinydata import tiny_overrides

pytest.importorskip("matplotlib")

from asr.cli.main import main as asr_main  # noqa: E402


def test_plot_writes_the_curves_with_intervals(cli_data, tmp_path):
    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, test = cli_data
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, test, train__log_interval=2, train__epochs=2))
    Trainer(cfg, tmp_path / "exp").run()
    history = json.loads((tmp_path / "exp" / "history.json").read_text())
    steps = [i["step"] for r in history for i in r["intervals"]]
    assert steps == sorted(steps) and len(steps) >= 2 and all("lr" in i for r in history for i in r["intervals"])
    assert asr_main(["plot", str(tmp_path / "exp")]) == 0
    for name in ("loss.png", "accuracy.png", "lr.png"):
        assert (tmp_path / "exp" / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_a_missing_or_bad_history_is_one_line(tmp_path, capsys):
    assert asr_main(["plot", str(tmp_path)]) == 1
    assert "history.json" in capsys.readouterr().err
    (tmp_path / "history.json").write_text("{}")
    assert asr_main(["plot", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no epoch records" in err[0]
