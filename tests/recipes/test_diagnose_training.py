"""recipes/utils/diagnose_training.py: per-layer records, and the learning-rate range test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tinydata import tiny_overrides, write_demo_dir

REPO = Path(__file__).resolve().parents[2]


def test_records_and_lr_range_test(tmp_path):
    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    conf = tmp_path / "c.yaml"
    conf.write_text("train:\n  log_interval: 0\n")
    args = []
    for o in tiny_overrides(train, None, data__max_frames=300, model__layers=2):
        k, v = o.split("=", 1)
        args += [f"--{k}={v}"]
    r = subprocess.run([sys.executable, str(REPO / "recipes" / "utils" / "diagnose_training.py"), "--updates", "30",
                        "--every", "1", "--lr-range", "1e-4", "1", "--json", str(tmp_path / "r.jsonl"), str(conf),
                        *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    lrs = [rec["lr"] for rec in records]
    assert lrs == sorted(lrs) and lrs[0] < 2e-4 and lrs[-1] > 0.5  # exponential from LO to HI
    assert {"layer0", "layer1", "output"} <= set(records[0]["grad_norm"])  # per layer, nn.LSTM's too
    for rec in records:  # the total is that of this update's groups (it once took in the previous total)
        g = rec["grad_norm"]
        assert abs(g["total"] - sum(v * v for k, v in g.items() if k != "total") ** 0.5) < 1e-3 * g["total"] + 2e-4
    assert "lr range test: smoothed loss falls fastest at lr" in r.stdout
