"""Tests for asr.audio: formats, scaling, channels, resampling, pipes, segments, bad audio, corpora."""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import (
    AudioError,
    audio_info,
    iter_utterances,
    load_utterance,
    read_audio,
    resample,
    utterance_durations,
)
from asr.errors import AsrError

SR = 16000


@dataclass
class Seg:
    """Stand-in for asr.datadir.Segment (same fields)."""

    recording: str
    start: float
    end: float


def chirp(n: int = SR * 2, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A rising chirp (no periodicity, so offsets show up), (n,) float64."""
    t = np.arange(n) / sr
    return amp * np.sin(2 * np.pi * (100 * t + 400 * t**2))


def sine(freq: float, n: int, sr: int, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)


def peak_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def quantise16(x: np.ndarray) -> np.ndarray:
    """What libsndfile returns for x written as PCM_16: round to int16, scale by 1/32768."""
    return (np.clip(np.round(x * 32768), -32768, 32767) / 32768).astype(np.float32)


def has_subtype(fmt: str, subtype: str) -> bool:
    return fmt in sf.available_formats() and sf.check_format(fmt, subtype)


# ---------------------------------------------------------------------------- formats and scaling

LOSSLESS = [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("flac24", "FLAC", "PCM_24"),
            ("wav24", "WAV", "PCM_24"), ("aiff", "AIFF", "PCM_16")]
LOSSY = [("ogg", "OGG", "VORBIS"), ("opus", "OGG", "OPUS"), ("mp3", "MP3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("ext,fmt,subtype", LOSSLESS)
def test_lossless_formats_decode_exactly(tmp_path: Path, ext: str, fmt: str, subtype: str) -> None:
    x = quantise16(chirp())  # exactly representable in 16 and 24 bits
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, SR, format=fmt, subtype=subtype)
    y, sr = read_audio(str(path))
    assert sr == SR and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    assert audio_info(str(path)) == (SR, len(x), 1)


@pytest.mark.parametrize("ext,fmt,subtype", LOSSY)
def test_lossy_formats_decode(tmp_path: Path, ext: str, fmt: str, subtype: str) -> None:
    if not has_subtype(fmt, subtype):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    n = SR * 2
    path = tmp_path / f"a.{ext}"
    sf.write(path, sine(1000, n, SR), SR, format=fmt, subtype=subtype)
    y, sr = read_audio(str(path), name="u1")
    assert sr == SR and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - n) <= 0.05 * n
    assert abs(peak_freq(y, sr) - 1000) < 5
    assert np.abs(y).max() <= 1.0
    info = audio_info(str(path))
    assert info[0] == SR and info[2] == 1 and info[1] == len(y)


def test_mp3_segment_is_sample_accurate(tmp_path: Path) -> None:
    """libsndfile's MP3 seek is not exact; the reader must still cut the right samples."""
    if not has_subtype("MP3", "MPEG_LAYER_III"):
        pytest.skip("no MP3 support")
    path = tmp_path / "a.mp3"
    sf.write(path, chirp(), SR, format="MP3")
    full, _ = read_audio(str(path))
    seg, _ = read_audio(str(path), start=0.5, end=1.25)
    np.testing.assert_array_equal(seg, full[8000:20000])


@pytest.mark.parametrize("subtype,full_scale", [("PCM_16", 2**15), ("PCM_32", 2**31), ("PCM_U8", 2**7),
                                                 ("PCM_24", 2**23)])
def test_integer_pcm_scaled_to_unit_range(tmp_path: Path, subtype: str, full_scale: int) -> None:
    ints = np.array([0, full_scale // 2, -full_scale // 2, full_scale - 1, -full_scale, 1])
    path = tmp_path / "a.wav"
    sf.write(path, ints / full_scale, 8000, subtype=subtype)
    y, sr = read_audio(str(path))
    assert sr == 8000 and y.dtype == np.float32
    np.testing.assert_allclose(y, ints / full_scale, atol=1e-7)
    assert y.min() >= -1.0 and y.max() <= 1.0  # float32 rounds (2**31 - 1) / 2**31 to 1.0


def test_int16_via_numpy_ints(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, np.array([16384, -32768, 32767, 0], dtype=np.int16), 8000)
    y, _ = read_audio(str(path))
    np.testing.assert_array_equal(y, np.array([0.5, -1.0, 32767 / 32768, 0.0], dtype=np.float32))


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wav_passed_through(tmp_path: Path, subtype: str) -> None:
    x = np.array([0.25, -0.75, 1e-4, 0.0, 0.999], dtype=np.float32)
    path = tmp_path / "f.wav"
    sf.write(path, x, SR, subtype=subtype)
    y, _ = read_audio(str(path))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)


# ---------------------------------------------------------------------------- channels

def write_multichannel(path: Path, channels: int = 3, n: int = 4000) -> np.ndarray:
    data = np.stack([quantise16(sine(300 * (c + 1), n, SR, amp=0.2 + 0.1 * c)) for c in range(channels)], axis=1)
    sf.write(path, data, SR, subtype="PCM_16")
    return data


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_channel_choice(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"m.{ext}"
    data = write_multichannel(path)
    for c in range(3):
        y, _ = read_audio(str(path), channel=c)
        np.testing.assert_array_equal(y, data[:, c])
    y, _ = read_audio(str(path), channel=None)  # mix
    np.testing.assert_allclose(y, data.mean(axis=1), atol=1e-6)
    assert audio_info(str(path)) == (SR, len(data), 3)


@pytest.mark.parametrize("channel", [3, -1, 10])
def test_missing_channel_is_an_error(tmp_path: Path, channel: int) -> None:
    path = tmp_path / "m.wav"
    write_multichannel(path)
    with pytest.raises(AudioError, match=rf"utterance 'uttX'.*channel {channel}.*{path.name}.*3 channels"):
        read_audio(str(path), channel=channel, name="uttX")
    with pytest.raises(AudioError, match="channel 1 .* 1 channel"):
        mono = tmp_path / "mono.wav"
        sf.write(mono, np.zeros(100), SR)
        read_audio(f"cat {shlex.quote(str(mono))} |", channel=1, name="uttY")


# ---------------------------------------------------------------------------- resampling

@pytest.mark.parametrize("sr_in,sr_out", [(16000, 8000), (8000, 16000), (44100, 16000), (22050, 16000),
                                          (16000, 48000)])
def test_resampling_keeps_length_and_frequency(tmp_path: Path, sr_in: int, sr_out: int) -> None:
    n = int(sr_in * 1.5) + 1  # an odd length: checks the rounding of the output length
    path = tmp_path / "r.wav"
    sf.write(path, sine(440, n, sr_in), sr_in, subtype="FLOAT")
    y, sr = read_audio(str(path), sample_rate=sr_out)
    assert sr == sr_out and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - n * sr_out / sr_in) <= 0.5 + 1e-9
    assert abs(peak_freq(y, sr) - 440) < 2
    # a high-quality filter: the in-band sine keeps its amplitude away from the edges
    mid = y[len(y) // 4: 3 * len(y) // 4]
    assert abs(np.abs(mid).max() - 0.5) < 0.01


def test_resampling_identity_and_aliasing(tmp_path: Path) -> None:
    x = sine(440, 1000, SR).astype(np.float32)
    assert resample(x, SR, SR) is x
    # 6 kHz is above the 4 kHz Nyquist of 8 kHz: a filter removes it instead of aliasing to 2 kHz
    high = sine(6000, SR, SR).astype(np.float32)
    assert np.abs(resample(high, SR, 8000)[100:-100]).max() < 0.01  # edges: onset transient
    with pytest.raises(ValueError):
        resample(x, 0, SR)


# ---------------------------------------------------------------------------- pipes

@pytest.fixture()
def wav(tmp_path: Path) -> tuple[Path, np.ndarray]:
    x = quantise16(chirp())
    path = tmp_path / "rec.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    return path, x


def test_sox_pipe(wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav
    y, sr = read_audio(f"/usr/bin/sox {shlex.quote(str(path))} -t wav - |", name="u")
    assert sr == SR
    np.testing.assert_array_equal(y, x)
    y8, sr8 = read_audio(f"sox {shlex.quote(str(path))} -t wav - |", sample_rate=8000)
    assert sr8 == 8000 and len(y8) == len(x) // 2
    assert audio_info(f"sox {shlex.quote(str(path))} -t flac - |") == (SR, len(x), 1)


def test_pipe_with_relative_path_and_root(wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav
    y, _ = read_audio(f"sox {path.name} -t wav - |", root=path.parent)
    np.testing.assert_array_equal(y, x)
    y, _ = read_audio(path.name, root=path.parent)
    np.testing.assert_array_equal(y, x)


def test_failing_pipe_names_command_and_stderr(tmp_path: Path) -> None:
    cmd = f"sox {tmp_path}/missing.wav -t wav -"
    with pytest.raises(AudioError) as e:
        read_audio(cmd + " |", name="utt7")
    msg = str(e.value)
    assert "utterance 'utt7'" in msg and cmd in msg and "missing.wav" in msg and "exit status" in msg
    assert "sox" in msg.split("stderr:")[1]  # sox's own complaint is quoted
    with pytest.raises(AudioError, match=r"utt8.*no-such-program.*exit status 127.*not found"):
        read_audio("no-such-program --flag x |", name="utt8")
    with pytest.raises(AudioError, match=r"utt9.*decode.*'echo hello \|'"):
        read_audio("echo hello |", name="utt9")
    with pytest.raises(AudioError, match=r"utt10.*wrote nothing"):
        read_audio("true |", name="utt10")


def test_kaldi_wave_archive_offsets(tmp_path: Path) -> None:
    kaldiio = pytest.importorskip("kaldiio")
    a = (np.arange(1000) % 200 * 100 - 10000).astype(np.int16)
    b = np.stack([np.arange(3000) % 50 * -300, np.arange(3000) % 7 * 1000], axis=1).astype(np.int16)
    kaldiio.save_ark(str(tmp_path / "wav.ark"), {"r1": (16000, a), "r2": (8000, b)}, scp=str(tmp_path / "wav.scp"))
    wav_scp = dict(line.split() for line in (tmp_path / "wav.scp").read_text().splitlines())
    y, sr = read_audio(wav_scp["r1"], name="r1")
    assert sr == 16000
    np.testing.assert_array_equal(y, a / 32768)
    y, sr = read_audio(wav_scp["r2"], channel=1, start=0.125, end=0.25, name="r2")
    assert sr == 8000
    np.testing.assert_array_equal(y, b[1000:2000, 1] / 32768)
    assert audio_info(wav_scp["r2"]) == (8000, 3000, 2)
    # relative to root, like a corpus wav.scp
    rel = {k: v.replace(str(tmp_path) + "/", "") for k, v in wav_scp.items()}
    assert utterance_durations(rel, None, root=tmp_path) == pytest.approx({"r1": 1000 / 16000, "r2": 3000 / 8000})
    with pytest.raises(AudioError, match=r"'bad'.*archive entry '.*wav.ark:5'.*RIFF"):
        read_audio(str(tmp_path / "wav.ark:5"), name="bad")
    with pytest.raises(AudioError, match=r"'gone'.*nothing.ark:3.*does not exist"):
        read_audio(str(tmp_path / "nothing.ark:3"), name="gone")


# ---------------------------------------------------------------------------- segments

def test_segments_cut_exact_frames(wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav
    y, _ = read_audio(str(path), start=0.25, end=1.5, name="s")
    np.testing.assert_array_equal(y, x[4000:24000])
    y, _ = read_audio(str(path), start=0.5, end=-1)
    np.testing.assert_array_equal(y, x[8000:])
    y, _ = read_audio(str(path), start=0.5, end=None)
    np.testing.assert_array_equal(y, x[8000:])
    # Kaldi rounds times to the nearest sample
    y, _ = read_audio(str(path), start=0.10003, end=0.20004)
    np.testing.assert_array_equal(y, x[1600:3201])
    # the same through a pipe, with resampling of the cut
    y, _ = read_audio(f"sox {shlex.quote(str(path))} -t wav - |", start=0.25, end=1.5)
    np.testing.assert_array_equal(y, x[4000:24000])
    y, sr = read_audio(str(path), start=0.25, end=1.5, sample_rate=8000)
    assert sr == 8000 and len(y) == 10000


def test_segment_flac_reads_only_needed_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = quantise16(chirp(SR * 60))  # one minute
    path = tmp_path / "long.flac"
    sf.write(path, x, SR)
    requested: list[int] = []
    orig = sf.SoundFile.read

    def spy(self: sf.SoundFile, frames: int = -1, *args: object, **kwargs: object) -> np.ndarray:
        requested.append(frames)
        return orig(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    y, _ = read_audio(str(path), start=50.0, end=50.5)
    np.testing.assert_array_equal(y, x[800000:808000])
    assert requested == [8000]


def test_segment_overshoot_and_bad_segments(wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav  # 2.0 s
    y, _ = read_audio(str(path), start=1.0, end=2.3)  # within Kaldi's 0.5 s max overshoot
    np.testing.assert_array_equal(y, x[16000:])
    with pytest.raises(AudioError, match=rf"'segA'.*ends .* after the end of .*{path.name}"):
        read_audio(str(path), start=1.0, end=3.0, name="segA")
    with pytest.raises(AudioError, match=rf"'segB'.*starts at 2.5 s.*{path.name}.*2.000 s long"):
        read_audio(str(path), start=2.5, end=-1, name="segB")
    with pytest.raises(AudioError, match=rf"'segC'.*end must be after start.*{path.name}"):
        read_audio(str(path), start=1.0, end=1.0, name="segC")
    with pytest.raises(AudioError, match=rf"'segD'.*bad segment start.*{path.name}"):
        read_audio(str(path), start=-0.5, end=1.0, name="segD")


# ---------------------------------------------------------------------------- bad audio

def make_bad(tmp_path: Path, kind: str) -> tuple[str, str]:
    """Write a bad recording; returns (spec, the file name the message must contain)."""
    if kind == "missing":
        return str(tmp_path / "nope.wav"), "nope.wav"
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif kind == "truncated_header":
        sf.write(path, np.zeros(1000), SR)
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "corrupt_flac":
        path = tmp_path / "corrupt.flac"
        sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, SR * 2), SR)
        data = bytearray(path.read_bytes())
        data[5000:20000] = np.random.default_rng(1).integers(0, 256, 15000, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
    elif kind == "zero_length":
        sf.write(path, np.zeros(0, dtype=np.float32), SR)
    elif kind in ("nan", "inf"):
        x = np.zeros(1000, dtype=np.float32)
        x[321] = np.nan if kind == "nan" else np.inf
        sf.write(path, x, SR, subtype="FLOAT")
    elif kind == "directory":
        path.mkdir()
    else:  # pragma: no cover
        raise ValueError(kind)
    return str(path), path.name


BAD_KINDS = ["missing", "empty", "garbage", "truncated_header", "corrupt_flac", "zero_length", "nan", "inf",
             "directory"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_audio_names_utterance_and_file(tmp_path: Path, kind: str) -> None:
    spec, fname = make_bad(tmp_path, kind)
    with pytest.raises(AudioError) as e:
        read_audio(spec, name=f"utt-{kind}")
    msg = str(e.value)
    assert f"utt-{kind}" in msg and fname in msg
    assert isinstance(e.value, AsrError)
    # no library traceback chained to it
    assert e.value.__cause__ is None and (e.value.__context__ is None or e.value.__suppress_context__)
    if kind in ("nan", "inf"):
        assert "non-finite" in msg and "sample 321" in msg
    if kind == "zero_length":
        assert "zero-length" in msg


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage", "truncated_header"])
def test_bad_audio_in_durations(tmp_path: Path, kind: str) -> None:
    spec, fname = make_bad(tmp_path, kind)
    with pytest.raises(AudioError, match=rf"'reco-{kind}'.*{fname}"):
        utterance_durations({f"reco-{kind}": spec}, None)


def test_bad_pipe_output_nan(tmp_path: Path) -> None:
    spec, _ = make_bad(tmp_path, "nan")
    with pytest.raises(AudioError, match=r"'uN'.*pipe command 'cat .*nan.wav \|'.*non-finite"):
        read_audio(f"cat {spec} |", name="uN")


# ---------------------------------------------------------------------------- durations and data dirs

def test_utterance_durations_match_decoded_lengths(tmp_path: Path) -> None:
    wav_scp = {}
    for i, (fmt, sub, sr, n) in enumerate([("WAV", "PCM_16", 16000, 12345), ("FLAC", "PCM_16", 8000, 8001),
                                           ("WAV", "FLOAT", 22050, 30000), ("OGG", "VORBIS", 16000, 16000)]):
        path = tmp_path / f"r{i}.{fmt.lower()}"
        sf.write(path, 0.1 * chirp(n, sr), sr, format=fmt, subtype=sub)
        wav_scp[f"r{i}"] = str(path)
    wav_scp["rp"] = f"sox {shlex.quote(wav_scp['r0'])} -t wav - |"
    durs = utterance_durations(wav_scp, None)
    assert list(durs) == list(wav_scp)
    for reco, spec in wav_scp.items():
        y, sr = read_audio(spec)
        assert durs[reco] == pytest.approx(len(y) / sr, abs=1e-9)


def test_utterance_durations_with_segments(wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav
    wav_scp = {"A": str(path), "B": f"cat {shlex.quote(str(path))} |"}
    segments = {"A-1": Seg("A", 0.0, 0.75), "A-2": Seg("A", 0.75, -1), "B-1": Seg("B", 1.5, -1),
                "B-2": Seg("B", 0.125, 0.5)}
    durs = utterance_durations(wav_scp, segments)
    assert durs == pytest.approx({"A-1": 0.75, "A-2": 1.25, "B-1": 0.5, "B-2": 0.375})
    for utt in segments:
        y, sr = load_utterance(wav_scp, segments, utt)
        assert len(y) / sr == pytest.approx(durs[utt], abs=1 / sr)
    with pytest.raises(AudioError, match="'C-1'.*recording 'C'"):
        utterance_durations(wav_scp, {"C-1": Seg("C", 0.0, -1)})


def test_load_utterance_without_segments(wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav
    y, sr = load_utterance({"r": str(path)}, None, "r", sample_rate=8000)
    assert sr == 8000 and len(y) == len(x) // 2
    with pytest.raises(AudioError, match="'q'.*not in wav.scp"):
        load_utterance({"r": str(path)}, None, "q")
    with pytest.raises(AudioError, match="'q'.*not in segments"):
        load_utterance({"r": str(path)}, {}, "q")


def test_iter_utterances_skip_bad(tmp_path: Path, wav: tuple[Path, np.ndarray],
                                  caplog: pytest.LogCaptureFixture) -> None:
    path, x = wav
    wav_scp = {"a": str(path), "b": str(tmp_path / "missing.wav"), "c": make_bad(tmp_path, "nan")[0],
               "d": f"sox {shlex.quote(str(path))} -t wav - |"}
    with pytest.raises(AudioError, match="'b'.*missing.wav"):
        list(iter_utterances(wav_scp))
    with caplog.at_level(logging.WARNING, logger="asr.audio"):
        got = list(iter_utterances(wav_scp, skip_bad=True, sample_rate=8000))
    assert [u for u, _, _ in got] == ["a", "d"]
    assert all(sr == 8000 and len(w) == len(x) // 2 for _, w, sr in got)
    text = caplog.text
    assert "'b'" in text and "missing.wav" in text and "'c'" in text and "skipped 2 of 4" in text


def test_iter_utterances_runs_a_pipe_once_per_recording(tmp_path: Path, wav: tuple[Path, np.ndarray]) -> None:
    path, x = wav
    counter = tmp_path / "runs"
    cmd = f"echo run >> {shlex.quote(str(counter))}; cat {shlex.quote(str(path))} |"
    wav_scp = {"A": cmd, "B": str(path)}
    segments = {"A-1": Seg("A", 0.0, 0.5), "A-2": Seg("A", 0.5, 1.0), "A-3": Seg("A", 1.0, -1),
                "B-1": Seg("B", 0.25, 0.5)}
    got = {u: w for u, w, _ in iter_utterances(wav_scp, segments)}
    assert counter.read_text().count("run") == 1
    np.testing.assert_array_equal(got["A-2"], x[8000:16000])
    np.testing.assert_array_equal(got["A-3"], x[16000:])
    np.testing.assert_array_equal(got["B-1"], x[4000:8000])
    got = list(iter_utterances(wav_scp, segments, utts=["B-1", "A-3"]))
    assert [u for u, _, _ in got] == ["B-1", "A-3"]


# ---------------------------------------------------------------------------- real corpora

def test_real_corpora(corpora: Path) -> None:
    so = corpora / "speechocean762"
    fsdd = corpora / "fsdd" / "recordings"
    if not (so / "train" / "wav.scp").is_file() or not fsdd.is_dir():
        pytest.skip("speechocean762 or fsdd missing from the shared corpora")
    # speechocean762: 16 kHz FLAC, wav.scp paths relative to the corpus root
    wav_scp = {}
    with open(so / "train" / "wav.scp", encoding="utf-8") as f:
        for line in f:
            utt, rest = line.split(maxsplit=1)
            wav_scp[utt] = rest.strip()
            if len(wav_scp) == 3:
                break
    durs = utterance_durations(wav_scp, None, root=so)
    for utt, wave, sr in iter_utterances(wav_scp, root=so):
        assert sr == 16000 and wave.dtype == np.float32 and wave.ndim == 1
        assert 0.5 < len(wave) / sr < 30 and durs[utt] == pytest.approx(len(wave) / sr)
        assert 1e-3 < np.abs(wave).max() <= 1.0 and np.isfinite(wave).all()
    # fsdd: 8 kHz WAV, also resampled to 16 kHz
    for path in sorted(fsdd.glob("*.wav"))[:3]:
        wave, sr = read_audio(str(path), name=path.stem)
        assert sr == 8000 and len(wave) > 0 and np.abs(wave).max() <= 1.0
        assert audio_info(str(path)) == (8000, len(wave), 1)
        up, sr16 = read_audio(str(path), sample_rate=16000)
        assert sr16 == 16000 and len(up) == 2 * len(wave)
