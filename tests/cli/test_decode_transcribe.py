"""``asr decode``, ``asr transcribe`` and ``asr train`` on a tiny trained model: outputs, formats, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.cli.main import main as asr_main
from asr.cli.transcribe import collect_inputs, format_result
from asr.decode.recognizer import Result, Word

REPO = Path(__file__).resolve().parents[2]


def test_decode_writes_text_and_scores(cli_data, tiny_model, tmp_path, capsys):
    _, test = cli_data
    out = tmp_path / "decode_test"
    assert asr_main(["decode", "--model", str(tiny_model), "--num-threads", "1", str(test), str(out)]) == 0
    hyp = (out / "text").read_text().splitlines()
    assert [line.split()[0] for line in hyp] == sorted(line.split()[0] for line in (test / "text").read_text()
                                                       .splitlines())
    assert (out / "wer").read_text().startswith("%WER ")
    assert "#csid" in (out / "per_utt").read_text()
    assert (out / "log" / "decode.log").is_file()
    # Beam search with a single-best beam gives the same words as greedy on this model's peaky output.
    out2 = tmp_path / "decode_beam"
    assert asr_main(["decode", "--beam", "4", "--no-score", "--model", str(tiny_model / "final.pt"),
                     str(test), str(out2)]) == 0
    assert len((out2 / "text").read_text().splitlines()) == len(hyp)
    assert not (out2 / "wer").exists()
    # Without --model: the decode dir's parent, Kaldi's exp/<model>/decode_<set> layout.
    out3 = tiny_model / "decode_test"
    assert asr_main(["decode", "--num-threads", "1", str(test), str(out3)]) == 0
    assert (out3 / "text").read_text() == (out / "text").read_text()


def test_transcribe_formats_and_inputs(cli_data, tiny_model, tmp_path, capsys, monkeypatch):
    _, test = cli_data
    wavs = [line.split()[1] for line in (test / "wav.scp").read_text().splitlines()]
    # text: one line per input, named after the file
    assert asr_main(["transcribe", "--model", str(tiny_model), wavs[0], wavs[1]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [Path(w).stem for w in wavs[:2]]
    # json from a wav.scp, batched two at a time
    assert asr_main(["transcribe", "--model", str(tiny_model), "--format", "json", "--batch-size", "2",
                     str(test / "wav.scp")]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["name"] for o in objs] == [line.split()[0] for line in (test / "wav.scp").read_text().splitlines()]
    for o in objs:
        assert o["text"] == " ".join(w["word"] for w in o["words"])
        assert o["times"] == "ctc-emissions"  # the tiny model is unidirectional (bidirectional ones say so)
        for w in o["words"]:
            assert 0 <= w["start"] < w["end"] and 0 <= w["confidence"] <= 1
    # ctm from a list on stdin, into a file
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(wavs) + "\n"))
    out = tmp_path / "out.ctm"
    assert asr_main(["transcribe", "--model", str(tiny_model), "--format", "ctm", "-o", str(out), "-"]) == 0
    for line in out.read_text().splitlines():
        name, chan, start, dur, word, conf = line.split()
        assert name in {Path(w).stem for w in wavs} and chan == "1" and float(dur) > 0 and 0 <= float(conf) <= 1


def test_transcribe_directory_and_resampling(tiny_model, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    d = tmp_path / "audio" / "sub"
    d.mkdir(parents=True)
    t = np.arange(22050) / 22050
    sf.write(d / "tone.wav", (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    sf.write(tmp_path / "audio" / "b.flac", np.zeros(4000, dtype=np.int16), 16000)
    assert asr_main(["transcribe", "--model", str(tiny_model), str(tmp_path / "audio")]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["b", "sub_tone"]


def test_format_result_layouts():
    res = Result(text="YES NO", words=[Word("YES", 0.12, 0.48, 0.9), Word("NO", 0.6, 0.9, 0.75)], score=-1.0)
    assert format_result("u1", res, "text") == ["u1 YES NO"]
    obj = json.loads(format_result("u1", res, "json")[0])
    assert obj["words"][1] == {"word": "NO", "start": 0.6, "end": 0.9, "confidence": 0.75}
    assert format_result("u1", res, "ctm") == ["u1 1 0.12 0.36 YES 0.9000", "u1 1 0.60 0.30 NO 0.7500"]
    assert format_result("u2", Result(text=""), "text") == ["u2"]


def test_collect_inputs(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    scp = tmp_path / "wav.scp"
    scp.write_text("x1 /data/x1.wav\nx2 sox /data/x2.wav -t wav - |\n")
    got = collect_inputs([str(tmp_path / "a.wav"), str(scp), "-"], stdin=io.StringIO("/p/q.flac\nn9 /p/r.wav\n\n"))
    assert got == [("a", str(tmp_path / "a.wav")), ("x1", "/data/x1.wav"), ("x2", "sox /data/x2.wav -t wav - |"),
                   ("q", "/p/q.flac"), ("n9", "/p/r.wav")]


def test_errors_are_one_clear_line(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_text("this is not audio")
    assert asr_main(["transcribe", "--model", str(tmp_path / "nope"), str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "model not found" in err[0]
    assert asr_main(["transcribe", "--model", str(tiny_model), str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.wav" in err[0]
    assert asr_main(["transcribe", "--model", str(tiny_model), str(tmp_path / "missing.wav")]) == 1
    assert "missing.wav" in capsys.readouterr().err
    not_ckpt = tmp_path / "model.pt"
    not_ckpt.write_bytes(b"junk")
    assert asr_main(["transcribe", "--model", str(not_ckpt), str(bad)]) == 1
    assert "model.pt" in capsys.readouterr().err


def test_console_script_exits_nonzero_without_traceback(tmp_path):
    asr = Path(sys.executable).parent / "asr"
    cmd = [str(asr)] if asr.exists() else [sys.executable, "-m", "asr.cli.main"]
    r = subprocess.run([*cmd, "transcribe", "--model", str(tmp_path / "none.pt"), str(tmp_path / "x.wav")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and "none.pt" in r.stderr


def test_train_cli_print_config_and_run(cli_data, tmp_path, capsys):
    from tinydata import tiny_overrides

    assert asr_main(["train", "--print-config"]) == 0
    text = capsys.readouterr().out
    for section in ("data:", "frontend:", "model:", "optim:", "train:"):
        assert section in text
    assert "# " in text  # every option carries its comment
    train, _ = cli_data
    conf = tmp_path / "train.yaml"
    conf.write_text("train:\n  average_last: 2\n")
    args = []
    for o in tiny_overrides(train, None):  # --section.field value, as a user types them
        k, v = o.split("=", 1)
        args += [f"--{k}", v]
    exp = tmp_path / "exp"
    assert asr_main(["train", "--config", str(conf), *args, "-q", str(exp)]) == 0
    assert (exp / "final.pt").is_file() and (exp / "epoch-2.pt").is_file()
    assert list((exp / "log").glob("train.*.log"))
    assert "average_last: 2" in (exp / "config.yaml").read_text()


@pytest.mark.parametrize("bad", [["--optim.optimizer", "rmsprop"], ["--model.nope", "1"]])
def test_train_cli_bad_options_exit_1(cli_data, tmp_path, capsys, bad):
    train, _ = cli_data
    assert asr_main(["train", "--data.train", str(train), *bad, str(tmp_path / "exp")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.splitlines()[-1].startswith("asr train: error: ")
    assert not (tmp_path / "exp" / "epoch-1.pt").exists()


def _with_feats(src: Path, dest: Path, conf: Path) -> Path:
    """A copy of data dir ``src`` with feats.scp (asr compute-fbank) and per-speaker cmvn.scp."""
    import shutil

    shutil.copytree(src, dest)
    assert asr_main(["compute-fbank", "-q", "--config", str(conf), str(dest), str(dest / "feats.ark"),
                     str(dest / "feats.scp")]) == 0
    assert asr_main(["compute-cmvn-stats", "-q", "--spk2utt", str(dest / "spk2utt"), str(dest / "feats.scp"),
                     f"ark,scp:{dest / 'cmvn.ark'},{dest / 'cmvn.scp'}"]) == 0
    return dest


def test_precomputed_features_with_speaker_cmvn(cli_data, tmp_path):
    """feats.scp + cmvn.scp (the Kaldi way) through training, decoding and transcription of raw audio."""
    from tinydata import tiny_overrides

    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    conf = tmp_path / "fbank.conf"
    conf.write_text("--sample-frequency=8000\n--num-mel-bins=20\n")
    train = _with_feats(cli_data[0], tmp_path / "train", conf)
    test = _with_feats(cli_data[1], tmp_path / "test", conf)
    cfg = load_config(ExperimentConfig, [], tiny_overrides(
        train, None, train__epochs=1, frontend__feature_source="feats", frontend__fbank_conf=str(conf),
        frontend__num_mel_bins=0, frontend__cmvn="speaker"))
    exp = tmp_path / "exp"
    Trainer(cfg, exp).run()
    out = exp / "decode_test"
    assert asr_main(["decode", "--num-threads", "1", str(test), str(out)]) == 0
    assert len((out / "text").read_text().splitlines()) == 4
    # Without feats.scp the same model reads audio: the checkpoint carries the fbank options.
    wav = (test / "wav.scp").read_text().split()[1]
    assert asr_main(["transcribe", "--model", str(exp), wav]) == 0


def test_decode_with_a_word_lm(cli_data, tiny_model, tmp_path):
    """--lm: lexicon search over the LM's words; every hypothesis word is a word of the LM."""
    train, test = cli_data
    lm = tmp_path / "lm.arpa"
    assert asr_main(["train-lm", "-q", "--order", "2", "--kaldi-text", str(train / "text"), str(lm)]) == 0
    out = tmp_path / "decode_lm"
    assert asr_main(["decode", "--lm", str(lm), "--num-threads", "1", "--model", str(tiny_model), str(test),
                     str(out)]) == 0
    vocab = {w for line in (train / "text").read_text().splitlines() for w in line.split()[1:]}
    lines = (out / "text").read_text().splitlines()
    assert len(lines) == 4 and all(set(line.split()[1:]) <= vocab for line in lines)
    assert (out / "wer").is_file()


