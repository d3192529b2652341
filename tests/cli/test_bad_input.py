"""Bad input gets one line naming the utterance and its file, a non-zero exit, and loses nothing.

One test per reproduction of the bad-input issue (#15): sub-frame and truncated audio,
``--skip-bad`` without ``utt2dur``, all-or-nothing transcription, unvalidated data dirs,
case, ids made from file names, utterances CTC cannot align, file modes, leftover
temporaries, and unclear answers. Exit status 3 = done, with bad items left out.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from tinydata import tiny_overrides, write_demo_dir

from asr.cli.main import main as asr_main
from asr.errors import EXIT_SKIPPED

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def write_wav(path: Path, samples: int, rate: int = 8000, channels: int = 1) -> Path:
    rng = np.random.default_rng(samples)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((rng.standard_normal((samples, channels)) * 2000).astype("<i2").tobytes())
    return path


def demo_wav(tmp_path: Path, name: str) -> Path:
    """A real utterance of the demo corpus as a WAV file."""
    import soundfile as sf

    x, sr = sf.read(str(DEMO / "test" / "s11-010.flac"))
    out = tmp_path / name
    sf.write(str(out), x, sr)
    return out


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# 1. audio shorter than one frame ---------------------------------------------------------------
def test_sub_frame_truncated_and_piped_audio_is_one_line(tiny_model, tmp_path, capsys):
    short = write_wav(tmp_path / "s.wav", 80)  # 10 ms
    trunc = tmp_path / "trunc.wav"
    trunc.write_bytes(demo_wav(tmp_path, "full.wav").read_bytes()[:100])
    for f in (short, trunc):
        assert asr_main(["transcribe", "--model", str(tiny_model), str(f)]) == 1
        err = stderr_lines(capsys)
        assert len(err) == 1 and f.name in err[0] and "Traceback" not in err[0], err
    scp = tmp_path / "wav.scp"
    scp.write_text(f"piped head -c 50 {tmp_path / 'full.wav'} |\n")
    assert asr_main(["transcribe", "--model", str(tiny_model), str(scp)]) == 1
    err = stderr_lines(capsys)
    assert len(err) == 1 and "piped" in err[0] and "head -c 50" in err[0]


def _dir_with(tmp_path: Path, name: str, extra: dict[str, str]) -> Path:
    """A data dir of 4 demo test utterances plus ``extra`` (utterance -> wav.scp entry), no utt2dur."""
    d = write_demo_dir(tmp_path / name, "test", [f"s{s}-01{i}" for s in (11, 12) for i in range(2)])
    lines = {**dict(line.split(maxsplit=1) for line in (d / "wav.scp").read_text().splitlines()), **extra}
    (d / "wav.scp").write_text("".join(f"{u} {lines[u]}\n" for u in sorted(lines)))
    text = dict(line.split(maxsplit=1) for line in (d / "text").read_text().splitlines())
    text.update({u: "ONE TWO" for u in extra})
    (d / "text").write_text("".join(f"{u} {text[u]}\n" for u in sorted(text)))
    utt2spk = {u: u.split("-")[0] for u in lines}
    (d / "utt2spk").write_text("".join(f"{u} {utt2spk[u]}\n" for u in sorted(utt2spk)))
    spk: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        spk.setdefault(utt2spk[u], []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk.items())))
    return d


# 1 and 2: decode --skip-bad with short, missing and failing inputs, no utt2dur ------------------
def test_decode_skip_bad_names_every_bad_utterance_and_decodes_the_rest(tiny_model, tmp_path, capsys):
    short = write_wav(tmp_path / "s.wav", 80)
    d = _dir_with(tmp_path, "mixed", {"s11-900": str(short), "s11-901": str(tmp_path / "missing.wav"),
                                      "s12-902": "false |"})
    out = tmp_path / "dec"
    assert asr_main(["decode", "--model", str(tiny_model), str(d), str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "3 bad utterances" in err
    for utt, name in (("s11-900", "s.wav"), ("s11-901", "missing.wav"), ("s12-902", "false")):
        assert utt in err and name in err
    assert not (out / "text").exists()  # nothing written
    assert asr_main(["decode", "--skip-bad", "--model", str(tiny_model), str(d), str(out)]) == EXIT_SKIPPED
    hyps = dict(line.split(maxsplit=1) if " " in line else (line, "")
                for line in (out / "text").read_text().splitlines())
    assert sorted(hyps) == ["s11-010", "s11-011", "s12-010", "s12-011"]
    assert "skipped 3 bad utterance(s)" in capsys.readouterr().err


def test_train_skip_bad_leaves_out_short_missing_and_piped(cli_data, tmp_path, capsys):
    train, _ = cli_data
    d = tmp_path / "train"
    shutil.copytree(train, d)
    short = write_wav(tmp_path / "s.wav", 80)
    extra = {"s03-900": str(short), "s03-901": str(tmp_path / "missing.wav"), "s04-902": "false |"}
    lines = {**dict(line.split(maxsplit=1) for line in (d / "wav.scp").read_text().splitlines()), **extra}
    for name, value in (("wav.scp", lines), ("text", {**{u: "YES" for u in extra}}), ("utt2spk", {})):
        old = dict(line.split(maxsplit=1) for line in (d / name).read_text().splitlines())
        new = value if name == "wav.scp" else {**old, **value} if name == "text" else \
            {**old, **{u: u.split("-")[0] for u in extra}}
        (d / name).write_text("".join(f"{u} {new[u]}\n" for u in sorted(new)))
    spk: dict[str, list[str]] = {}
    for line in (d / "utt2spk").read_text().splitlines():
        u, s = line.split()
        spk.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk.items())))
    args = ["train"]
    for o in tiny_overrides(d, None, train__epochs=1):
        k, v = o.split("=", 1)
        args += [f"--{k}", v]
    assert asr_main([*args, str(tmp_path / "exp1")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(u in err for u in extra)
    assert asr_main([*args, "--data.skip_bad", "true", str(tmp_path / "exp2")]) == EXIT_SKIPPED
    assert (tmp_path / "exp2" / "final.pt").is_file()


# 3. transcribe is not all or nothing ----------------------------------------------------------
def test_transcribe_folder_names_all_bad_files_and_skip_bad_writes_the_good(tiny_model, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    demo_wav(folder, "good1.wav")
    demo_wav(folder, "good2.wav")
    write_wav(folder / "short.wav", 40)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "junk.wav").write_bytes(b"RIFF" + os.urandom(60))
    out = tmp_path / "out.txt"
    assert asr_main(["transcribe", "--model", str(tiny_model), "-o", str(out), str(folder)]) == 1
    err = stderr_lines(capsys)
    assert not out.exists()
    assert "3 bad utterances" in err[0] and len(err) == 4
    assert all(any(n in line for line in err[1:]) for n in ("short.wav", "empty.wav", "junk.wav"))
    assert asr_main(["transcribe", "--skip-bad", "--model", str(tiny_model), "-o", str(out),
                     str(folder)]) == EXIT_SKIPPED
    assert [line.split()[0] for line in out.read_text().splitlines()] == ["good1", "good2"]


# 4. asr train validates its data dirs -----------------------------------------------------------
def test_train_refuses_inconsistent_data_dirs(cli_data, tmp_path, capsys):
    train, _ = cli_data
    d = tmp_path / "train"
    shutil.copytree(train, d)
    lines = (d / "utt2spk").read_text().splitlines()
    (d / "utt2spk").write_text("".join(line + "\n" for line in lines[4:]))  # 4 of 16 missing
    args = ["train"]
    for o in tiny_overrides(d, None, train__epochs=1):
        k, v = o.split("=", 1)
        args += [f"--{k}", v]
    assert asr_main([*args, str(tmp_path / "exp")]) == 1
    err = stderr_lines(capsys)
    assert len(err) == 1 and "utt2spk" in err[-1] or "spk2utt" in err[-1]
    shutil.copy(train / "utt2spk", d / "utt2spk")
    (d / "spk2utt").write_text((d / "spk2utt").read_text() + "s99 s03-000\n")  # an unknown speaker
    assert asr_main([*args, str(tmp_path / "exp")]) == 1
    assert "spk2utt" in capsys.readouterr().err


# 5. case: decoding scores a lowercase reference the way training normalised ----------------------
def test_lowercase_references_score_like_uppercase_and_score_warns(tiny_model, cli_data, tmp_path, capsys):
    _, test = cli_data
    lower = tmp_path / "lower"
    shutil.copytree(test, lower)
    (lower / "text").write_text((test / "text").read_text().lower())
    for d, out in ((test, tmp_path / "dec_upper"), (lower, tmp_path / "dec_lower")):
        assert asr_main(["decode", "--model", str(tiny_model), str(d), str(out)]) == 0
    upper_wer = (tmp_path / "dec_upper" / "wer").read_text().splitlines()[0]
    assert (tmp_path / "dec_lower" / "wer").read_text().splitlines()[0] == upper_wer
    capsys.readouterr()
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("".join(line.split(maxsplit=1)[0] + " " + line.split(maxsplit=1)[1].upper() + "\n"
                           for line in (lower / "text").read_text().splitlines()))
    assert asr_main(["score", str(lower / "text"), str(hyp)]) == 0
    captured = capsys.readouterr()
    assert "lower case" in captured.err and "%WER 100.00" in captured.out
    assert asr_main(["score", "--case", "upper", str(lower / "text"), str(hyp)]) == 0
    assert "%WER 0.00" in capsys.readouterr().out


# 6. ids from file names --------------------------------------------------------------------------
def test_ids_from_file_names_are_kaldi_safe_and_distinct(tiny_model, tmp_path, capsys):
    from asr.cli.transcribe import collect_inputs

    folder = tmp_path / "in"
    folder.mkdir()
    spaced = demo_wav(folder, "my file é 七 SEVEN.wav")
    demo_wav(folder, "x.wav")
    import soundfile as sf

    x, sr = sf.read(str(folder / "x.wav"))
    sf.write(str(folder / "x.flac"), x, sr)
    names = [n for n, _ in collect_inputs([str(folder)])]
    assert names == ["my_file_é_七_SEVEN", "x_flac", "x_wav"]
    assert [n for n, _ in collect_inputs(["-"], stdin=io.StringIO(f"{spaced}\n"))] == ["my_file_é_七_SEVEN"]
    assert asr_main(["transcribe", "--model", str(tiny_model), "--format", "ctm", str(folder)]) == 0
    for line in capsys.readouterr().out.splitlines():
        assert len(line.split()) == 6  # CTM: every field one token


# 7. utterances CTC cannot align are named -------------------------------------------------------
def test_unalignable_utterance_is_named_and_left_out(cli_data, tmp_path, caplog):
    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, _ = cli_data
    d = tmp_path / "train"
    shutil.copytree(train, d)
    lines = (d / "text").read_text().splitlines()
    victim = lines[0].split()[0]
    lines[0] = victim + " " + " ".join(["YES NO"] * 40)  # far more characters than 30 ms frames
    (d / "text").write_text("\n".join(lines) + "\n")
    cfg = load_config(ExperimentConfig, [], tiny_overrides(d, None))
    with caplog.at_level(logging.WARNING):
        trainer = Trainer(cfg, tmp_path / "exp")
    assert victim in caplog.text and "cannot be trained on" in caplog.text
    assert victim not in {u.utt for u in trainer.train_data.utts} and len(trainer.train_data) == 15


# 8. files are written with the umask's permissions -----------------------------------------------
def test_atomic_writes_respect_the_umask(tmp_path):
    from asr.fileio import atomic_write

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as f:
            f.write("x\n")
        os.umask(0o077)
        with atomic_write(tmp_path / "b.txt") as f:
            f.write("x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600


# 9. leftovers of a killed checkpoint write are removed --------------------------------------------
def test_training_start_removes_stale_temporaries(cli_data, tmp_path):
    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, _ = cli_data
    exp = tmp_path / "exp"
    exp.mkdir()
    stale = [exp / ".epoch-3.pt.k2j4x.tmp", exp / ".history.json.a1b2.tmp"]
    for p in stale:
        p.write_bytes(b"\0" * 1000)
    mine = exp / ".notes.txt.zz.tmp"  # not the trainer's: left alone
    mine.write_text("x")
    Trainer(load_config(ExperimentConfig, [], tiny_overrides(train, None)), exp)
    assert not any(p.exists() for p in stale) and mine.exists()


# 10. unclear or wrong answers ---------------------------------------------------------------------
def test_empty_reference_and_empty_subset_are_errors(cli_data, tmp_path, capsys):
    empty = tmp_path / "ref.txt"
    empty.write_text("")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("")
    assert asr_main(["score", str(empty), str(hyp)]) == 1
    assert "ref.txt" in capsys.readouterr().err
    train, _ = cli_data
    ulist = tmp_path / "list"
    ulist.write_text("nobody\n")
    assert asr_main(["subset-data-dir", "--utt-list", str(ulist), str(train), str(tmp_path / "sub")]) == 1
    assert "empty" in capsys.readouterr().err and not (tmp_path / "sub").exists()


def test_all_empty_training_text_names_the_file(cli_data, tmp_path, capsys):
    train, _ = cli_data
    d = tmp_path / "train"
    shutil.copytree(train, d)
    (d / "text").write_text("".join(f"{line.split()[0]}\n" for line in (train / "text").read_text().splitlines()))
    args = ["train"]
    for o in tiny_overrides(d, None, data__units="bpe", train__epochs=1):
        k, v = o.split("=", 1)
        args += [f"--{k}", v]
    assert asr_main([*args, str(tmp_path / "exp")]) == 1
    assert f"{d}/text" in capsys.readouterr().err


def test_truncated_ark_names_the_utterance(cli_data, tmp_path, capsys):
    _, test = cli_data
    d = tmp_path / "feats"
    shutil.copytree(test, d)
    assert asr_main(["compute-fbank", "--sample-frequency=8000", "--num-mel-bins=20", str(d),
                     str(tmp_path / "f.ark"), str(d / "feats.scp")]) == 0
    data = (tmp_path / "f.ark").read_bytes()
    (tmp_path / "f.ark").write_bytes(data[: len(data) * 3 // 4])  # the last utterance(s) cut off
    from asr.batches import UtteranceData

    with pytest.raises(Exception) as e:
        UtteranceData(str(d), "feats", 8000, 0.01, need_text=False).load(range(4))
    last = sorted(line.split()[0] for line in (d / "feats.scp").read_text().splitlines())[-1]
    assert type(e.value).__name__ in ("FeatsError", "AsrError") and last in str(e.value)


def test_console_script_bad_audio_has_no_traceback(tiny_model, tmp_path):
    asr = Path(sys.executable).parent / "asr"
    cmd = [str(asr)] if asr.exists() else [sys.executable, "-m", "asr.cli.main"]
    short = write_wav(tmp_path / "s.wav", 10)
    r = subprocess.run([*cmd, "transcribe", "--model", str(tiny_model), str(short)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "s.wav" in r.stderr


def test_resume_skips_an_unreadable_newest_checkpoint(cli_data, tmp_path, caplog):
    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, _ = cli_data
    exp = tmp_path / "exp"
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, train__epochs=2))
    Trainer(cfg, exp).run()
    data = (exp / "epoch-2.pt").read_bytes()
    (exp / "epoch-2.pt").write_bytes(data[: len(data) // 3])  # a copy cut short
    with caplog.at_level(logging.WARNING):
        trainer = Trainer(cfg, exp, resume=True)
    assert "epoch-2.pt" in caplog.text and trainer.epoch == 1
    (exp / "epoch-1.pt").write_bytes(b"junk")
    with caplog.at_level(logging.WARNING):
        assert Trainer(cfg, exp, resume=True).epoch == 0  # nothing usable: from scratch, with a log line
    assert "starting from scratch" in caplog.text


def test_float_audio_far_outside_the_unit_range_is_one_line(tiny_model, tmp_path, capsys):
    """Found by the fuzzer: a float WAV whose bytes were overwritten held samples of 1e30, which overflowed
    the filterbank into NaN CMVN statistics and a ValueError traceback."""
    import soundfile as sf

    x = np.zeros(8000, dtype=np.float32)
    x[100] = 1e30
    sf.write(str(tmp_path / "loud.wav"), x, 8000, subtype="FLOAT")
    assert asr_main(["transcribe", "--model", str(tiny_model), str(tmp_path / "loud.wav")]) == 1
    err = stderr_lines(capsys)
    assert len(err) == 1 and "loud.wav" in err[0] and "outside [-1, 1]" in err[0]
