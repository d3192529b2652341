"""speechocean762: data prep (run.sh stage 1) gives valid Kaldi data dirs and a speaker-disjoint dev
set; run_comparison.sh trains, decodes and tabulates systems (in parallel with --jobs) on a small subset.

The scripts run in a copy of the recipe (steps/ and utils/ linked to the checkout's recipes/) on
../shared/corpora/speechocean762; skipped when the corpus is absent. Data prep takes a few seconds (no
audio is decoded); the comparison test about a minute (fbank of 36 utterances, two 1-epoch trainings).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asr.datadir import DataDir, validate_data_dir

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "speechocean762" / "s5"


def test_stage1_speaker_disjoint_dev(corpora, copy_recipe, run_in_recipe):
    corpus = corpora / "speechocean762"
    s5 = copy_recipe("speechocean762")
    run_in_recipe(s5, "run.sh", "--stage", "1", "--stop-stage", "1", "--corpus-dir", str(corpus), timeout=120)
    data = s5 / "data"
    for part in ("train", "dev"):
        validate_data_dir(data / part, no_feats=True)  # raises on any violation
    train, dev = DataDir.load(data / "train"), DataDir.load(data / "dev")
    assert train.utt2spk and dev.utt2spk and train.text and dev.text

    train_spk, dev_spk = set(train.utt2spk.values()), set(dev.utt2spk.values())
    assert not train_spk & dev_spk, f"speakers in both train and dev: {sorted(train_spk & dev_spk)}"
    listed = (RECIPE / "local" / "dev_speakers.txt").read_text().split()
    assert len(listed) == 13
    assert dev_spk == set(listed)

    # Together they are the corpus' training half: nothing lost, nothing duplicated.
    source = DataDir.load(data / "local" / "corpus" / "train")
    assert source.utt2spk is not None
    assert set(train.utt2spk) | set(dev.utt2spk) == set(source.utt2spk)
    assert not set(train.utt2spk) & set(dev.utt2spk)
    assert len(train_spk) + len(dev_spk) == len(set(source.utt2spk.values()))
    # Utterance ids carry their speaker as a prefix, and wav.scp holds absolute paths that exist.
    assert all(u.startswith(f"{s}-") for u, s in dev.utt2spk.items())
    assert dev.wav_scp is not None
    first = Path(next(iter(dev.wav_scp.values())))
    assert first.is_absolute() and first.is_file(), first


@pytest.mark.slow
def test_run_comparison_jobs(corpora, copy_recipe, run_in_recipe):
    """Two systems trained and decoded side by side (--jobs 2) on 24 training and 12 dev utterances, then
    one table with both; a system whose training fails makes the script fail."""
    s5 = copy_recipe("speechocean762")
    run_in_recipe(s5, "run.sh", "--stage", "1", "--stop-stage", "1", "--corpus-dir",
                  str(corpora / "speechocean762"), timeout=120)
    run_in_recipe(s5, "utils/subset_data_dir.sh", "data/train", "24", "data/tiny_train")
    run_in_recipe(s5, "utils/subset_data_dir.sh", "data/dev", "12", "data/tiny_dev")
    for part in ("tiny_train", "tiny_dev"):
        run_in_recipe(s5, "steps/make_fbank.sh", "--nj", "1", "--fbank-config", "conf/fbank.conf", f"data/{part}",
                      f"exp/make_fbank/{part}", "fbank")
    # The LM (stage 4) comes from all training transcripts: a few seconds.
    run_in_recipe(s5, "run.sh", "--stage", "4", "--stop-stage", "4", "--corpus-dir",
                  str(corpora / "speechocean762"), timeout=300)

    common = ["--train-set", "data/tiny_train", "--dev-set", "data/tiny_dev", "--epochs", "1", "--jobs", "2",
              "--threads", "1", "--lm-weights", "1", "--word-ins-penalties", "0", "--nj", "1"]
    out = run_in_recipe(s5, "run_comparison.sh", "--systems", "lstm lstm-gates", *common,
                        "--train-opts", "--train.average_last 1", timeout=900)
    log = out.stdout + out.stderr
    # One run.pl job per system, slowest first: lstm before lstm-gates.
    assert "run_comparison.sh: lstm (exp/cmp_log/system.1.log):" in log, log[-3000:]
    assert "run_comparison.sh: lstm-gates (exp/cmp_log/system.2.log):" in log, log[-3000:]
    for sys_ in ("lstm", "lstm-gates"):
        exp = s5 / "exp" / f"cmp_{sys_}"
        assert (exp / "final.pt").is_file()
        assert re.search(r"^%WER ", (exp / "decode_dev" / "wer").read_text(), flags=re.M)
        assert (exp / "decode_dev_lm" / "scoring" / "best_wer").is_file()
        assert (exp / "decode_dev_lm" / "wer_1_0").is_file()
    table = (s5 / "RESULTS_comparison.md").read_text()
    assert "| cmp_lstm |" in table and "| cmp_lstm-gates |" in table, table
    assert "--jobs 2 --threads 1" in table and '--train-opts "--train.average_last 1"' in table, table
    assert "2 systems at a time (1 thread(s) each)" in table, table

    # A training that fails (an unknown config field) fails the whole run and says which system.
    bad = run_in_recipe(s5, "run_comparison.sh", "--systems", "lstm-srnn lstm-srnn-out", *common,
                        "--stage", "1", "--train-opts", "--train.no_such_field 1", check=False, timeout=300)
    assert bad.returncode != 0
    m = re.search(r"^run_comparison.sh: failed: (.*) \(their output is above\)$", bad.stderr, flags=re.M)
    assert m and sorted(m.group(1).split()) == ["lstm-srnn", "lstm-srnn-out"], bad.stderr[-3000:]
    logs = "".join(f.read_text() for f in (s5 / "exp" / "cmp_lstm-srnn" / "log").glob("train.*.log"))
    assert "unknown option(s) no_such_field" in logs, logs[-3000:]