def test_transcribe_with_a_word_lm_matches_decode(cli_data, tiny_model, tmp_path, capsys):
    """asr transcribe --lm runs the same lexicon + LM search as asr decode --lm, file by file."""
    train, test = cli_data
    lm = tmp_path / "lm.arpa"
    assert asr_main(["train-lm", "-q", "--order", "2", "--kaldi-text", str(train / "text"), str(lm)]) == 0
    out = tmp_path / "decode_lm"
    assert asr_main(["decode", "-q", "--lm", str(lm), "--lm-weight", "0.5", "--num-threads", "1", "--model",
                     str(tiny_model), str(test), str(out)]) == 0
    decoded = dict(line.partition(" ")[::2] for line in (out / "text").read_text().splitlines())
    capsys.readouterr()
    assert asr_main(["transcribe", "-q", "--lm", str(lm), "--lm-weight", "0.5", "--model", str(tiny_model),
                     str(test / "wav.scp")]) == 0
    got = dict(line.partition(" ")[::2] for line in capsys.readouterr().out.splitlines())
    assert got == decoded and len(got) == 4
    assert asr_main(["transcribe", "--lm", str(lm), "--format", "json", "--model", str(tiny_model),
                     str(test / "wav.scp")]) == 1
    assert "--format text" in capsys.readouterr().err


def test_long_recordings_are_cut_at_pauses_and_joined(tiny_model, tmp_path, capsys):
    """A 70 s recording (demo utterances with 0.6 s pauses) with --max-segment 10: recognised piece by
    piece, one output line, word times in order and inside the recording."""
    import soundfile as sf

    demo = Path(__file__).resolve().parents[2] / "data" / "demo" / "test"
    parts, rate = [], None
    for f in sorted(demo.glob("*.flac")):
        x, rate = sf.read(str(f), dtype="float32")
        parts += [x, np.zeros(int(0.6 * rate), dtype=np.float32)]
        if sum(len(p) for p in parts) > 70 * rate:
            break
    long = tmp_path / "talk.wav"
    sf.write(str(long), np.concatenate(parts), rate)
    duration = sum(len(p) for p in parts) / rate
    capsys.readouterr()
    assert asr_main(["transcribe", "--model", str(tiny_model), "--format", "json", "--max-segment", "10",
                     str(long)]) == 0
    captured = capsys.readouterr()
    assert "cut at pauses into" in captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    starts = [w["start"] for w in obj["words"]]
    assert len(starts) > 10 and starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= duration + 0.05 for w in obj["words"])
    assert obj["text"] == " ".join(w["word"] for w in obj["words"])
