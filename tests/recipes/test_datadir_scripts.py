"""The Kaldi-named data-dir scripts in recipes/utils/, run end to end as a recipe runs them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UTILS = REPO / "recipes" / "utils"
VENV_BIN = REPO / ".venv" / "bin"

BASE = {
    "wav.scp": "a-1 /data/a1.wav\na-2 /data/a2.wav\na-3 /data/a3.wav\nb-1 /data/b1.wav\nb-2 /data/b2.wav\n",
    "utt2spk": "a-1 a\na-2 a\na-3 a\nb-1 b\nb-2 b\n",
    "spk2utt": "a a-1 a-2 a-3\nb b-1 b-2\n",
    "text": "a-1 ONE\na-2 TWO\na-3 THREE\nb-1 FOUR\nb-2 FIVE\n",
    "utt2dur": "a-1 3\na-2 1\na-3 2\nb-1 5\nb-2 4\n",
}


def make_dir(path: Path, files: dict[str, str] = BASE) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def run(script: str, *args: str | Path, cwd: Path | None = None, stdin: str | None = None,
        path_env: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``utils/<script>`` with the toolkit's virtualenv on PATH (as path.sh does)."""
    env = dict(os.environ, LC_ALL="C",
               PATH=path_env if path_env is not None else f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    exe = (cwd / "utils" / script) if cwd is not None else UTILS / script
    p = subprocess.run([str(exe), *map(str, args)], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{script} {args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def test_validate_data_dir_sh(tmp_path):
    d = make_dir(tmp_path / "d")
    p = run("validate_data_dir.sh", "--no-feats", d)
    assert "successfully validated" in p.stderr
    bad = run("validate_data_dir.sh", d, check=False)
    assert bad.returncode == 1
    assert "feats.scp: no such file (if this is by design, specify --no-feats)" in bad.stderr
    (d / "text").write_text("a-1 ONE\na-3 THREE\na-2 TWO\nb-1 FOUR\nb-2 FIVE\n")
    bad = run("validate_data_dir.sh", "--no-feats", "--no-text", d, check=False)
    assert bad.returncode == 1 and f"{d}/text:3: not sorted" in bad.stderr
    assert run("validate_data_dir.sh", check=False).returncode != 0  # usage


def test_spk2utt_filters_read_stdin_or_files(tmp_path):
    u2s = "u1 s2\nu2 s1\nu3 s2\n"
    p = run("utt2spk_to_spk2utt.pl", stdin=u2s)
    assert p.stdout == "s2 u1 u3\ns1 u2\n"  # Kaldi's order: speakers as first seen
    (tmp_path / "utt2spk").write_text(u2s)
    assert run("utt2spk_to_spk2utt.pl", tmp_path / "utt2spk").stdout == p.stdout
    assert run("spk2utt_to_utt2spk.pl", stdin=p.stdout).stdout == "u1 s2\nu3 s2\nu2 s1\n"
    # Kaldi recipes also call them through perl
    env = dict(os.environ, PATH=f"{VENV_BIN}:/usr/bin:/bin")
    q = subprocess.run(["perl", str(UTILS / "utt2spk_to_spk2utt.pl"), str(tmp_path / "utt2spk")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert q.stdout == p.stdout
    bad = run("utt2spk_to_spk2utt.pl", stdin="u1 s1\nu2\n", check=False)
    assert bad.returncode == 1 and "invalid line in utt2spk" in bad.stderr


def test_scripts_work_through_a_recipe_symlink_without_asr_on_path(tmp_path):
    s5 = tmp_path / "egs" / "x" / "s5"
    s5.mkdir(parents=True)
    (s5 / "utils").symlink_to(UTILS)
    d = make_dir(s5 / "data" / "train")
    p = run("validate_data_dir.sh", "--no-feats", "data/train", cwd=s5, path_env="/usr/bin:/bin")
    assert "successfully validated" in p.stderr
    q = run("utt2spk_to_spk2utt.pl", cwd=s5, stdin=(d / "utt2spk").read_text(), path_env="/usr/bin:/bin")
    assert q.stdout == BASE["spk2utt"]


def test_fix_data_dir_sh(tmp_path):
    d = make_dir(tmp_path / "d", dict(BASE, text="b-1 FOUR\na-1 ONE\n"))
    run("fix_data_dir.sh", d)
    assert (d / "utt2spk").read_text() == "a-1 a\nb-1 b\n"
    assert (d / ".backup" / "text").read_text() == "b-1 FOUR\na-1 ONE\n"
    run("validate_data_dir.sh", "--no-feats", d)


def test_subset_data_dir_sh_argument_orders(tmp_path):
    src = make_dir(tmp_path / "src")

    def utts(d: Path) -> list[str]:
        return [line.split()[0] for line in (d / "utt2spk").read_text().splitlines()]

    run("subset_data_dir.sh", "--first", src, 2, tmp_path / "first")
    assert utts(tmp_path / "first") == ["a-1", "a-2"]
    run("subset_data_dir.sh", "--last", src, 2, tmp_path / "last")
    assert utts(tmp_path / "last") == ["b-1", "b-2"]
    run("subset_data_dir.sh", src, 2, tmp_path / "even")
    assert utts(tmp_path / "even") == ["a-2", "b-2"]
    run("subset_data_dir.sh", "--shortest", src, 2, tmp_path / "short")
    assert utts(tmp_path / "short") == ["a-2", "a-3"]
    run("subset_data_dir.sh", "--per-spk", src, 1, tmp_path / "perspk")
    assert utts(tmp_path / "perspk") == ["a-1", "b-1"]
    (tmp_path / "list").write_text("b-2\na-3\n")
    run("subset_data_dir.sh", "--utt-list", tmp_path / "list", src, tmp_path / "ulist")
    assert utts(tmp_path / "ulist") == ["a-3", "b-2"]
    (tmp_path / "spks").write_text("b\n")
    run("subset_data_dir.sh", "--spk-list", tmp_path / "spks", src, tmp_path / "slist")
    assert utts(tmp_path / "slist") == ["b-1", "b-2"]
    assert (tmp_path / "slist" / "utt2dur").read_text() == "b-1 5\nb-2 4\n"
    for d in ("first", "last", "even", "short", "perspk", "ulist", "slist"):
        run("validate_data_dir.sh", "--no-feats", tmp_path / d)
    bad = run("subset_data_dir.sh", "--first", src, 9, tmp_path / "x", check=False)
    assert bad.returncode == 1 and "only 5" in bad.stderr
    assert run("subset_data_dir.sh", "--utt-list", tmp_path / "list", src, 2, tmp_path / "x",
               check=False).returncode != 0


def test_split_data_sh(tmp_path):
    d = make_dir(tmp_path / "d")
    run("split_data.sh", d, 2)
    assert (d / "split2" / "1" / "utt2spk").read_text() == "a-1 a\na-2 a\na-3 a\n"
    assert (d / "split2" / "2" / "spk2utt").read_text() == "b b-1 b-2\n"
    run("split_data.sh", "--per-utt", d, 5)
    assert (d / "split5utt" / "5" / "text").read_text() == "b-2 FIVE\n"
    bad = run("split_data.sh", d, 3, check=False)
    assert bad.returncode == 1 and "only 2 speakers" in bad.stderr


def test_combine_and_copy_data_dir_sh(tmp_path):
    src = make_dir(tmp_path / "src")
    run("copy_data_dir.sh", "--utt-prefix", "x-", "--spk-prefix=x-", src, tmp_path / "x")
    assert (tmp_path / "x" / "spk2utt").read_text().startswith("x-a x-a-1 x-a-2 x-a-3\n")
    run("copy_data_dir.sh", "--utt-suffix", "-y", "--spk-suffix", "-y", src, tmp_path / "y")
    assert (tmp_path / "y" / "utt2spk").read_text().startswith("a-1-y a-y\n")
    run("combine_data.sh", tmp_path / "all", tmp_path / "x", tmp_path / "y")
    assert len((tmp_path / "all" / "utt2spk").read_text().splitlines()) == 10
    run("validate_data_dir.sh", "--no-feats", tmp_path / "all")
    run("combine_data.sh", "--skip-fix", "true", "--extra-files", "utt2dur", tmp_path / "all2", src, tmp_path / "x")
    assert (tmp_path / "all2" / "utt2dur").is_file()
    bad = run("combine_data.sh", tmp_path / "dup", src, src, check=False)
    assert bad.returncode == 1 and "is also in" in bad.stderr


def test_perturb_data_dir_speed_sh(tmp_path):
    src = make_dir(tmp_path / "src")
    run("perturb_data_dir_speed.sh", "0.9", src, tmp_path / "sp")
    sp = tmp_path / "sp"
    assert (sp / "wav.scp").read_text().splitlines()[0] == "sp0.9-a-1 sox -t wav /data/a1.wav -t wav - speed 0.9 |"
    assert (sp / "utt2spk").read_text().splitlines()[0] == "sp0.9-a-1 sp0.9-a"
    assert (sp / "utt2dur").read_text().splitlines()[0] == "sp0.9-a-1 3.33333"  # awk's %.6g, as Kaldi
    run("combine_data.sh", tmp_path / "train_sp", src, sp)
    run("validate_data_dir.sh", "--no-feats", tmp_path / "train_sp")


def test_compute_utt2dur_command(tmp_path):
    if not (REPO / "asr" / "audio.py").is_file():
        pytest.skip("asr/audio.py (utterance_durations) is not written yet")
    np = pytest.importorskip("numpy")
    sf = pytest.importorskip("soundfile")
    d = make_dir(tmp_path / "d", {"wav.scp": "a wav/a.wav\n", "utt2spk": "a a\n", "spk2utt": "a a\n"})
    (tmp_path / "wav").mkdir()
    sf.write(tmp_path / "wav" / "a.wav", np.zeros(12000, dtype="float32"), 8000)
    env = dict(os.environ, PATH=f"{VENV_BIN}:/usr/bin:/bin")
    p = subprocess.run(["asr", "compute-utt2dur", "--root", str(tmp_path), str(d)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (d / "utt2dur").read_text() == "a 1.5\n"


def test_real_corpus_validates_with_the_script(corpora):
    p = run("validate_data_dir.sh", "--no-feats", corpora / "speechocean762" / "train")
    assert "successfully validated" in p.stderr


def test_best_system_picks_the_lowest_wer_of_any_kind(tmp_path):
    """utils/best_system.sh: the decode dir with the lowest scoring/best_wer; dirs without one are
    skipped; its best_wer's own path (stale after a rename) does not matter."""
    script = REPO / "recipes" / "utils" / "best_system.sh"
    rows = {"exp/ctc_char/decode_dev_lm": "63.26", "exp/tri1/decode_dev": "59.85", "exp/ce_lstm/decode_dev": "61.00"}
    for d, w in rows.items():
        (tmp_path / d / "scoring").mkdir(parents=True)
        (tmp_path / d / "scoring" / "best_wer").write_text(
            f"%WER {w} [ 1 / 10, 0 ins, 0 del, 1 sub ] old/path/wer_1_0\n")
    (tmp_path / "exp" / "mono" / "decode_dev").mkdir(parents=True)  # decoded nothing yet
    r = subprocess.run([str(script), "exp/mono/decode_dev", *rows], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "exp/tri1/decode_dev"
    r = subprocess.run([str(script), "exp/mono/decode_dev"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1 and "none of these decode dirs" in r.stderr
