"""asr prepare: every source kind, speakers, ids, VAD segmentation, and each bad-row case."""

from __future__ import annotations

import gzip
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from asr.cli.main import main as asr_main
from asr.datadir import DataDir, validate_data_dir
from asr.errors import EXIT_SKIPPED
from asr.prepare import PrepareError, prepare, safe_id, speech_regions


def wav(path: Path, seconds: float = 0.5, rate: int = 8000, tone: bool = True) -> Path:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = (np.sin(2 * np.pi * 300 * t) * 8000 if tone else np.zeros(n)).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(x.tobytes())
    return path


def test_folder_with_txt_and_lab_transcripts_and_a_speaker_regex(tmp_path):
    src = tmp_path / "rec"
    for spk, name, ext in (("anna", "one", ".txt"), ("anna", "two", ".lab"), ("bob", "three", ".txt")):
        wav(src / spk / f"{spk}_{name}.wav")
        (src / spk / f"{spk}_{name}{ext}").write_text(f"  {name.upper()}  words\n")
    data, skipped = prepare(src, tmp_path / "data", speaker_regex=r"/([a-z]+)_[^/]*$")
    assert not skipped
    assert data.utt2spk == {"anna-anna_one": "anna", "anna-anna_two": "anna", "bob-bob_three": "bob"}
    assert data.text["bob-bob_three"] == "THREE words"
    assert validate_data_dir(tmp_path / "data", no_feats=True) is not None
    assert DataDir.load(tmp_path / "data").utt2dur["anna-anna_one"] == pytest.approx(0.5)


def test_folder_names_missing_transcripts_and_keeps_them_on_request(tmp_path):
    src = tmp_path / "rec"
    wav(src / "a.wav")
    (src / "a.txt").write_text("HELLO\n")
    wav(src / "b.wav")
    with pytest.raises(PrepareError, match=r"b\.wav: no transcript"):
        prepare(src, tmp_path / "d1")
    assert not (tmp_path / "d1").exists()  # nothing written
    data, _ = prepare(src, tmp_path / "d2", allow_missing_text=True)
    assert data.text == {"a": "HELLO", "b": ""}


def test_ids_are_kaldi_safe_and_distinct(tmp_path):
    src = tmp_path / "rec"
    for name in ("my file é 七.wav", "x.wav", "x.flac"):
        p = wav(src / name) if name.endswith(".wav") else None
        if p is None:
            import soundfile as sf

            sf.write(str(src / name), np.zeros(4000, dtype=np.float32) + 0.1, 8000)
        (src / name).with_suffix(".txt").write_text("HELLO\n") if not name.startswith("x") else None
    (src / "x.txt").write_text("X\n")  # one transcript for both x files: the same name
    data, _ = prepare(src, tmp_path / "data")
    assert sorted(data.utt2spk) == ["my_file_é_七", "x_flac", "x_wav"]
    assert safe_id(" a b\tc/d ") == "a_b_c_d"


def test_csv_with_speakers_and_segments(tmp_path):
    a = wav(tmp_path / "audio" / "a.wav", seconds=3.0)
    table = tmp_path / "list.csv"
    table.write_text("path,text,speaker,start,end\n"
                     "audio/a.wav,FIRST PART,s1,0.0,1.0\n"
                     "audio/a.wav,SECOND PART,s1,1.5,2.5\n"
                     f"{a},WHOLE,s2,,\n")
    data, _ = prepare(table, tmp_path / "data")
    assert data.segments is not None and len(data.segments) == 3
    first = next(u for u, t in data.text.items() if t == "FIRST PART")
    assert data.segments[first].start == 0.0 and data.segments[first].end == 1.0 and data.utt2spk[first] == "s1"
    whole = next(u for u, t in data.text.items() if t == "WHOLE")
    assert data.segments[whole].end == -1.0 and data.utt2spk[whole] == "s2"
    validate_data_dir(tmp_path / "data", no_feats=True)


def test_tsv_and_jsonl_and_nemo_keys(tmp_path):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "b.wav")
    (tmp_path / "l.tsv").write_text("path\ttext\na.wav\tONE\nb.wav\tTWO\n")
    data, _ = prepare(tmp_path / "l.tsv", tmp_path / "d1")
    assert sorted(data.text.values()) == ["ONE", "TWO"]
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "a.wav", "text": "ONE", "duration": 0.4}) + "\n"
                                      + json.dumps({"path": "b.wav", "text": "TWO", "speaker": "x"}) + "\n")
    data, _ = prepare(tmp_path / "m.jsonl", tmp_path / "d2")
    assert len(data.utt2spk) == 2 and "x" in data.utt2spk.values()
    assert data.segments is not None and any(s.end == pytest.approx(0.4) for s in data.segments.values())


