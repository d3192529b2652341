"""Audio decoding: the only module that turns audio files and ``wav.scp`` entries into samples.

What it reads:

- any file libsndfile decodes: WAV/WAVEX/RF64/W64 (8/16/24/32-bit int, 32/64-bit
  float, A-law/mu-law), FLAC, OGG (Vorbis and Opus), MP3, AIFF, AU, NIST SPHERE
  (uncompressed), CAF, ...;
- Kaldi ``wav.scp`` pipe commands (``sox x.wav -t wav - |``, ``sph2pipe -f wav x.sph |``,
  any shell command ending in ``|``): run with ``/bin/sh`` like Kaldi's ``popen``,
  stdout decoded as above; a failing command is an :class:`AudioError` carrying
  the command and the end of its stderr;
- Kaldi offset rxfilenames into wave archives (``wav.ark:1234``, as written by
  ``wav-copy ... ark,scp:`` or ``kaldiio.save_ark``), used only when no file has the
  literal name;
- Kaldi ``segments`` cuts (``start``/``end`` in seconds, ``end`` -1 = to the end).
  From a file only the needed frames are decoded (seek + read), so cutting a
  short segment out of an hour-long recording is cheap. A pipe is run and decoded
  whole, then cut (:func:`iter_utterances` keeps the last decoded pipe so that
  consecutive segments of one piped recording run the command once); so is an
  archive entry.

Samples come back as float32 the way soundfile scales them: integer PCM divided by
its full scale, so in [-1, 1]; float files are passed through unchanged (so they
can exceed 1). Kaldi's int16 scale is the features module's business.

Resampling uses soxr at ``"HQ"`` quality (linear phase, the filter's delay
compensated) for every ratio. Integer factors (16 kHz -> 8 kHz, 8 kHz -> 16 kHz)
are *not* special-cased: picking every k-th sample would alias and zero-stuffing
would image, while soxr computes an exact rational ratio anyway, so all rates go
through the same filter and the result is independent of how the ratio factors.
The output has ``round(N * out_rate / in_rate)`` samples (halves rounded up).

Bad audio (missing, empty, corrupt, zero-length, non-finite samples, a channel or
segment that does not exist) raises :class:`AudioError` whose message names the
utterance (``name``) and the file or command; no numpy/soundfile traceback escapes.

Paths in ``wav.scp`` are used as written; a relative path is resolved against
``root`` when one is given (pipes then run with ``root`` as working directory),
else against the current directory — corpora whose ``wav.scp`` is relative to the
corpus root pass ``root=corpus_dir``.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf
import soxr

from asr.errors import AsrError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: Resampling quality passed to soxr ("HQ": 20-bit precision, 95% passband, linear phase).
RESAMPLE_QUALITY = "HQ"
#: A segment may end this many seconds past the recording and is then cut at the end
#: (Kaldi's ``extract-segments --max-overshoot`` default); further is an error.
MAX_SEGMENT_OVERSHOOT = 0.5
#: How much of a failing pipe command's stderr goes into the error message.
_STDERR_TAIL_CHARS = 2000
# Kaldi's offset rxfilename "archive.ark:1234", tried only when no file has the literal name.
_ARK_OFFSET = re.compile(r"^(.+):(\d+)$")
# Formats that libsndfile cannot seek in sample-accurately: decoded from the start instead.
_INEXACT_SEEK_FORMATS = frozenset({"MP3", "MPEG"})


class AudioError(AsrError):
    """Audio that cannot be read or is unusable; the message names the utterance and the file."""


class SegmentLike(Protocol):
    """What :func:`utterance_durations` needs of a segment (``asr.datadir.Segment`` fits)."""

    recording: str
    start: float
    end: float


@dataclass(frozen=True)
class _Source:
    """A resolved ``wav.scp`` value: a file, an entry of a wave archive, or a command whose stdout is audio."""

    path: Path | None = None
    command: str | None = None
    cwd: Path | None = None
    offset: int | None = None  # byte offset of a WAV inside a Kaldi archive ("wav.ark:1234")

    @property
    def in_memory(self) -> bool:
        """True when the audio has to be fetched whole (pipe output, archive entry) before decoding."""
        return self.command is not None or self.offset is not None

    def describe(self) -> str:
        if self.command is not None:
            return f"pipe command '{_clip(self.command)} |'"
        if self.offset is not None:
            return f"archive entry '{_clip(str(self.path))}:{self.offset}'"
        return f"file '{_clip(str(self.path))}'"


def _clip(text: str, most: int = 300) -> str:
    """``text``, or its start and end around '...' when longer than ``most`` characters (messages stay one line)."""
    return text if len(text) <= most else f"{text[: most - 100]}...({len(text)} characters)...{text[-80:]}"


def _who(name: str | None) -> str:
    return f"utterance '{name}': " if name else ""


def _resolve(spec: str, root: PathLike | None, name: str | None) -> _Source:
    """Parse a path or ``"cmd |"``; relative paths are taken relative to ``root`` if given."""
    text = spec.strip() if isinstance(spec, str) else str(spec)
    if not text:
        raise AudioError(f"{_who(name)}empty audio path")
    if text.endswith("|"):
        command = text[:-1].strip()
        if not command:
            raise AudioError(f"{_who(name)}empty pipe command '{text}'")
        return _Source(command=command, cwd=Path(root) if root is not None else None)
    path = _under(Path(text), root)
    m = _ARK_OFFSET.match(text)
    if m and not path.exists():
        ark = _under(Path(m[1]), root)
        if ark.is_file():
            return _Source(path=ark, offset=int(m[2]))
    return _Source(path=path)


def _under(path: Path, root: PathLike | None) -> Path:
    return Path(root) / path if root is not None and not path.is_absolute() else path


def _read_ark_wav(src: _Source, name: str | None) -> bytes:
    """The bytes of one RIFF/WAV object stored in a Kaldi archive (``wav-copy ... ark:``) at an offset."""
    assert src.path is not None and src.offset is not None
    try:
        with open(src.path, "rb") as f:
            f.seek(src.offset)
            head = f.read(8)
            if len(head) < 8 or head[:4] != b"RIFF":
                raise AudioError(f"{_who(name)}{src.describe()} is not a WAV object (no RIFF header at the offset)")
            size = int.from_bytes(head[4:8], "little")
            body = f.read(size)
    except OSError as e:
        raise AudioError(f"{_who(name)}cannot read {src.describe()}: {e.strerror or e}") from None
    if len(body) < size:
        raise AudioError(f"{_who(name)}{src.describe()} is truncated ({len(body)} of {size} bytes)")
    return head + body


def _fetch(src: _Source, name: str | None) -> bytes:
    """All the bytes of an in-memory source: a pipe's stdout or an archive entry."""
    return _run_pipe(src, name) if src.command is not None else _read_ark_wav(src, name)


