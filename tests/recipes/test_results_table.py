"""utils/results_table.py: one Markdown row per exp dir from the files the recipe steps write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from asr.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "recipes" / "utils" / "results_table.py"


def make_exp(root: Path, name: str, units: str, greedy: float, lm: float | None) -> Path:
    exp = root / name
    (exp / "decode_dev").mkdir(parents=True)
    state = {"config": {"model": {"cell": "lstm", "bidirectional": True, "layers": 2, "hidden": 8, "proj": 4},
                        "data": {"units": units, "bpe_vocab_size": 50}},
             "model": {"w": torch.zeros(10, 10), "b": torch.zeros(5)}}
    save_checkpoint(exp / "final.pt", state)
    hist = [{"epoch": 1, "time_s": 90.0, "dev_loss": 2.5, "dev_token_acc": 0.1},
            {"epoch": 2, "time_s": 30.0, "dev_loss": 1.23456, "dev_token_acc": 0.4567}]
    (exp / "history.json").write_text(json.dumps(hist))
    (exp / "decode_dev" / "wer").write_text(f"%WER {greedy:.2f} [ 1 / 10, 0 ins, 0 del, 1 sub ]\n")
    if lm is not None:
        scoring = exp / "decode_dev_lm" / "scoring"
        scoring.mkdir(parents=True)
        (scoring / "best_wer").write_text(f"%WER {lm:.2f} [ 1 / 10, 0 ins, 0 del, 1 sub ] {exp}/wer_1_0\n")
        (scoring / "lmwt").write_text("1.5\n")
        (scoring / "wip").write_text("-1\n")
    (exp / "decode_test").mkdir()
    (exp / "decode_test" / "wer").write_text("%WER 7.00 [ 7 / 100, 1 ins, 2 del, 4 sub ]\n")
    return exp


def test_rows(tmp_path):
    char = make_exp(tmp_path, "ctc_char", "char", 12.5, 10.0)
    phone = make_exp(tmp_path, "ctc_phone", "phone", 80.0, 9.0)
    bpe = make_exp(tmp_path, "ctc_bpe", "bpe", 20.0, None)
    missing = tmp_path / "ctc_none"
    stopped = make_exp(tmp_path, "ctc_stopped", "char", 99.0, None)  # training stopped after epoch 2
    (stopped / "final.pt").rename(stopped / "epoch-2.pt")
    save_checkpoint(stopped / "epoch-1.pt", {"config": {}, "model": {}})
    r = subprocess.run([sys.executable, str(SCRIPT), "--title", "T", "--command", "./run.sh", "--note", "N",
                        str(char), str(phone), str(bpe), str(missing), str(stopped)],
                       capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    assert lines[0] == "# T" and "Produced by `./run.sh`" in r.stdout and "\nN\n" in r.stdout
    cells = [line.strip("| ").split(" | ") for line in lines if line.startswith("| ctc_")]
    rows = {c[0]: c for c in cells if len(c) == 10}  # the main table (other decodes have 4 columns)
    # name, model, params, epochs, minutes, dev loss, dev acc, greedy, LM, setting
    assert rows["ctc_char"] == ["ctc_char", "lstm bi 2x8 p4, char", "0.00 M", "2", "2.0", "1.235", "45.7",
                                "12.50", "10.00", "1.5 / -1"]
    assert rows["ctc_phone"][7:9] == ["n/a (phones)", "9.00"]  # a phone string has no word error rate
    assert rows["ctc_bpe"][1] == "lstm bi 2x8 p4, bpe50" and rows["ctc_bpe"][8:] == ["-", "-"]
    assert rows["ctc_none"][1:] == ["-"] * 9
    assert rows["ctc_stopped"][1:4] == ["lstm bi 2x8 p4, char", "0.00 M", "2 (unfinished)"]
    # Other decode dirs are listed under the table.
    assert "| ctc_char | decode_test | 7.00 |" in r.stdout


def test_update_keeps_the_text_around_the_table(tmp_path):
    exp = make_exp(tmp_path, "ctc_char", "char", 12.5, 10.0)
    out = tmp_path / "RESULTS.md"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(SCRIPT), "--title", "T", "--update", str(out), *extra, str(exp)],
                              capture_output=True, text=True)

    assert run().returncode == 0  # created, with the markers
    first = out.read_text()
    assert first.startswith("<!-- results_table: begin -->\n# T\n") and "| ctc_char |" in first
    out.write_text("Intro by hand.\n\n" + first + "\n## Notes by hand\n\nkept\n")
    (exp / "decode_dev" / "wer").write_text("%WER 11.00 [ 1 / 10, 0 ins, 0 del, 1 sub ]\n")
    assert run().returncode == 0
    second = out.read_text()
    assert second.startswith("Intro by hand.\n\n<!-- results_table: begin -->")
    assert second.endswith("<!-- results_table: end -->\n\n## Notes by hand\n\nkept\n")
    assert "| 11.00 |" in second and "| 12.50 |" not in second and second.count("# T") == 1

    # A file without the markers is not touched: an error says why.
    out.write_text("all by hand\n")
    r = run()
    assert r.returncode != 0 and "results_table: begin" in r.stderr
    assert out.read_text() == "all by hand\n" and not list(tmp_path.glob("*.tmp"))
