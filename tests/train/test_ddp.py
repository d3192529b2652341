"""DDP, model averaging, Hogwild and ASGD with a parameter server under torchrun (2 CPU workers,
gloo / RPC): training, the rank in every log line, and resuming with 1; ASGD's slow and dead workers."""

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
@pytest.mark.parametrize("mode", ["ddp", "model-avg", "hogwild", "asgd"])
def test_two_workers_train_and_resume_with_one(tmp_path, mode):
    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    dev = write_demo_dir(tmp_path / "dev", "test", ["s11-010", "s12-011"])
    exp = tmp_path / "exp"
    r = _torchrun(mode, _args(train, dev, train__epochs=2), exp, servers=2)  # asgd: the parameters in 2 shards
    assert r.returncode == 0, r.stderr[-3000:]
    main_log = next(p for p in (exp / "log").glob("train.*.log") if ".rank" not in p.name).read_text()
    assert f"distributed: {mode}, 2 workers" in main_log and "[rank 0]" in main_log
    assert list((exp / "log").glob("train.*.rank1.log"))
    if mode == "asgd":
        assert "staleness" in main_log and "on 2 servers" in main_log
        assert list((exp / "log").glob("train.*.rank3.log"))  # the second server's
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


def _torchrun(mode: str, args: list[str], exp: Path, env_extra: dict[str, str] | None = None,
              workers: int = 2, servers: int = 1) -> subprocess.CompletedProcess:
    """``asr train`` under torchrun with ``workers`` workers (+ ``servers`` parameter servers for asgd)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           **(env_extra or {})}
    nproc = workers + (servers if mode == "asgd" else 0)
    return subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", str(nproc), "--no-python", "asr", "train",
                           "--train.dist", mode, "--train.avg_every", "3", "--train.asgd_wait", "20",
                           "--train.asgd_servers", str(servers), *args, str(exp)],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")
def test_asgd_slow_worker_has_higher_staleness_and_a_dead_one_is_dropped(tmp_path):
    import json

    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    args = _args(train, None, train__epochs=2, data__max_frames=150)
    slow = tmp_path / "slow"
    r = _torchrun("asgd", args, slow, {"ASR_ASGD_FAULT": "1:slow=0.3"})
    assert r.returncode == 0, r.stderr[-3000:]
    history = json.loads((slow / "history.json").read_text())

    def staleness(worker: str) -> float:  # mean over the run
        pushes = sum(h["asgd_staleness"][worker]["pushes"] for h in history)
        st = [h["asgd_staleness"][worker] for h in history]
        return sum(s["mean"] * s["pushes"] for s in st) / pushes

    # The slow worker's gradients are older when they arrive: the other made several updates meanwhile.
    # Not in every epoch: the fast worker can be through its share before the slow one's first pull
    # (start-up), but in some epoch they overlap, and then one slow push finds several updates done
    # since its pull, while a fast push finds at most about one (a slow push every 0.3 s).
    def worst(worker: str) -> int:
        return max(h["asgd_staleness"][worker]["max"] for h in history)

    assert worst("1") >= 2 and worst("1") > worst("0") and staleness("1") > staleness("0"), history
    dead = tmp_path / "dead"
    r = _torchrun("asgd", [*args, "--train.asgd_wait", "3", "--train.pull_interval", "2"], dead,
                  {"ASR_ASGD_FAULT": "1:exit=2"})
    assert r.returncode == 0, r.stderr[-3000:]
    main_log = next(p for p in (dead / "log").glob("train.*.log") if ".rank" not in p.name).read_text()
    assert "worker 1 has not finished epoch 1" in main_log and "is dropped" in main_log
    assert (dead / "final.pt").is_file() and len(json.loads((dead / "history.json").read_text())) == 2


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")
def test_asgd_worker_does_not_run_ahead_of_a_slow_main_worker(tmp_path):
    """The main worker slowed: the other waits at each epoch's end for the main one's, so every epoch's
    pushes are both workers' (without the wait worker 1 was through all its epochs during the main
    worker's first, and the later epochs were the main worker's alone)."""
    import json

    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    exp = tmp_path / "exp"
    r = _torchrun("asgd", _args(train, None, train__epochs=3, data__max_frames=150), exp,
                  {"ASR_ASGD_FAULT": "0:slow=0.1"})
    assert r.returncode == 0, r.stderr[-3000:]
    history = json.loads((exp / "history.json").read_text())
    pushes = [{w: s["pushes"] for w, s in h["asgd_staleness"].items()} for h in history]
    share = pushes[0]["0"]  # the main worker's share of an epoch (the two shares differ by one at most)
    assert all(p.get("1", 0) >= share // 2 and p["1"] <= share + 2 for p in pushes), pushes


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")
@pytest.mark.parametrize("mode", ["ddp", "asgd"])
def test_a_killed_worker_is_restarted_and_resumes_from_the_last_checkpoint(tmp_path, mode):
    """torchrun --max-restarts 1 (steps/train.sh --max-restarts 1 adds --resume): worker 1 fails at the start
    of epoch 2; torchrun restarts every process (asgd: the parameter server too, whose rendezvous must not
    meet the first attempt's), and they go on from epoch-1.pt to the end."""
    import json

    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    exp = tmp_path / "exp"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "ASR_FAULT_EXIT": "1:2"}
    nproc = 2 + (mode == "asgd")
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", str(nproc), "--max-restarts", "1",
                        "--no-python", "asr", "train", "--resume", "--train.dist", mode, "--train.asgd_wait", "20",
                        *_args(train, None, train__epochs=3), str(exp)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    logs = "".join(p.read_text() for p in (exp / "log").glob("train.*.log"))
    assert "fails at the start of epoch 2" in logs and "resuming from" in logs and "(epoch 1)" in logs
    assert [h["epoch"] for h in json.loads((exp / "history.json").read_text())] == [1, 2, 3]