def _lib_reason(e: Exception) -> str:
    """The short reason from a soundfile/libsndfile exception (without its own file name)."""
    reason = getattr(e, "error_string", None) or str(e) or type(e).__name__
    return str(reason).strip().rstrip(".")


def _run_pipe(src: _Source, name: str | None) -> bytes:
    """Run a ``wav.scp`` pipe command and return its stdout; failures name command and stderr."""
    assert src.command is not None
    try:
        proc = subprocess.run(src.command, shell=True, cwd=src.cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
    except OSError as e:  # e.g. cwd missing
        raise AudioError(f"{_who(name)}cannot run {src.describe()}: {e}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL_CHARS:]
        raise AudioError(f"{_who(name)}{src.describe()} failed with exit status {proc.returncode}"
                         + (f"; stderr: {err}" if err else " (no stderr)"))
    if not proc.stdout:
        raise AudioError(f"{_who(name)}{src.describe()} wrote nothing to stdout")
    return proc.stdout


def _decode_bytes(data: bytes, src: _Source, name: str | None) -> tuple[np.ndarray, int]:
    """Decode a whole in-memory file: ((N, C) float32, rate)."""
    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError) as e:
        what = "the output of " if src.command is not None else ""
        raise AudioError(f"{_who(name)}cannot decode {what}{src.describe()}: {_lib_reason(e)}") from None
    return x, int(sr)


def _open(src: _Source, name: str | None) -> sf.SoundFile:
    assert src.path is not None
    try:
        st = src.path.stat()
    except FileNotFoundError:
        raise AudioError(f"{_who(name)}audio {src.describe()} does not exist") from None
    except (OSError, ValueError) as e:  # a name too long, a NUL byte in it, no permission ...
        raise AudioError(f"{_who(name)}cannot open audio {src.describe()}: "
                         f"{getattr(e, 'strerror', None) or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{_who(name)}audio {src.describe()} is a directory")
    if st.st_size == 0:
        raise AudioError(f"{_who(name)}audio {src.describe()} is empty (0 bytes)")
    try:
        return sf.SoundFile(str(src.path))
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError) as e:
        raise AudioError(f"{_who(name)}cannot open audio {src.describe()} (corrupt or not a format "
                         f"libsndfile reads): {_lib_reason(e)}") from None


