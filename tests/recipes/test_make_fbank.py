"""steps/make_fbank.sh and steps/compute_cmvn_stats.sh end to end on a tiny FSDD data dir; the CLIs' error paths."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from asr.cli.main import main as asr_main
from asr.errors import EXIT_SKIPPED
from asr.features.frontend import Frontend, FrontendConfig

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "recipes" / "steps"
WAVS = ["0_george_0", "3_jackson_1", "7_theo_2"]


def _data_dir(root: Path, corpora: Path, wavs: list[str] = WAVS) -> Path:
    """A Kaldi data dir of FSDD recordings: utterance ids are prefixed by the speaker (Kaldi's sort rule)."""
    d = root / "data" / "train"
    d.mkdir(parents=True)
    rows = []
    for w in wavs:
        digit, spk, _ = w.split("_")
        rows.append((f"{spk}-{w}", spk, digit, corpora / "fsdd" / "recordings" / f"{w}.wav"))
    rows.sort()
    (d / "wav.scp").write_text("".join(f"{u} {p}\n" for u, _, _, p in rows))
    (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s, _, _ in rows))
    (d / "text").write_text("".join(f"{u} {t}\n" for u, _, t, _ in rows))
    spk2utt: dict[str, list[str]] = {}
    for u, s, _, _ in rows:
        spk2utt.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    (root / "conf").mkdir()
    (root / "conf" / "fbank.conf").write_text("--sample-frequency=8000\n--num-mel-bins=40\n")
    return d


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", LC_ALL="C")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _table(path: Path) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def test_make_fbank_and_cmvn_stats_end_to_end(tmp_path, corpora):
    data = _data_dir(tmp_path, corpora)
    r = _run([str(STEPS / "make_fbank.sh"), "--nj", "2", "--compress", "false", "--fbank-config",
              "conf/fbank.conf", "data/train", "exp/make_fbank/train", "fbank"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Succeeded creating filterbank features for train" in r.stdout
    for n in (1, 2):
        assert (tmp_path / "fbank" / f"raw_fbank_train.{n}.ark").is_file()
        assert (tmp_path / "fbank" / f"raw_fbank_train.{n}.scp").is_file()
        assert (tmp_path / "exp" / "make_fbank" / "train" / f"make_fbank_train.{n}.log").is_file()
    feats_scp = _table(data / "feats.scp")
    assert list(feats_scp) == sorted(_table(data / "utt2spk"))
    assert all(Path(v.rsplit(":", 1)[0]).is_absolute() for v in feats_scp.values())
    num_frames = {k: int(v) for k, v in _table(data / "utt2num_frames").items()}
    feats = kaldiio.load_scp(str(data / "feats.scp"))
    frontend = Frontend(FrontendConfig(fbank_conf=str(tmp_path / "conf" / "fbank.conf"), cmvn="none")).eval()
    from asr.audio import read_audio

    for utt, spec in _table(data / "wav.scp").items():
        mat = feats[utt]
        assert mat.shape == (num_frames[utt], 40)
        # the stored features are exactly what the frontend computes on the fly
        wave, _ = read_audio(spec, sample_rate=8000)
        y, y_lens = frontend(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
        assert int(y_lens[0]) == mat.shape[0]
        np.testing.assert_allclose(y[0].numpy(), mat, rtol=1e-5, atol=1e-4)

    r = _run([str(STEPS / "compute_cmvn_stats.sh"), "data/train", "exp/make_fbank/train", "fbank"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    cmvn = kaldiio.load_scp(str(data / "cmvn.scp"))
    assert sorted(cmvn) == ["george", "jackson", "theo"]
    for utt in feats_scp:
        f = feats[utt].astype(np.float64)
        ref = np.zeros((2, 41))
        ref[0, :40], ref[0, 40], ref[1, :40] = f.sum(0), len(f), (f * f).sum(0)
        np.testing.assert_allclose(cmvn[utt.split("-")[0]], ref, rtol=1e-6)


@pytest.mark.slow
def test_global_and_fake_cmvn_stats_and_compressed_features(tmp_path, corpora):
    data = _data_dir(tmp_path, corpora)
    r = _run([str(STEPS / "make_fbank.sh"), "--nj", "1", "data/train"], tmp_path)  # conf/fbank.conf by default
    assert r.returncode == 0, r.stdout + r.stderr
    assert (data / "data" / "raw_fbank_train.1.ark").is_file() and (data / "log").is_dir()
    feats = kaldiio.load_scp(str(data / "feats.scp"))
    assert all(m.shape[1] == 40 for m in feats.values())
    r = _run([str(STEPS / "compute_cmvn_stats.sh"), "--global", "data/train"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    stats = kaldiio.load_mat(str(data / "data" / "global_cmvn_train.stats"))
    assert stats.shape == (2, 41) and stats[0, 40] == sum(len(m) for m in feats.values())
    r = _run([str(STEPS / "compute_cmvn_stats.sh"), "--fake", "data/train"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    fake = kaldiio.load_scp(str(data / "cmvn.scp"))["george"]
    np.testing.assert_array_equal(fake[:, 40], [1, 0])
    # a second run moves the old feats.scp aside, as Kaldi does
    r = _run([str(STEPS / "make_fbank.sh"), "--nj", "1", "data/train"], tmp_path)
    assert r.returncode == 0 and (data / ".backup" / "feats.scp").is_file()


def test_make_fbank_rejects_a_bad_data_dir(tmp_path, corpora):
    data = _data_dir(tmp_path, corpora)
    (data / "utt2spk").write_text("b x\na y\n")  # unsorted
    r = _run([str(STEPS / "make_fbank.sh"), "data/train"], tmp_path)
    assert r.returncode != 0
    assert "utt2spk" in r.stderr
    assert not (data / "feats.scp").exists()


def test_compute_fbank_skip_bad(tmp_path, corpora, capsys):
    data = _data_dir(tmp_path, corpora)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    (data / "wav.scp").write_text((data / "wav.scp").read_text() + f"zz-broken {bad}\n")
    (data / "utt2spk").write_text((data / "utt2spk").read_text() + "zz-broken zz\n")
    # the data dir stays valid (compute-fbank validates it first)
    for name, line in (("spk2utt", "zz zz-broken"), ("text", "zz-broken YES")):
        if (data / name).exists():
            (data / name).write_text((data / name).read_text() + line + "\n")
    conf = str(tmp_path / "conf" / "fbank.conf")
    ark, scp = tmp_path / "f.ark", tmp_path / "f.scp"
    assert asr_main(["compute-fbank", "--config", conf, "-q", str(data), str(ark), str(scp)]) == 1
    err = capsys.readouterr().err
    assert "zz-broken" in err and "broken.wav" in err
    assert not ark.exists() and not scp.exists()  # nothing half-written
    assert asr_main(["compute-fbank", "--config", conf, "--skip-bad", "-q", "--num-mel-bins=23",
                     "--utt2num-frames", str(tmp_path / "n"), str(data), str(ark), str(scp)]) == EXIT_SKIPPED
    stored = kaldiio.load_scp(str(scp))
    assert sorted(stored) == sorted(_table(data / "utt2spk"))[:-1]
    assert all(m.shape[1] == 23 for m in stored.values())
    assert sorted(_table(tmp_path / "n")) == sorted(stored)


def test_compute_cmvn_stats_cli(tmp_path):
    rng = np.random.default_rng(0)
    mats = {f"s{i % 2}-u{i}": rng.normal(size=(5 + i, 3)).astype(np.float32) for i in range(4)}
    from asr.features.io import write_feats

    write_feats(tmp_path / "f.ark", tmp_path / "feats.scp", sorted(mats.items()))
    (tmp_path / "spk2utt").write_text("s0 s0-u0 s0-u2\ns1 s1-u1 s1-u3\n")
    assert asr_main(["compute-cmvn-stats", "-q", "--spk2utt", f"ark:{tmp_path}/spk2utt",
                     f"scp:{tmp_path}/feats.scp", str(tmp_path / "cmvn.ark")]) == 0
    per_spk = kaldiio.load_scp(str(tmp_path / "cmvn.scp"))
    f = np.concatenate([mats["s0-u0"], mats["s0-u2"]]).astype(np.float64)
    np.testing.assert_allclose(per_spk["s0"][0], np.append(f.sum(0), len(f)))
    np.testing.assert_allclose(per_spk["s0"][1, :3], (f * f).sum(0))
    assert asr_main(["compute-cmvn-stats", "-q", str(tmp_path / "feats.scp"), str(tmp_path / "g.stats")]) == 0
    g = kaldiio.load_mat(str(tmp_path / "g.stats"))
    np.testing.assert_allclose(g, per_spk["s0"] + per_spk["s1"])
    (tmp_path / "empty.scp").write_text("")
    assert asr_main(["compute-cmvn-stats", "-q", str(tmp_path / "empty.scp"), str(tmp_path / "x")]) == 1


def test_steps_are_executable_and_print_their_usage():
    for name in ("make_fbank.sh", "compute_cmvn_stats.sh"):
        assert os.access(STEPS / name, os.X_OK)
        r = subprocess.run([str(STEPS / name)], cwd=STEPS.parent, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "Usage" in r.stderr, (name, r.stderr)
