"""speechocean762 data prep (run.sh stage 1): valid Kaldi data dirs and a speaker-disjoint dev set.

Runs stage 1 of egs/speechocean762/s5/run.sh in a copy of the recipe (steps/ and utils/
linked to the checkout's recipes/) on ../shared/corpora/speechocean762; skipped when the
corpus is absent. Takes a few seconds: no audio is decoded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from asr.datadir import DataDir, validate_data_dir

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "speechocean762" / "s5"


def copy_recipe(dest: Path) -> Path:
    """A runnable copy of egs/speechocean762/s5 under ``dest`` (steps/ and utils/ point into the checkout)."""
    s5 = dest / "s5"
    s5.mkdir(parents=True)
    for item in ("run.sh", "cmd.sh", "path.sh", "conf", "local"):
        if (RECIPE / item).is_dir():
            shutil.copytree(RECIPE / item, s5 / item)
        else:
            shutil.copy2(RECIPE / item, s5 / item)
    for link in ("steps", "utils"):
        (s5 / link).symlink_to(REPO / "recipes" / link)
    return s5


def test_stage1_speaker_disjoint_dev(corpora, tmp_path):
    corpus = corpora / "speechocean762"
    s5 = copy_recipe(tmp_path)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run(["bash", "run.sh", "--stage", "1", "--stop-stage", "1", "--corpus-dir", str(corpus)],
                       cwd=s5, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"run.sh stage 1 failed ({r.returncode}):\n{(r.stdout + r.stderr)[-5000:]}"
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
