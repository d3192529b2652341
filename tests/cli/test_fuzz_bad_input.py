"""Fuzzing of what users feed the toolkit: mutated audio files, data dirs, pipes and segments.

Every case goes through the commands' own paths (``asr decode`` / ``asr transcribe`` via
``asr.cli.main.main``, or the shared ``UtteranceData`` + ``Recognizer`` they use). The rule
checked: no exception other than the toolkit's one-line :class:`~asr.errors.AsrError` (no
traceback), every rejection names the file or utterance, ``--skip-bad`` never fails on a
bad item and always recognises the good ones, and every log-posterior is finite.

``make test`` runs a fixed (derandomised) set of 100 cases per test (300 in all);
``pytest --run-slow tests/cli/test_fuzz_bad_input.py`` runs 1,500 random ones per test
(profiles in tests/conftest.py; about a minute on 2 cores).
"""

from __future__ import annotations

import io
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinydata import write_demo_dir

from asr.cli.main import main as asr_main
from asr.datadir import DataDir
from asr.errors import EXIT_SKIPPED, AsrError

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    deadline=None)

# ----- audio files ---------------------------------------------------------------------------------

RATES = [4000, 8000, 11025, 16000, 22050, 44100, 48000, 96000]
WAV_HEADER_BOUNDARIES = [0, 1, 4, 8, 12, 16, 20, 22, 24, 28, 32, 34, 36, 40, 44, 45]


