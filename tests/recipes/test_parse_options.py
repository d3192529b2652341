"""recipes/utils/parse_options.sh: Kaldi option parsing for recipe scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PARSE_OPTIONS = REPO / "recipes" / "utils" / "parse_options.sh"

# A recipe-like script: defaults, then parse_options.sh, then print what it got.
SCRIPT = """#!/usr/bin/env bash
# Demo script for the tests.
# Usage: demo.sh [--nj N] [--foo-bar X] <arg> ...
set -euo pipefail
nj=1
foo_bar=default
use_gpu=false
cmd=run.pl
{extra}
. {parse_options}
echo "nj=$nj"
echo "foo_bar=$foo_bar"
echo "use_gpu=$use_gpu"
echo "cmd=$cmd"
echo "nargs=$#"
for a in "$@"; do echo "arg=$a"; done
"""


def _run(tmp_path: Path, *args: str, extra: str = "") -> subprocess.CompletedProcess:
    script = tmp_path / "demo.sh"
    script.write_text(SCRIPT.format(parse_options=PARSE_OPTIONS, extra=extra))
    script.chmod(0o755)
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=tmp_path, timeout=30)


def _vars(out: str) -> dict[str, str | list[str]]:
    result: dict[str, str | list[str]] = {"arg": []}
    for line in out.splitlines():
        k, v = line.split("=", 1)
        if k == "arg":
            result["arg"].append(v)  # type: ignore[union-attr]
        else:
            result[k] = v
    return result


def test_defaults_are_kept_without_options(tmp_path):
    r = _run(tmp_path, "a", "b")
    assert r.returncode == 0, r.stderr
    v = _vars(r.stdout)
    assert v["nj"] == "1" and v["foo_bar"] == "default" and v["arg"] == ["a", "b"]


def test_options_set_existing_variables_dashes_become_underscores(tmp_path):
    r = _run(tmp_path, "--nj", "4", "--foo-bar", "x y", "--cmd", "run.pl --max-jobs-run 2", "data/a", "exp/b")
    assert r.returncode == 0, r.stderr
    v = _vars(r.stdout)
    assert v["nj"] == "4"
    assert v["foo_bar"] == "x y"
    assert v["cmd"] == "run.pl --max-jobs-run 2"
    assert v["arg"] == ["data/a", "exp/b"]


def test_equals_form(tmp_path):
    r = _run(tmp_path, "--nj=3", "--foo-bar=a=b", "pos")
    assert r.returncode == 0, r.stderr
    v = _vars(r.stdout)
    assert v["nj"] == "3" and v["foo_bar"] == "a=b" and v["arg"] == ["pos"]


def test_unknown_option_is_an_error(tmp_path):
    r = _run(tmp_path, "--no-such-option", "1", "pos")
    assert r.returncode != 0
    assert "invalid option --no-such-option" in r.stderr
    assert r.stdout == ""


def test_option_without_value_is_an_error(tmp_path):
    r = _run(tmp_path, "--nj")
    assert r.returncode != 0 and "--nj needs a value" in r.stderr


@pytest.mark.parametrize("value", ["true", "false"])
def test_boolean_options_take_true_or_false(tmp_path, value):
    r = _run(tmp_path, "--use-gpu", value, "pos")
    assert r.returncode == 0, r.stderr
    assert _vars(r.stdout)["use_gpu"] == value


def test_boolean_option_rejects_other_values(tmp_path):
    r = _run(tmp_path, "--use-gpu", "yes", "pos")
    assert r.returncode != 0 and "true or false" in r.stderr


def test_parsing_stops_at_first_positional_argument(tmp_path):
    r = _run(tmp_path, "--nj", "2", "pos", "--nj", "5", "--bogus")
    assert r.returncode == 0, r.stderr
    v = _vars(r.stdout)
    assert v["nj"] == "2" and v["arg"] == ["pos", "--nj", "5", "--bogus"]


def test_double_dash_ends_options(tmp_path):
    r = _run(tmp_path, "--nj", "2", "--", "--nj")
    assert r.returncode == 0, r.stderr
    assert _vars(r.stdout)["arg"] == ["--nj"]


def test_config_file_sets_options_and_command_line_wins(tmp_path):
    (tmp_path / "demo.conf").write_text("# comment\nnj=7   # trailing comment\nfoo_bar='from config'\n\n")
    # --nj after --config must still win, and so must one given before it.
    for args in (["--config", "demo.conf", "--nj", "9"], ["--nj", "9", "--config", "demo.conf"]):
        r = _run(tmp_path, *args, "pos")
        assert r.returncode == 0, r.stderr
        v = _vars(r.stdout)
        assert v["nj"] == "9" and v["foo_bar"] == "from config" and v["arg"] == ["pos"]
    r = _run(tmp_path, "--config=demo.conf", "pos")
    assert r.returncode == 0, r.stderr
    assert _vars(r.stdout)["nj"] == "7"


def test_config_file_with_unknown_name_or_missing_file_is_an_error(tmp_path):
    (tmp_path / "bad.conf").write_text("nj=2\nnot_an_option=1\n")
    r = _run(tmp_path, "--config", "bad.conf", "pos")
    assert r.returncode != 0 and "bad.conf:2" in r.stderr and "not_an_option" in r.stderr
    r = _run(tmp_path, "--config", "missing.conf", "pos")
    assert r.returncode != 0 and "missing.conf" in r.stderr


def test_script_declaring_config_gets_it_as_an_ordinary_option(tmp_path):
    # steps/train.sh declares config= and passes the (YAML) file on: it must not be sourced.
    (tmp_path / "train.yaml").write_text("model:\n  hidden: 3\n")
    script = tmp_path / "demo.sh"
    r = _run(tmp_path, "--config", "train.yaml", "pos", extra="config=")
    assert r.returncode == 0, r.stderr
    script.write_text(script.read_text().replace('echo "nj=$nj"', 'echo "nj=$config"'))
    r = subprocess.run([str(script), "--config", "train.yaml", "pos"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=30)
    assert r.returncode == 0, r.stderr
    assert _vars(r.stdout)["nj"] == "train.yaml"


def test_help_prints_help_message_and_exits_zero(tmp_path):
    r = _run(tmp_path, "--help", extra='help_message="Usage: demo.sh <x>\\n  --nj N   number of jobs"')
    assert r.returncode == 0
    assert r.stdout == ""  # the script body did not run
    assert r.stderr.splitlines() == ["Usage: demo.sh <x>", "  --nj N   number of jobs"]


def test_help_without_help_message_prints_header_comments(tmp_path):
    r = _run(tmp_path, "-h")
    assert r.returncode == 0 and r.stdout == ""
    assert "Usage: demo.sh [--nj N]" in r.stderr


def test_no_helper_variables_leak(tmp_path):
    r = _run(tmp_path, "--nj", "2", "pos", extra="")
    assert r.returncode == 0
    script = tmp_path / "demo.sh"
    script.write_text(script.read_text() + 'compgen -v _po_ | sed "s/^/arg=/" || true\n')
    r = subprocess.run([str(script), "--nj", "2"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert _vars(r.stdout)["arg"] == []