def _frame_range(start: float, end: float | None, sr: int, total: int, src: _Source,
                 name: str | None) -> tuple[int, int]:
    """Turn a segment in seconds into frames [first, last) of a recording with ``total`` frames."""
    if not (math.isfinite(start) and start >= 0):
        raise AudioError(f"{_who(name)}bad segment start {start} s for {src.describe()}")
    first = int(math.floor(start * sr + 0.5))  # Kaldi rounds to the nearest sample
    if end is None or end == -1:
        last = total
    else:
        if not (math.isfinite(end) and end > start):
            raise AudioError(f"{_who(name)}bad segment {start}-{end} s (end must be after start) "
                             f"for {src.describe()}")
        last = int(math.floor(end * sr + 0.5))
        if last > total:
            over = (last - total) / sr
            if over > MAX_SEGMENT_OVERSHOOT:
                raise AudioError(f"{_who(name)}segment {start}-{end} s ends {over:.3f} s after the end of "
                                 f"{src.describe()} ({total / sr:.3f} s long)")
            last = total
    if first >= total:
        raise AudioError(f"{_who(name)}segment starts at {start} s but {src.describe()} is only "
                         f"{total / sr:.3f} s long")
    return first, last


def _check_channel(channel: int | None, channels: int, src: _Source, name: str | None) -> None:
    if channel is not None and not 0 <= channel < channels:
        raise AudioError(f"{_who(name)}channel {channel} requested but {src.describe()} has "
                         f"{channels} channel{'s' if channels != 1 else ''}")


def _read_file_frames(src: _Source, channel: int | None, start: float, end: float | None,
                      name: str | None) -> tuple[np.ndarray, int]:
    """Read only frames [start, end) of a seekable file: ((N, C) float32, rate)."""
    with _open(src, name) as f:
        sr, total, channels = int(f.samplerate), int(f.frames), int(f.channels)
        _check_channel(channel, channels, src, name)
        if total <= 0:
            raise AudioError(f"{_who(name)}audio {src.describe()} has no samples (zero-length audio)")
        first, last = _frame_range(start, end, sr, total, src, name)
        try:
            if f.format in _INEXACT_SEEK_FORMATS or not f.seekable():
                # libsndfile's MP3 decoding is only consistent when read in one call from the start
                # (its seek lands off by up to a frame and successive reads can lose samples)
                x = f.read(last, dtype="float32", always_2d=True)[first:]
            else:
                f.seek(first)
                x = f.read(last - first, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError) as e:
            raise AudioError(f"{_who(name)}cannot decode audio {src.describe()}: {_lib_reason(e)}") from None
    return x, sr


def _finish(x: np.ndarray, sr: int, channel: int | None, sample_rate: int | None, src: _Source,
            name: str | None) -> tuple[np.ndarray, int]:
    """(N, C) -> channel (or mix), validity checks, resampling -> ((N',) float32, rate)."""
    wave = x.mean(axis=1, dtype=np.float32) if channel is None else x[:, channel]
    if wave.shape[0] == 0:
        raise AudioError(f"{_who(name)}audio {src.describe()} has no samples (zero-length audio)")
    finite = np.isfinite(wave)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise AudioError(f"{_who(name)}audio {src.describe()} has non-finite samples (NaN or inf), "
                         f"first at sample {bad} ({bad / sr:.3f} s)")
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if sample_rate is not None and sample_rate != sr:
        wave = resample(wave, sr, sample_rate)
        sr = int(sample_rate)
    return wave, sr