@st.composite
def audio_files(draw) -> tuple[bytes, str]:
    """Bytes of an audio file (WAV or FLAC, any rate, 1/2/8 channels, sub-frame to 0.4 s) and how it was mutated."""
    rate = draw(st.sampled_from(RATES))
    channels = draw(st.sampled_from([1, 2, 8]))
    n = draw(st.one_of(st.integers(0, 400), st.integers(400, rate // 2)))
    fmt, subtype = draw(st.sampled_from([("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("WAV", "PCM_U8"), ("FLAC", "PCM_16")]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = (rng.standard_normal((n, channels)) * 0.1).astype(np.float32)
    how = f"{fmt}/{subtype} {rate} Hz x{channels}, {n} samples"
    if subtype == "FLOAT" and n and draw(st.booleans()):
        x[draw(st.integers(0, n - 1)), 0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        how += ", a non-finite sample"
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    data = bytearray(buf.getvalue())
    mutation = draw(st.sampled_from(["none", "truncate", "truncate-header", "random-bytes", "riff-size",
                                     "data-size", "garbage"]))
    how += f", {mutation}"
    if mutation == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif mutation == "truncate-header":
        data = data[: draw(st.sampled_from(WAV_HEADER_BOUNDARIES))]
    elif mutation == "random-bytes" and data:
        at = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=16))
        data[at: at + len(junk)] = junk
    elif mutation == "riff-size" and fmt == "WAV" and len(data) >= 8:
        data[4:8] = struct.pack("<I", draw(st.sampled_from([0, 1, 36, 0xFFFFFFFF, len(data) * 4])))
    elif mutation == "data-size" and fmt == "WAV":
        at = data.find(b"data")
        if at >= 0 and len(data) >= at + 8:
            data[at + 4: at + 8] = struct.pack("<I", draw(st.sampled_from([0, 1, 3, 0xFFFFFFFF, len(data) * 4])))
    elif mutation == "garbage":
        data = bytearray(draw(st.binary(max_size=200)))
    return bytes(data), how


@pytest.fixture(scope="module")
def recognizer(tiny_model):
    from asr.decode.recognizer import Recognizer

    return Recognizer(tiny_model)


@pytest.fixture(scope="module")
def good_wav(tmp_path_factory) -> Path:
    x, sr = sf.read(str(DEMO / "test" / "s11-010.flac"))
    out = tmp_path_factory.mktemp("good") / "good.wav"
    sf.write(str(out), x, sr)
    return out


@FIXTURES
@given(audio=audio_files(), skip_bad=st.booleans())
def test_fuzz_audio_files(recognizer, good_wav, tmp_path, audio, skip_bad):
    data, how = audio
    path = tmp_path / "fuzzed.wav"
    path.write_bytes(data)
    inputs = [("good", str(good_wav)), ("fuzzed", str(path))]
    try:
        utts = recognizer.open_files(inputs, skip_bad=skip_bad)
        got = {}
        for batch, lp, lens in recognizer.data_log_probs(utts):
            assert bool(np.isfinite(lp.numpy()).all()), how
            got.update({u.utt: int(n) for u, n in zip(batch, lens)})
    except AsrError as e:
        assert not skip_bad, f"{how}: --skip-bad failed: {e}"
        assert "fuzzed" in str(e), f"{how}: the error does not name the file: {e}"
        return
    assert got.get("good", 0) > 0, how
    if "fuzzed" not in got:
        assert skip_bad and "fuzzed" in utts.bad and "fuzzed" in utts.bad["fuzzed"], how
    else:
        assert got["fuzzed"] > 0, how


# ----- data dirs -----------------------------------------------------------------------------------

DIR_FILES = ["wav.scp", "text", "utt2spk", "spk2utt", "utt2dur", "segments"]
MUTATIONS = ["drop", "duplicate", "swap", "bad-utf8", "nul", "tab", "crlf", "long-line", "empty", "missing",
             "blank-line", "no-final-newline"]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    """4 demo test utterances; half the variants get a segments file (see the test)."""
    root = tmp_path_factory.mktemp("fuzz_base")
    d = write_demo_dir(root / "plain", "test", [f"s{s}-01{i}" for s in (11, 12) for i in range(2)])
    (d / "utt2dur").write_text("".join(f"{u} {sf.info(str(DEMO / 'test' / (u + '.flac'))).duration:.3f}\n"
                                       for u in sorted(DataDir.load(d).utt2spk)))
    return d


def _with_segments(src: Path, dest: Path) -> Path:
    """The same utterances as segments of their recordings (ids <utt>-seg, each the first 0.5 s)."""
    shutil.copytree(src, dest)
    d = DataDir.load(src)
    utts = sorted(d.utt2spk)
    (dest / "segments").write_text("".join(f"{u}-seg {u} 0.00 0.50\n" for u in utts))
    (dest / "text").write_text("".join(f"{u}-seg {d.text[u]}\n" for u in utts))
    (dest / "utt2spk").write_text("".join(f"{u}-seg {d.utt2spk[u]}\n" for u in utts))
    spk: dict[str, list[str]] = {}
    for u in utts:
        spk.setdefault(d.utt2spk[u], []).append(f"{u}-seg")
    (dest / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk.items())))
    (dest / "utt2dur").write_text("".join(f"{u}-seg 0.5\n" for u in utts))
    return dest


def _mutate(path: Path, mutation: str, draw) -> None:
    if mutation == "missing":
        path.unlink(missing_ok=True)
        return
    raw = path.read_bytes() if path.exists() else b""
    lines = raw.split(b"\n")[:-1] if raw.endswith(b"\n") else raw.split(b"\n")
    if mutation == "empty" or not lines:
        path.write_bytes(b"")
        return
    i = draw(st.integers(0, len(lines) - 1))
    if mutation == "drop":
        del lines[i]
    elif mutation == "duplicate":
        lines.insert(i, lines[i])
    elif mutation == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif mutation == "bad-utf8":
        lines[i] = lines[i] + b" \xff\xfe\xc3"
    elif mutation == "nul":
        lines[i] = lines[i][:3] + b"\0" + lines[i][3:]
    elif mutation == "tab":
        lines[i] = lines[i].replace(b" ", b"\t", 1)
    elif mutation == "long-line":
        lines[i] = lines[i] + b" " + b"X" * 100_000
    elif mutation == "blank-line":
        lines.insert(i, b"")
    sep = b"\r\n" if mutation == "crlf" else b"\n"
    end = b"" if mutation == "no-final-newline" else sep
    path.write_bytes(sep.join(lines) + end)


@FIXTURES
@given(segmented=st.booleans(),
       edits=st.lists(st.tuples(st.sampled_from(DIR_FILES), st.sampled_from(MUTATIONS)), min_size=1, max_size=3),
       skip_bad=st.booleans(), data=st.data())
def test_fuzz_data_dirs(tiny_model, base_dir, tmp_path_factory, capsys, segmented, edits, skip_bad, data):
    root = tmp_path_factory.mktemp("fuzz_dir")
    d = _with_segments(base_dir, root / "data") if segmented else shutil.copytree(base_dir, root / "data")
    for name, mutation in edits:
        _mutate(d / name, mutation, data.draw)
    capsys.readouterr()
    args = ["decode", "--model", str(tiny_model), *(["--skip-bad"] if skip_bad else []), str(d), str(root / "dec")]
    rc = asr_main(args)  # an exception other than AsrError fails the test: that is a traceback
    err = capsys.readouterr().err
    assert rc in (0, 1, EXIT_SKIPPED), (edits, rc, err)
    if rc == 1:
        message = [line for line in err.splitlines() if "error:" in line]
        assert message, (edits, err)
        assert str(d) in err or any(n in err for n in DIR_FILES), (edits, err)
    assert "Traceback" not in err


# ----- wav.scp pipes and segments ------------------------------------------------------------------

@st.composite
def wav_entries(draw, good: Path) -> str:
    return draw(st.sampled_from([
        f"cat {good} |", "false |", f"head -c {draw(st.integers(0, 2000))} {good} |", "no-such-command-xyz |",
        f"cat {good.parent / 'absent.wav'} |", str(good), str(good.parent / "absent.wav"), f"{good}:0",
        f"sox {good} -t wav - |", "echo not audio |", f"cat {good} | head -c 44 |",
    ]))


@FIXTURES
@given(entry=st.data(), start=st.floats(-1.0, 3.0), length=st.one_of(st.just(-1.0), st.floats(-0.5, 3.0)),
       use_segments=st.booleans(), skip_bad=st.booleans())
def test_fuzz_pipes_and_segments(tiny_model, good_wav, tmp_path_factory, capsys, entry, start, length,
                                 use_segments, skip_bad):
    root = tmp_path_factory.mktemp("fuzz_pipe")
    d = root / "data"
    d.mkdir()
    spec = entry.draw(wav_entries(good_wav))
    (d / "wav.scp").write_text(f"good {good_wav}\nrec {spec}\n")
    if use_segments:
        end = -1 if length == -1.0 else round(start + length, 3)
        (d / "segments").write_text(f"good-a good 0.0 0.8\nrec-a rec {start:.3f} {end}\n")
        utts = ["good-a", "rec-a"]
    else:
        utts = ["good", "rec"]
    (d / "utt2spk").write_text("".join(f"{u} {u}\n" for u in utts))
    (d / "spk2utt").write_text("".join(f"{u} {u}\n" for u in utts))
    capsys.readouterr()
    rc = asr_main(["decode", "--model", str(tiny_model), "--no-score", *(["--skip-bad"] if skip_bad else []),
                   str(d), str(root / "dec")])
    err = capsys.readouterr().err
    assert rc in (0, 1, EXIT_SKIPPED), (spec, start, length, rc, err)
    if rc == 1:
        assert "rec" in err, (spec, err)  # the bad utterance or recording is named
    if skip_bad and rc != 1:
        assert utts[0] in (root / "dec" / "text").read_text()
    if skip_bad and rc == 1:  # only a data-dir rule may stop --skip-bad (e.g. segment times out of order)
        assert "segments" in err, (spec, start, length, err)
