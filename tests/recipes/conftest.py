"""Fixtures of the recipe tests: runnable copies of egs/<corpus>/s5 and a way to run their scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPE_FILES = ("cmd.sh", "path.sh", "conf", "local")  # and every run*.sh


@pytest.fixture
def copy_recipe(tmp_path: Path) -> Callable[[str], Path]:
    """``copy_recipe(name)``: a runnable copy of egs/<name>/s5 under tmp_path (its scripts, conf/ and
    local/; steps/ and utils/ are links into the checkout's recipes/). Returns the copy's s5 dir."""

    def copy(name: str) -> Path:
        src = REPO / "egs" / name / "s5"
        s5 = tmp_path / name / "s5"
        s5.mkdir(parents=True)
        for item in (*RECIPE_FILES, *(p.name for p in sorted(src.glob("run*.sh")))):
            if (src / item).is_dir():
                shutil.copytree(src / item, s5 / item)
            elif (src / item).is_file():
                shutil.copy2(src / item, s5 / item)
        for link in ("steps", "utils"):
            (s5 / link).symlink_to(REPO / "recipes" / link)
        return s5

    return copy


def run_script(s5: Path, script: str, *args: str, timeout: int = 900,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``bash <script> args`` in ``s5`` with this interpreter's ``asr`` first on PATH; with ``check``,
    fails the test (showing the output's end) on a non-zero exit status."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run(["bash", script, *args], cwd=s5, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"{script} failed ({r.returncode}):\n{(r.stdout + r.stderr)[-5000:]}"
    return r


@pytest.fixture
def run_in_recipe() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_in_recipe(s5, "run.sh", *args, timeout=900, check=True)``: see :func:`run_script`."""
    return run_script
