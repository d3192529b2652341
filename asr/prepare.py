"""Users' own corpora -> a validated Kaldi data dir (``asr prepare``).

Sources (:func:`prepare`):

- a **folder** of audio files, each with a transcript of the same name (``x.wav`` + ``x.txt``
  or ``x.lab``); files without one are named and left out (or, with ``allow_missing_text``,
  kept with an empty transcript, e.g. audio to transcribe);
- a **CSV or TSV** file with a header naming ``path`` and ``text`` columns, and optionally
  ``speaker``, ``start`` and ``end`` (seconds; a row with them is a segment of its file);
  relative paths are relative to the table's folder;
- **JSON Lines**, one object per line with the same keys (``audio_filepath`` and
  ``duration`` of NeMo manifests are understood as ``path`` and ``end``);
- a **lhotse** manifest: a ``*cuts*.jsonl[.gz]`` file, or a folder holding
  ``*recordings*.jsonl[.gz]`` and ``*supervisions*.jsonl[.gz]``.

Speakers come from the ``speaker`` column/field, else from ``speaker_regex`` (its first group,
searched in the file's path), else every recording is its own speaker. Utterance ids are
``<speaker>-<name>`` made Kaldi-safe (white space -> ``_``) and unique (``x.wav`` and ``x.flac``
side by side become ``x_wav`` and ``x_flac``; other clashes get ``_2``, ``_3``...), so that
``utt2spk`` sorts by speaker as Kaldi's tools want.

Long recordings without segments can be cut at pauses by an energy VAD (``max_segment``
seconds): each piece becomes an utterance in ``segments``, with an empty transcript (for
transcription or a later alignment), or the recording's whole transcript if it is short enough.

Every bad row (missing or unreadable audio, empty text, bad times) is named with its file and
line; without ``skip_bad`` they stop the run together, before anything is written.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr.datadir import DataDir, Segment, utt2spk_to_spk2utt, validate_data_dir
from asr.errors import AsrError, listing

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph", ".nist", ".aiff", ".aif",
                              ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".wave"})
TRANSCRIPT_EXTENSIONS = (".txt", ".lab")
_SPACE = re.compile(r"\s+")


class PrepareError(AsrError):
    """A source that cannot become a data dir (the message names the file and line)."""


def safe_id(name: str) -> str:
    """``name`` as a Kaldi id: white space and ``/`` turned into ``_`` (ids and CTM fields hold no spaces)."""
    return _SPACE.sub("_", name.strip().replace("/", "_")) or "_"


@dataclass
class Row:
    """One utterance of a source: where its audio is and what was said."""

    where: str  # "file:line" of the row, for messages
    path: str
    text: str | None
    speaker: str | None = None
    start: float | None = None
    end: float | None = None


# ----- readers: each yields Rows -----------------------------------------------------------------

def _read_text_file(p: Path) -> str:
    try:
        return " ".join(p.read_text(encoding="utf-8").split())
    except UnicodeDecodeError as e:
        raise PrepareError(f"{p}: not UTF-8 text (byte {e.start})") from None


def _folder_rows(src: Path, allow_missing_text: bool, problems: list[str]) -> Iterator[Row]:
    audio = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not audio:
        raise PrepareError(f"{src}: no audio files found in this folder")
    for p in audio:
        transcript = next((p.with_suffix(e) for e in TRANSCRIPT_EXTENSIONS if p.with_suffix(e).is_file()), None)
        if transcript is None:
            if allow_missing_text:
                yield Row(str(p), str(p), None)
            else:
                problems.append(f"{p}: no transcript ({' or '.join(p.stem + e for e in TRANSCRIPT_EXTENSIONS)})")
            continue
        try:
            yield Row(str(transcript), str(p), _read_text_file(transcript))
        except PrepareError as e:
            problems.append(str(e))


_ALIASES = {"audio_filepath": "path", "audio": "path", "file": "path", "wav": "path", "transcript": "text",
            "sentence": "text", "spk": "speaker", "speaker_id": "speaker"}


def _row_of(d: dict[str, Any], where: str, base: Path) -> Row:
    d = {_ALIASES.get(k.strip().lower(), k.strip().lower()): v for k, v in d.items() if k is not None}
    path = d.get("path")
    if not path or not str(path).strip():
        raise PrepareError(f"{where}: no audio path (a 'path' column or key)")
    p = Path(str(path).strip())
    if not p.is_absolute():
        p = base / p
    start = _seconds(d.get("start"), where, "start")
    end = _seconds(d.get("end"), where, "end")
    if end is None and "duration" in d and d.get("duration") not in (None, ""):
        end = (start or 0.0) + _seconds(d["duration"], where, "duration")  # type: ignore[operator]
    text = d.get("text")
    speaker = d.get("speaker")
    return Row(where, str(p), None if text is None else " ".join(str(text).split()),
               None if speaker in (None, "") else str(speaker).strip(), start, end)


def _seconds(v: Any, where: str, what: str) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise PrepareError(f"{where}: {what} {v!r} is not a number of seconds") from None
    if not np.isfinite(x) or x < 0:
        raise PrepareError(f"{where}: {what} {v!r} must be a finite number of seconds >= 0")
    return x


def _table_rows(src: Path, problems: list[str]) -> Iterator[Row]:
    delimiter = "\t" if src.suffix.lower() in (".tsv", ".tab") else ","
    try:
        f = open(src, newline="", encoding="utf-8")
        with f:
            reader = csv.DictReader(f, delimiter=delimiter)
            fields = [c.strip().lower() for c in reader.fieldnames or []]
            names = {_ALIASES.get(c, c) for c in fields}
            if "path" not in names or "text" not in names:
                raise PrepareError(f"{src}:1: the header must name 'path' and 'text' columns "
                                   f"(has: {', '.join(fields)})")
            for n, rec in enumerate(reader, start=2):
                if None in rec:
                    problems.append(f"{src}:{n}: more fields than the header's {len(fields)}")
                    continue
                try:
                    yield _row_of(rec, f"{src}:{n}", src.parent)
                except PrepareError as e:
                    problems.append(str(e))
    except UnicodeDecodeError as e:
        raise PrepareError(f"{src}: not UTF-8 text (byte {e.start})") from None


def _open_text(p: Path):
    return gzip.open(p, "rt", encoding="utf-8") if p.suffix == ".gz" else open(p, encoding="utf-8")


def _jsonl(p: Path, problems: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        with _open_text(p) as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    problems.append(f"{p}:{n}: not JSON ({e.msg})")
                    continue
                if not isinstance(obj, dict):
                    problems.append(f"{p}:{n}: not a JSON object")
                    continue
                yield f"{p}:{n}", obj
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise PrepareError(f"{p}: cannot read ({e})") from None


def _jsonl_rows(src: Path, problems: list[str]) -> Iterator[Row]:
    for where, obj in _jsonl(src, problems):
        try:
            yield _row_of(obj, where, src.parent)
        except PrepareError as e:
            problems.append(str(e))


def _lhotse_source(rec: dict[str, Any], where: str) -> str:
    sources = rec.get("sources") or []
    files = [s for s in sources if isinstance(s, dict) and s.get("type") == "file"]
    if not files:
        raise PrepareError(f"{where}: recording {rec.get('id')!r} has no file source (only file sources are read)")
    return str(files[0]["source"])


def _lhotse_rows(recordings: dict[str, tuple[str, dict[str, Any]]], supervisions: Iterator[tuple[str, dict]],
                 base: Path, problems: list[str]) -> Iterator[Row]:
    for where, sup in supervisions:
        reco = recordings.get(str(sup.get("recording_id")))
        if reco is None:
            problems.append(f"{where}: supervision {sup.get('id')!r}: recording {sup.get('recording_id')!r} "
                            f"is not in the recordings manifest")
            continue
        try:
            path = _lhotse_source(reco[1], reco[0])
            start = _seconds(sup.get("start", 0.0), where, "start") or 0.0
            dur = _seconds(sup.get("duration"), where, "duration")
            p = Path(path) if Path(path).is_absolute() else base / path
            yield Row(where, str(p), " ".join(str(sup.get("text") or "").split()), sup.get("speaker"),
                      start, None if dur is None else start + dur)
        except PrepareError as e:
            problems.append(str(e))


def _lhotse_cut_rows(src: Path, problems: list[str]) -> Iterator[Row]:
    for where, cut in _jsonl(src, problems):
        rec = cut.get("recording")
        if not isinstance(rec, dict):
            problems.append(f"{where}: cut {cut.get('id')!r} has no recording")
            continue
        sups = cut.get("supervisions") or []
        yield from _lhotse_rows({str(rec.get("id")): (where, rec)},
                                iter([(where, {**s, "recording_id": rec.get("id")}) for s in sups]), src.parent,
                                problems)


def _find(folder: Path, word: str) -> Path | None:
    found = sorted(p for p in folder.iterdir() if word in p.name and p.name.endswith((".jsonl", ".jsonl.gz")))
    return found[0] if found else None


def rows_of(src: str | os.PathLike, problems: list[str], allow_missing_text: bool = False) -> Iterator[Row]:
    """The rows of any source kind (see the module docstring); unusable rows go to ``problems``."""
    p = Path(src)
    if not p.exists():
        raise PrepareError(f"{p}: no such file or directory")
    if p.is_dir():
        recos, sups = _find(p, "recordings"), _find(p, "supervisions")
        if recos is not None and sups is not None:
            recordings = {str(r.get("id")): (w, r) for w, r in _jsonl(recos, problems)}
            return _lhotse_rows(recordings, _jsonl(sups, problems), p, problems)
        return _folder_rows(p, allow_missing_text, problems)
    name = p.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        return _lhotse_cut_rows(p, problems) if "cuts" in name else _jsonl_rows(p, problems)
    if name.endswith((".csv", ".tsv", ".tab")):
        return _table_rows(p, problems)
    raise PrepareError(f"{p}: unknown source (a folder, .csv, .tsv, .jsonl or a lhotse manifest)")


# ----- energy VAD ----------------------------------------------------------------------------------

def speech_regions(wave: np.ndarray, rate: int, max_segment: float, min_pause: float = 0.3,
                   margin_db: float = 12.0) -> list[tuple[float, float]]:
    """Cut a long recording at pauses into pieces of at most ``max_segment`` seconds.

    Frames (25 ms, every 10 ms) louder than the recording's quiet floor (its 10th-percentile
    frame energy) by ``margin_db`` are speech; pauses of ``min_pause`` seconds or more split
    it; a piece still longer than ``max_segment`` is cut at its quietest frame, recursively.

    Returns:
        ``[(start, end), ...]`` in seconds.
    """
    hop, win = int(rate * 0.01), int(rate * 0.025)
    if len(wave) < win:
        return [(0.0, len(wave) / rate)] if len(wave) else []
    n = 1 + (len(wave) - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(wave, win)[::hop][:n]
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)
    speech = energy > np.percentile(energy, 10) + margin_db
    regions, start, gap = [], None, 0
    for i, s in enumerate(speech):
        if s:
            if start is None:
                start = i
            gap = 0
        elif start is not None:
            gap += 1
            if gap * 0.01 >= min_pause:
                regions.append((start, i - gap + 1))
                start, gap = None, 0
    if start is not None:
        regions.append((start, n - gap))
    out: list[tuple[float, float]] = []
    limit = max(1, int(max_segment / 0.01))

    def split(a: int, b: int) -> None:
        if b - a <= limit:
            out.append((a * 0.01, min(b * 0.01 + 0.015, len(wave) / rate)))
            return
        cut = a + limit // 4 + int(np.argmin(energy[a + limit // 4: b - limit // 4]))
        split(a, cut)
        split(cut, b)
    for a, b in regions:
        split(a, b)
    return out


# ----- the data dir --------------------------------------------------------------------------------

def prepare(src: str | os.PathLike, dest: str | os.PathLike, speaker_regex: str | None = None,
            skip_bad: bool = False, allow_missing_text: bool = False, max_segment: float = 0.0,
            check_audio: bool = True) -> tuple[DataDir, list[str]]:
    """Write a validated Kaldi data dir (wav.scp, text, utt2spk, spk2utt, utt2dur [, segments]) for ``src``.

    Args:
        src: a folder, table, JSON Lines file or lhotse manifest (module docstring).
        dest: the data dir to write.
        speaker_regex: the speaker as the first group of this regular expression, searched in each
            audio path (when the source names no speaker).
        skip_bad: leave bad rows out, each named in the log, instead of stopping.
        allow_missing_text: keep audio without a transcript (folders) or with an empty one, with
            an empty transcript.
        max_segment: cut recordings longer than this many seconds (and not already segments) at
            pauses (0 = never).
        check_audio: read every file's header (duration, and whether it can be read at all).

    Returns:
        ``(data dir written, the bad rows left out (skip_bad), one line each)``.

    Raises:
        PrepareError: an unreadable source, bad rows (unless ``skip_bad``), nothing usable.
    """
    from asr.audio import audio_info, read_audio

    regex = re.compile(speaker_regex) if speaker_regex else None
    problems: list[str] = []
    rows = list(rows_of(src, problems, allow_missing_text))
    wav_scp: dict[str, str] = {}
    reco_of_path: dict[str, str] = {}
    text: dict[str, str] = {}
    utt2spk: dict[str, str] = {}
    segments: dict[str, Segment] = {}
    utt2dur: dict[str, float] = {}
    stems = _stem_counts(rows)
    lengths: dict[str, float | Exception] = {}  # audio path -> seconds, or why it cannot be read
    for row in rows:
        if row.text is not None and not row.text and not allow_missing_text:
            problems.append(f"{row.where}: empty transcript for {row.path}")
            continue
        if row.start is not None and row.end is not None and row.end <= row.start:
            problems.append(f"{row.where}: end {row.end} s is not after start {row.start} s")
            continue
        dur = None
        if check_audio:
            if row.path not in lengths:  # a recording's header is read once, however many rows cut it
                try:
                    sr, frames, _ = audio_info(row.path)
                    lengths[row.path] = frames / sr if frames > 0 else PrepareError("no samples")
                except AsrError as e:
                    lengths[row.path] = e
            length = lengths[row.path]
            if isinstance(length, Exception):
                problems.append(f"{row.where}: {row.path}: {_reason(length)}")
                continue
            dur = length
            if row.end is not None and row.end > dur + 0.01:
                problems.append(f"{row.where}: end {row.end} s is past the end of {row.path} ({dur:.3f} s)")
                continue
        speaker = row.speaker
        if speaker is None and regex is not None:
            m = regex.search(row.path)
            if not m or not m.groups():
                problems.append(f"{row.where}: --speaker-regex {regex.pattern!r} does not match {row.path}")
                continue
            speaker = m.group(1)
        reco = reco_of_path.get(row.path)
        if reco is None:
            p = Path(row.path)
            name = safe_id(p.stem if stems[p.stem.lower()] == 1 else f"{p.stem}_{p.suffix[1:]}")
            base = f"{safe_id(speaker)}-{name}" if speaker else name
            reco = _unique(base, wav_scp)
            reco_of_path[row.path] = reco
            wav_scp[reco] = row.path
        spk = safe_id(speaker) if speaker else None
        pieces: list[tuple[float | None, float | None]] = [(row.start, row.end)]
        if max_segment > 0 and row.start is None and row.end is None and dur is not None and dur > max_segment:
            wave, sr = read_audio(row.path)
            pieces = list(speech_regions(wave, sr, max_segment)) or [(None, None)]
            if row.text:
                log.warning("%s: %s is %.1f s long; cut into %d pieces at pauses, without its transcript "
                            "(it cannot be split)", row.where, row.path, dur, len(pieces))
        for start, end in pieces:
            if start is None and end is None:
                utt = _unique(reco, utt2spk)
                segments[utt] = Segment(reco, 0.0, -1.0)  # the whole recording
                if dur is not None:
                    utt2dur[utt] = round(dur, 4)
            else:
                s, e = start or 0.0, end if end is not None else dur
                utt = _unique(f"{reco}-{int(round(s * 100)):07d}", utt2spk)
                segments[utt] = Segment(reco, round(s, 3), round(e, 3) if e is not None else -1.0)
                if e is not None:
                    utt2dur[utt] = round(e - s, 4)
            utt2spk[utt] = spk or utt
            text[utt] = row.text if (row.text and len(pieces) == 1) else ""
    problems.sort(key=_line_key)
    if problems and not skip_bad:
        raise PrepareError(listing(f"{src}: {len(problems)} bad row(s) (--skip-bad leaves them out; "
                                    f"nothing written)", problems))
    for line in problems:
        log.warning("skipping: %s", line)
    if not utt2spk:
        raise PrepareError(f"{src}: no usable utterance")
    if all(seg.start == 0.0 and seg.end == -1.0 and seg.recording == u for u, seg in segments.items()):
        wav_scp, segments = {u: wav_scp[seg.recording] for u, seg in segments.items()}, {}  # no cuts: no segments
    data = DataDir(Path(dest), wav_scp=wav_scp, segments=segments or None, text=text, utt2spk=utt2spk,
                   spk2utt=utt2spk_to_spk2utt(utt2spk), utt2dur=utt2dur if len(utt2dur) == len(utt2spk) else None)
    data.save(dest)
    for w in validate_data_dir(dest, no_feats=True, allow_empty_text=allow_missing_text or max_segment > 0):
        log.info("%s", w)
    speakers = len(set(utt2spk.values()))
    log.info("wrote %s: %d utterances of %d speaker(s) from %s%s", dest, len(utt2spk), speakers, src,
             f"; skipped {len(problems)} bad row(s)" if problems else "")
    if speakers == len(utt2spk) and len(utt2spk) > 1 and regex is None:
        log.info("no speaker information: each utterance is its own speaker (give a speaker column, or "
                 "--speaker-regex, for per-speaker CMVN)")
    return data, problems


def _line_key(problem: str) -> tuple[str, int]:
    """(file, line) of a ``file:line: ...`` message, to list problems in the source's order."""
    m = re.match(r"(.*?):(\d+):", problem)
    return (m.group(1), int(m.group(2))) if m else (problem, 0)


def _reason(e: Exception) -> str:
    text = str(e)
    return text.split(": ", 1)[1] if text.startswith("utterance ") and ": " in text else text


def _stem_counts(rows: list[Row]) -> dict[str, int]:
    """How many distinct files share each (case-folded) name without extension, across folders."""
    seen: dict[str, set[str]] = {}
    for r in rows:
        p = Path(r.path)
        seen.setdefault(p.stem.lower(), set()).add(str(p))
    return {k: len(v) for k, v in seen.items()}


def _unique(base: str, taken: dict[str, Any]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"