def test_ddp_without_torchrun_is_one_line(tmp_path, capsys, monkeypatch):
    from asr.cli.main import main as asr_main

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    train = write_demo_dir(tmp_path / "train", "train", ["s03-000", "s03-001"])
    assert asr_main(["train", "--train.dist", "ddp", *_args(train, None), str(tmp_path / "exp")]) == 1
    assert "torchrun" in capsys.readouterr().err


def test_optimizer_state_round_trips_through_flat_shards():
    """ASGD's servers hold the optimizer state of flat shards; the main worker's checkpoint holds it per
    parameter again: the two agree, and a step from either gives the same parameters."""
    import torch

    from asr.train.async_sgd import _shard_bounds, flat_optimizer_state, load_flat_optimizer_state

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(5))]
    opt = torch.optim.Adam(params, lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        sum((p ** 2).sum() for p in params).backward()
        opt.step()
    scalars, flats = flat_optimizer_state(opt, params)
    assert set(flats) == {"exp_avg", "exp_avg_sq"} and int(scalars["step"]) == 3
    bounds = _shard_bounds(17, 2)
    assert bounds == [(0, 9), (9, 17)]
    # the flat state of one optimizer over the flat parameter vector, stepped once, equals the per-parameter one
    flat = torch.nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    server = torch.optim.Adam([flat], lr=0.01)
    server.state[flat] = {**scalars, **flats}
    flat.grad = torch.cat([2 * p.detach().reshape(-1) for p in params])
    server.step()
    opt.zero_grad()
    sum((p ** 2).sum() for p in params).backward()
    opt.step()
    assert torch.allclose(flat.detach(), torch.cat([p.detach().reshape(-1) for p in params]), atol=1e-7)
    fresh = torch.optim.Adam(params, lr=0.01)
    load_flat_optimizer_state(fresh, params, *flat_optimizer_state(server, [flat]))
    for p in params:
        assert torch.allclose(fresh.state[p]["exp_avg"], opt.state[p]["exp_avg"], atol=1e-7)
        assert int(fresh.state[p]["step"]) == 4