def resample(wave: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample with soxr (HQ, linear phase, delay compensated); see the module notes on ratios.

    Args:
        wave: (N,) float32 samples at ``in_rate``.
        in_rate: the input sample rate in Hz.
        out_rate: the wanted sample rate in Hz.

    Returns:
        (round(N * out_rate / in_rate),) float32; ``wave`` itself when the rates are equal.
    """
    if in_rate <= 0 or out_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
    if in_rate == out_rate:
        return wave
    y = soxr.resample(np.ascontiguousarray(wave, dtype=np.float32), in_rate, out_rate,
                      quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(y, dtype=np.float32)


def read_audio(spec: str, sample_rate: int | None = None, channel: int | None = 0,
               start: float = 0.0, end: float | None = None, name: str | None = None, *,
               root: PathLike | None = None) -> tuple[np.ndarray, int]:
    """Decode one recording (or a segment of it) from a path or a ``wav.scp`` value.

    Args:
        spec: a file path, a ``wav.scp`` pipe command ``"cmd ... |"`` or a wave-archive
            entry ``"wav.ark:1234"``.
        sample_rate: resample to this rate in Hz (default None: keep the file's rate).
        channel: 0-based channel of multi-channel audio (default 0); None averages all channels.
        start: segment start in seconds (default 0.0).
        end: segment end in seconds (default None; None or -1 = to the end). An end up to
            ``MAX_SEGMENT_OVERSHOOT`` s past the recording is cut at its end.
        name: utterance id used in error messages (default None).
        root: directory that relative paths are relative to and pipes run in (default None:
            the current directory).

    Returns:
        ``(wave, rate)``: wave is (N,) float32 (integer PCM scaled to [-1, 1]), rate the
        sample rate of ``wave`` (``sample_rate`` when given).

    Raises:
        AudioError: missing, empty or undecodable file; failing pipe; nonexistent channel;
            segment outside the recording; zero-length audio; NaN/inf samples.
    """
    src = _resolve(spec, root, name)
    if sample_rate is not None and not (sample_rate > 0 and float(sample_rate).is_integer()):
        raise AudioError(f"{_who(name)}bad target sample rate {sample_rate} for {src.describe()}")
    sample_rate = int(sample_rate) if sample_rate is not None else None
    if src.in_memory:
        x, sr = _decode_bytes(_fetch(src, name), src, name)
        return _cut_decoded(x, sr, src, sample_rate, channel, start, end, name)
    x, sr = _read_file_frames(src, channel, start, end, name)
    return _finish(x, sr, channel, sample_rate, src, name)


def _cut_decoded(x: np.ndarray, sr: int, src: _Source, sample_rate: int | None, channel: int | None,
                 start: float, end: float | None, name: str | None) -> tuple[np.ndarray, int]:
    """Cut a segment out of a whole decoded recording ((N, C) float32) and finish it."""
    _check_channel(channel, x.shape[1], src, name)
    if x.shape[0] == 0:
        raise AudioError(f"{_who(name)}audio {src.describe()} has no samples (zero-length audio)")
    first, last = _frame_range(start, end, sr, x.shape[0], src, name)
    return _finish(x[first:last], sr, channel, sample_rate, src, name)


def audio_info(spec: str, *, name: str | None = None, root: PathLike | None = None) -> tuple[int, int, int]:
    """Sample rate, length and channels of a recording, from the header when possible.

    Files are not decoded (soundfile reads the header); a pipe command has to be run and
    its output decoded.

    Args:
        spec: a file path, a ``wav.scp`` pipe command ``"cmd ... |"`` or ``"wav.ark:1234"``.
        name: utterance/recording id used in error messages (default None).
        root: directory for relative paths and pipes (default None: the current directory).

    Returns:
        ``(sample_rate, num_frames, channels)``.

    Raises:
        AudioError: missing, empty or unreadable file, or a failing pipe.
    """
    src = _resolve(spec, root, name)
    if src.command is not None:
        x, sr = _decode_bytes(_run_pipe(src, name), src, name)
        return sr, int(x.shape[0]), int(x.shape[1])
    if src.offset is not None:
        try:
            with sf.SoundFile(io.BytesIO(_read_ark_wav(src, name))) as f:
                return int(f.samplerate), int(f.frames), int(f.channels)
        except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError) as e:
            raise AudioError(f"{_who(name)}cannot decode {src.describe()}: {_lib_reason(e)}") from None
    with _open(src, name) as f:
        return int(f.samplerate), int(f.frames), int(f.channels)


def utterance_durations(wav_scp: Mapping[str, str], segments: Mapping[str, SegmentLike] | None, *,
                        root: PathLike | None = None) -> dict[str, float]:
    """Duration in seconds of every utterance (Kaldi's ``utt2dur``), from headers where possible.

    Without segments each recording is an utterance and its duration is
    ``num_frames / rate`` from the header (pipes are run). With segments it is
    ``end - start``, or ``recording length - start`` when ``end`` is -1 (only then is the
    recording looked at, once per recording).

    Args:
        wav_scp: recording id -> path or ``"cmd |"``.
        segments: utterance id -> segment with ``recording``, ``start``, ``end`` (seconds), or None.
        root: directory for relative paths and pipes (default None: the current directory).

    Returns:
        Utterance id -> seconds, in the order of ``segments`` (or ``wav_scp``).

    Raises:
        AudioError: a segment's recording missing from ``wav_scp``, or unreadable audio.
    """
    out: dict[str, float] = {}
    if segments is None:
        for reco, spec in wav_scp.items():
            sr, n, _ = audio_info(spec, name=reco, root=root)
            out[reco] = n / sr
        return out
    lengths: dict[str, float] = {}
    for utt, seg in segments.items():
        if seg.recording not in wav_scp:
            raise AudioError(f"utterance '{utt}': recording '{seg.recording}' is not in wav.scp")
        if seg.end is not None and seg.end != -1:
            out[utt] = float(seg.end) - float(seg.start)
            continue
        if seg.recording not in lengths:
            sr, n, _ = audio_info(wav_scp[seg.recording], name=utt, root=root)
            lengths[seg.recording] = n / sr
        out[utt] = lengths[seg.recording] - float(seg.start)
    return out


def load_utterance(wav_scp: Mapping[str, str], segments: Mapping[str, SegmentLike] | None, utt: str,
                   sample_rate: int | None = None, channel: int | None = 0, *,
                   root: PathLike | None = None) -> tuple[np.ndarray, int]:
    """Decode one utterance of a data dir: its segment when ``segments`` is given, else its recording.

    Args:
        wav_scp: recording id -> path or ``"cmd |"``.
        segments: utterance id -> segment (``recording``, ``start``, ``end``), or None.
        utt: the utterance id.
        sample_rate: resample to this rate (default None: keep the file's).
        channel: channel to return (default 0); None averages all channels.
        root: directory for relative paths and pipes (default None: the current directory).

    Returns:
        ``(wave, rate)``: (N,) float32 and its rate.

    Raises:
        AudioError: unknown utterance/recording or bad audio (see :func:`read_audio`).
    """
    spec, start, end = _utt_source(wav_scp, segments, utt)
    return read_audio(spec, sample_rate=sample_rate, channel=channel, start=start, end=end, name=utt, root=root)


def _utt_source(wav_scp: Mapping[str, str], segments: Mapping[str, SegmentLike] | None,
                utt: str) -> tuple[str, float, float | None]:
    if segments is None:
        if utt not in wav_scp:
            raise AudioError(f"utterance '{utt}': not in wav.scp")
        return wav_scp[utt], 0.0, None
    seg = segments.get(utt)
    if seg is None:
        raise AudioError(f"utterance '{utt}': not in segments")
    if seg.recording not in wav_scp:
        raise AudioError(f"utterance '{utt}': recording '{seg.recording}' is not in wav.scp")
    return wav_scp[seg.recording], float(seg.start), float(seg.end)


def iter_utterances(wav_scp: Mapping[str, str], segments: Mapping[str, SegmentLike] | None = None,
                    utts: Iterable[str] | None = None, sample_rate: int | None = None,
                    channel: int | None = 0, *, skip_bad: bool = False,
                    root: PathLike | None = None) -> Iterator[tuple[str, np.ndarray, int]]:
    """Decode the utterances of a data dir one after another.

    Consecutive segments of the same piped (or archived) recording run its command once
    (the last decoded recording is kept); file segments are read by seeking.

    Args:
        wav_scp: recording id -> path or ``"cmd |"``.
        segments: utterance id -> segment, or None (each recording is an utterance).
        utts: utterance ids in the wanted order (default None: all, in ``segments``/``wav_scp`` order).
        sample_rate: resample to this rate (default None: keep each file's rate).
        channel: channel to return (default 0); None averages all channels.
        skip_bad: log a warning and go on when an utterance's audio is bad (default False: raise).
        root: directory for relative paths and pipes (default None: the current directory).

    Yields:
        ``(utt, wave, rate)`` with wave (N,) float32.

    Raises:
        AudioError: bad audio, unless ``skip_bad``.
    """
    if utts is None:
        utts = list(segments) if segments is not None else list(wav_scp)
    cached_spec: str | None = None
    cached: tuple[np.ndarray, int] | None = None
    done = skipped = 0
    for utt in utts:
        try:
            spec, start, end = _utt_source(wav_scp, segments, utt)
            src = _resolve(spec, root, utt)
            if src.in_memory and segments is not None:
                if spec != cached_spec or cached is None:
                    cached_spec, cached = None, None
                    cached = _decode_bytes(_fetch(src, utt), src, utt)
                    cached_spec = spec
                wave, sr = _cut_decoded(cached[0], cached[1], src, sample_rate, channel, start, end, utt)
            else:
                wave, sr = read_audio(spec, sample_rate=sample_rate, channel=channel, start=start, end=end,
                                      name=utt, root=root)
        except AudioError as e:
            if not skip_bad:
                raise
            skipped += 1
            log.warning("skipping bad audio: %s", e)
            continue
        done += 1
        yield utt, wave, sr
    if skipped:
        log.warning("skipped %d of %d utterances with bad audio", skipped, done + skipped)
