"""DDP and model averaging under torchrun (2 CPU workers, gloo): training, the rank in every log line,
and resuming with 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tinydata import tiny_overrides, write_demo_dir

TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")


def _args(train: Path, dev: Path, **extra: object) -> list[str]:
    out = []
    for o in tiny_overrides(train, dev, **extra):
        k, v = o.split("=", 1)
        out += [f"--{k}", v]
    return out


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")
@pytest.mark.parametrize("mode", ["ddp", "model-avg"])
def test_two_workers_train_and_resume_with_one(tmp_path, mode):
    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    dev = write_demo_dir(tmp_path / "dev", "test", ["s11-010", "s12-011"])
    exp = tmp_path / "exp"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", "--no-python", "asr", "train",
                        "--train.dist", mode, "--train.avg_every", "3", *_args(train, dev, train__epochs=2),
                        str(exp)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    main_log = next(p for p in (exp / "log").glob("train.*.log") if ".rank" not in p.name).read_text()
    assert f"distributed: {mode}, 2 workers" in main_log and "[rank 0]" in main_log
    assert list((exp / "log").glob("train.*.rank1.log"))
    assert (exp / "final.pt").is_file() and (exp / "epoch-2.pt").is_file()
    import json

    history = json.loads((exp / "history.json").read_text())
    assert len(history) == 2 and all("dev_loss" in h for h in history)
    # resume with one process (a different number of workers) for a third epoch
    from asr.cli.main import main as asr_main

    assert asr_main(["train", "--resume", *_args(train, dev, train__epochs=3), str(exp)]) == 0
    assert len(json.loads((exp / "history.json").read_text())) == 3
    from asr.decode.recognizer import Recognizer

    rec = Recognizer(exp)
    assert rec.recognize([__import__("torch").zeros(8000)])[0] is not None


def test_ddp_without_torchrun_is_one_line(tmp_path, capsys, monkeypatch):
    from asr.cli.main import main as asr_main

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    train = write_demo_dir(tmp_path / "train", "train", ["s03-000", "s03-001"])
    assert asr_main(["train", "--train.dist", "ddp", *_args(train, None), str(tmp_path / "exp")]) == 1
    assert "torchrun" in capsys.readouterr().err