def test_lhotse_recordings_and_supervisions_and_cuts(tmp_path):
    a = wav(tmp_path / "a.wav", seconds=2.0)
    m = tmp_path / "manifests"
    m.mkdir()
    rec = {"id": "rec1", "sources": [{"type": "file", "channels": [0], "source": str(a)}],
           "sampling_rate": 8000, "num_samples": 16000, "duration": 2.0}
    sups = [{"id": "s1", "recording_id": "rec1", "start": 0.0, "duration": 0.8, "text": "HELLO", "speaker": "p1"},
            {"id": "s2", "recording_id": "rec1", "start": 1.0, "duration": 0.8, "text": "WORLD", "speaker": "p1"}]
    with gzip.open(m / "x_recordings_train.jsonl.gz", "wt") as f:
        f.write(json.dumps(rec) + "\n")
    with gzip.open(m / "x_supervisions_train.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(s) + "\n" for s in sups))
    data, _ = prepare(m, tmp_path / "d1")
    assert sorted(data.text.values()) == ["HELLO", "WORLD"] and set(data.utt2spk.values()) == {"p1"}
    cuts = tmp_path / "x_cuts.jsonl"
    cuts.write_text(json.dumps({"id": "c1", "start": 0, "duration": 2.0, "recording": rec,
                                "supervisions": sups[:1]}) + "\n")
    data, _ = prepare(cuts, tmp_path / "d2")
    assert list(data.text.values()) == ["HELLO"]


def test_bad_rows_are_named_with_file_and_line_and_skip_bad_goes_on(tmp_path, capsys):
    wav(tmp_path / "good.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    table = tmp_path / "list.csv"
    table.write_text("path,text,start,end\n"
                     "good.wav,FINE,,\n"          # 2
                     "missing.wav,GONE,,\n"       # 3
                     "broken.wav,BROKEN,,\n"      # 4
                     "empty.wav,EMPTY,,\n"        # 5
                     "good.wav,,,\n"              # 6: empty text
                     "good.wav,LATE,0.2,9.0\n"    # 7: past the end
                     "good.wav,BACKWARDS,0.3,0.1\n"  # 8
                     "good.wav,NAN,abc,\n"        # 9
                     "good.wav,EXTRA,,,surplus\n")  # 10
    assert asr_main(["prepare", str(table), str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "8 bad row(s)" in err and "Traceback" not in err
    for n in range(3, 11):
        assert f"list.csv:{n}:" in err, n
    assert not (tmp_path / "d").exists()
    assert asr_main(["prepare", "--skip-bad", str(table), str(tmp_path / "d")]) == EXIT_SKIPPED
    assert list(DataDir.load(tmp_path / "d").text.values()) == ["FINE"]


def test_unknown_sources_and_headers_are_one_line(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("file_name,words\na.wav,HI\n")
    assert asr_main(["prepare", str(tmp_path / "x.csv"), str(tmp_path / "d")]) == 1
    assert "x.csv:1" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("hi")
    assert asr_main(["prepare", str(tmp_path / "x.txt"), str(tmp_path / "d")]) == 1
    assert "unknown source" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    assert asr_main(["prepare", str(tmp_path / "bad.jsonl"), str(tmp_path / "d")]) == 1
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_vad_cuts_long_recordings_at_pauses(tmp_path):
    rate = 8000
    rng = np.random.default_rng(0)
    parts = []
    for speech in (2.0, 3.0, 1.5):  # speech-like bursts with 0.8 s pauses between them
        parts.append(rng.standard_normal(int(speech * rate)) * 3000)
        parts.append(rng.standard_normal(int(0.8 * rate)) * 20)
    x = np.concatenate(parts).astype("<i2")
    p = tmp_path / "long" / "talk.wav"
    p.parent.mkdir()
    with wave.open(str(p), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(x.tobytes())
    regions = speech_regions(x.astype(np.float32) / 32768, rate, max_segment=10.0)
    assert len(regions) == 3
    for (s, e), (ref_s, ref_e) in zip(regions, [(0.0, 2.0), (2.8, 5.8), (6.6, 8.1)]):
        assert abs(s - ref_s) < 0.05 and abs(e - ref_e) < 0.05
    assert all(e - s <= 1.0 + 0.02 for s, e in speech_regions(x.astype(np.float32) / 32768, rate, 1.0))
    data, _ = prepare(tmp_path / "long", tmp_path / "d", allow_missing_text=True, max_segment=4.0)
    assert data.segments is not None and len(data.segments) == 3
    validate_data_dir(tmp_path / "d", no_feats=True, allow_empty_text=True)
