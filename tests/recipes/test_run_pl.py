"""recipes/utils/run.pl: Kaldi's local job runner (job arrays, one log per job, failure report)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_PL = REPO / "recipes" / "utils" / "run.pl"

pytestmark = pytest.mark.skipif(subprocess.run(["which", "perl"], capture_output=True).returncode != 0,
                                reason="perl is not installed")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUN_PL), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)


def _body(log: Path) -> list[str]:
    """The job's own output: the log without run.pl's header and trailer lines."""
    return [ln for ln in log.read_text().splitlines() if not ln.startswith("#")]


def test_job_array_substitutes_job_id_and_writes_one_log_per_job(tmp_path):
    r = _run(tmp_path, "JOB=1:4", "exp/log/echo.JOB.log", "echo", "job", "JOB", "of", "exp/out.JOB")
    assert r.returncode == 0, r.stderr
    for j in range(1, 5):
        log = tmp_path / f"exp/log/echo.{j}.log"
        lines = log.read_text().splitlines()
        assert lines[0] == f"# echo job {j} of exp/out.{j}"
        assert lines[1].startswith("# Started at ")
        assert _body(log) == [f"job {j} of exp/out.{j}"]
        assert re.fullmatch(r"# Accounting: time=\d+ threads=1", lines[-2])
        assert re.fullmatch(r"# Ended \(code 0\) at .+, elapsed time \d+ seconds", lines[-1])
    assert not (tmp_path / "exp/log/echo.5.log").exists()


def test_jobs_run_in_parallel(tmp_path):
    t0 = time.time()
    r = _run(tmp_path, "JOB=1:4", "log/s.JOB.log", "sleep", "1")
    assert r.returncode == 0, r.stderr
    assert time.time() - t0 < 3.0  # four 1 s jobs at once, not one after another


def test_max_jobs_run_limits_concurrency(tmp_path):
    # Each job records start/end times; at no time may more than 2 overlap.
    cmd = "echo start $(date +%s.%N) >> t.JOB; sleep 0.4; echo end $(date +%s.%N) >> t.JOB"
    r = _run(tmp_path, "--max-jobs-run", "2", "JOB=1:5", "log/m.JOB.log", cmd)
    assert r.returncode == 0, r.stderr
    events = []
    for j in range(1, 6):
        d = dict(line.split() for line in (tmp_path / f"t.{j}").read_text().splitlines())
        events += [(float(d["start"]), 1), (float(d["end"]), -1)]
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    assert peak == 2


def test_failure_report_names_failed_jobs_and_logs(tmp_path):
    r = _run(tmp_path, "JOB=1:4", "log/f.JOB.log", "test", "$((JOB%2))", "-eq", "1")
    assert r.returncode == 1
    assert "run.pl: 2 / 4 failed, log is in log/f.*.log" in r.stderr
    assert "job 2 failed with exit code 1, log is in log/f.2.log" in r.stderr
    assert "job 4 failed with exit code 1, log is in log/f.4.log" in r.stderr
    assert "job 1 " not in r.stderr and "job 3 " not in r.stderr
    assert (tmp_path / "log/f.2.log").read_text().splitlines()[-1].startswith("# Ended (code 1) at ")
    assert (tmp_path / "log/f.3.log").read_text().splitlines()[-1].startswith("# Ended (code 0) at ")


def test_single_job_without_job_range(tmp_path):
    r = _run(tmp_path, "exp/one.log", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert _body(tmp_path / "exp/one.log") == ["hello"]
    r = _run(tmp_path, "exp/two.log", "bash", "-c", "echo oops >&2; exit 3")
    assert r.returncode == 1
    assert "run.pl: job failed with exit code 3, log is in exp/two.log" in r.stderr
    assert _body(tmp_path / "exp/two.log") == ["oops"]
    assert "# Ended (code 3) at " in (tmp_path / "exp/two.log").read_text()


def test_pipes_and_redirections_as_separate_words_and_quoted_words_stay_whole(tmp_path):
    # As in Kaldi: `\|` and `\>` on the caller's command line act in the job's shell;
    # a word with spaces is one argument.
    r = _run(tmp_path, "JOB=1:2", "log/p.JOB.log", "printf", "%s+", "a b", "JOB", "|", "tr", "ab", "AB",
             ">", "out.JOB")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.1").read_text() == "A B+1+"
    assert (tmp_path / "out.2").read_text() == "A B+2+"


def test_single_word_command_is_a_shell_command_line(tmp_path):
    r = _run(tmp_path, "JOB=1:2", "log/c.JOB.log", "echo x JOB | tr x y > c.JOB && cat c.JOB")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.2").read_text() == "y 2\n"
    assert _body(tmp_path / "log/c.2.log") == ["y 2"]


def test_queue_options_are_accepted_and_ignored(tmp_path):
    r = _run(tmp_path, "--mem", "4G", "--num-threads", "2", "--gpu", "0", "--config", "conf/queue.conf",
             "JOB=1:2", "log/q.JOB.log", "true")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "# Accounting: time=0 threads=2" in (tmp_path / "log/q.1.log").read_text()
    r = _run(tmp_path, "--max-jobs-run=1", "log/q.log", "true")
    assert r.returncode == 0, r.stderr


def test_job_range_with_one_log_for_several_jobs_is_an_error(tmp_path):
    r = _run(tmp_path, "JOB=1:3", "log/same.log", "true")
    assert r.returncode != 0 and "share the log file log/same.log" in r.stderr


def test_usage_error_without_command(tmp_path):
    r = _run(tmp_path, "log/x.log")
    assert r.returncode != 0 and "Usage: run.pl" in r.stderr
