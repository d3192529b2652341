"""recipes/utils/slurm.pl against a stub sbatch: arrays, resources, one log per job, failures named."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLURM_PL = REPO / "recipes" / "utils" / "slurm.pl"

pytestmark = pytest.mark.skipif(subprocess.run(["which", "perl"], capture_output=True).returncode != 0,
                                reason="perl is not installed")

# A stand-in for sbatch --wait --array=S-E[%M] ... script: runs every task in turn with
# SLURM_ARRAY_TASK_ID set, records its arguments, and fails when a task failed (as --wait does).
STUB = r"""#!/usr/bin/env bash
echo "$@" >> "$SBATCH_ARGS"
array=; out=; script="${@: -1}"
for a in "$@"; do
  case $a in --array=*) array=${a#--array=}; array=${array%%\%*} ;; --output=*) out=${a#--output=} ;; esac
done
rc=0
for id in $(seq ${array%-*} ${array#*-}); do
  SLURM_ARRAY_TASK_ID=$id bash "$script" > "${out//%a/$id}" 2>&1 || rc=1
done
echo 12345
exit $rc
"""


def _run(tmp_path: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sbatch").write_text(STUB)
    (bin_dir / "sbatch").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "SBATCH_ARGS": str(tmp_path / "sbatch.args"), **(env_extra or {})}
    return subprocess.run([str(SLURM_PL), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env)


def test_array_jobs_resources_and_logs(tmp_path):
    r = _run(tmp_path, "--num-threads", "4", "--gpu", "1", "--mem", "8G", "--max-jobs-run", "2", "JOB=1:3",
             "exp/log/echo.JOB.log", "echo", "job", "JOB", "with spaces", env_extra={"SLURM_PL_OPTS": "--partition=x"})
    assert r.returncode == 0, r.stderr
    args = (tmp_path / "sbatch.args").read_text()
    for want in ("--wait", "--array=1-3%2", "--cpus-per-task=4", "--gres=gpu:1", "--mem=8G", "--partition=x",
                 "--export=ALL"):
        assert want in args, want
    for i in (1, 2, 3):
        log = (tmp_path / "exp" / "log" / f"echo.{i}.log").read_text().splitlines()
        assert log[0] == f"# echo job {i} 'with spaces'"
        assert f"job {i} with spaces" in log
        assert log[-1].startswith("# Ended (code 0)") and log[-2].startswith("# Accounting: time=")
        assert "threads=4" in log[-2]


def test_failed_jobs_are_named(tmp_path):
    r = _run(tmp_path, "JOB=1:3", "exp/log/t.JOB.log", "test", "JOB", "-ne", "2")
    assert r.returncode == 1
    assert "job 2 failed with exit code 1, log is in exp/log/t.2.log" in r.stderr and "1 / 3 failed" in r.stderr
    assert "job 1 " not in r.stderr and "job 3 " not in r.stderr


def test_single_job_and_missing_sbatch(tmp_path):
    r = _run(tmp_path, "exp/log/one.log", "echo hello > exp/out.txt")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "exp" / "out.txt").read_text() == "hello\n"
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([str(SLURM_PL), "exp/log/x.log", "true"], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=60)
    assert r.returncode == 1 and "sbatch" in r.stderr
