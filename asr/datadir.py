"""Kaldi data directories: the toolkit's one reader, writer and validator of them.

A data dir holds plain-text tables keyed by their first field (Kaldi's
``data/<set>/`` layout)::

    wav.scp                recording -> path, or a ``cmd ... |`` pipe
    segments               utt -> recording start end   (end -1 = to the end)
    text                   utt -> transcript
    utt2spk / spk2utt      utt -> speaker / speaker -> utt ...
    utt2dur                utt -> seconds
    utt2num_frames         utt -> frames
    feats.scp / cmvn.scp   utt / speaker -> Kaldi rxspecifier
    reco2file_and_channel  recording -> file channel
    spk2gender             speaker -> m|f
    utt2uniq               utt -> original utt (perturbed copies)

Without ``segments``, recordings are utterances and ``wav.scp`` is keyed by
utterance. Files are sorted in byte order (``LC_ALL=C sort``), have unique keys
and end with a newline. :func:`validate_data_dir` checks Kaldi's rules
(``utils/validate_data_dir.sh``); every error names the file and the line.
The data-dir operations of Kaldi's ``utils/`` (fix, subset, split, combine,
copy, speed perturbation) are functions here; ``asr.cli.datadir_tools`` and
``recipes/utils/*.sh`` are thin wrappers around them.
"""

from __future__ import annotations

import logging
import operator
import os
import random
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asr.errors import AsrError
from asr.fileio import atomic_write

log = logging.getLogger(__name__)

__all__ = [
    "DataDir",
    "DataDirError",
    "Segment",
    "combine_data",
    "compute_utt2dur",
    "copy_data_dir",
    "fix_data_dir",
    "perturb_data_dir_speed",
    "read_list",
    "read_scp",
    "read_spk2utt",
    "select_utterances",
    "spk2utt_to_utt2spk",
    "split_data",
    "subset_data_dir",
    "utt2spk_to_spk2utt",
    "validate_data_dir",
    "write_scp",
]


class DataDirError(AsrError):
    """A data dir (or one of its files) breaks Kaldi's rules; the message names the file and line."""


@dataclass
class Segment:
    """One line of ``segments``: where an utterance lies in its recording.

    Attributes:
        recording: recording id (a key of ``wav.scp``).
        start: start time in seconds.
        end: end time in seconds; -1 means to the end of the recording (Kaldi).
    """

    recording: str
    start: float
    end: float

    @property
    def reco(self) -> str:
        """Alias of :attr:`recording` (Kaldi's short name)."""
        return self.recording

    @property
    def duration(self) -> float | None:
        """``end - start`` in seconds, or None when the segment runs to the end of the recording."""
        return None if self.end < 0 else self.end - self.start


# --------------------------------------------------------------------------- low-level tables

_FIELD_SEP = re.compile(r"[ \t]+")  # Kaldi splits on spaces and tabs only, not on other Unicode spaces
_HAS_SPACE = re.compile(r"\s")


@dataclass
class _Table:
    """A parsed ``key rest-of-line`` file in file order (entry i is on line i + 1)."""

    name: str  # the path as shown in messages
    keys: list[str]
    values: list[str]
    missing_final_newline: bool
    cr_line: int  # first line holding a carriage return, 0 if none

    def where(self, i: int) -> str:
        return f"{self.name}:{i + 1}"


def _read_table(path: str | os.PathLike) -> _Table:
    """Read a Kaldi table file ("-" = stdin); errors for blank lines, leading blanks and bad UTF-8."""
    if str(path) == "-":
        name, data = "<stdin>", sys.stdin.buffer.read()
    else:
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise DataDirError(f"{name}: no such file") from None
        except OSError as e:
            raise DataDirError(f"{name}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataDirError(f"{name}:{line}: not valid UTF-8 (byte {data[e.start]:#04x})") from None
    missing_final_newline = bool(text) and not text.endswith("\n")
    cr = text.find("\r")
    cr_line = text.count("\n", 0, cr) + 1 if cr >= 0 else 0
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "\t" not in text and "  " not in text and "\n " not in text and not text.startswith(" "):
        # fast path (the usual case): exactly one space between key and value
        parts = [line.partition(" ") for line in lines]
        keys = [p[0] for p in parts]
        values = [p[2] for p in parts]
        if cr_line or " \n" in text or text.endswith(" "):
            values = [v.rstrip(" \r") for v in values]
        if "" in keys:
            i = keys.index("")
            raise DataDirError(f"{name}:{i + 1}: empty line")
    else:
        keys, values = [], []
        split = _FIELD_SEP.split
        for i, line in enumerate(lines):
            parts2 = split(line, 1)
            key = parts2[0]
            if not key:
                what = "empty line" if not line.strip(" \t\r") else "line starts with a space or tab"
                raise DataDirError(f"{name}:{i + 1}: {what}")
            keys.append(key)
            values.append(parts2[1].rstrip(" \t\r") if len(parts2) > 1 else "")
    if cr_line:  # "key\r" with no value keeps the CR in the key
        keys = [k.rstrip("\r") for k in keys]
    return _Table(name, keys, values, missing_final_newline, cr_line)


def _first_duplicate(t: _Table) -> tuple[int, int] | None:
    """(first index, duplicate index) of the first repeated key, or None."""
    if len(set(t.keys)) == len(t.keys):
        return None
    seen: dict[str, int] = {}
    for i, k in enumerate(t.keys):
        if k in seen:
            return seen[k], i
        seen[k] = i
    return None  # pragma: no cover


def _check_unique(t: _Table) -> None:
    dup = _first_duplicate(t)
    if dup is not None:
        first, i = dup
        raise DataDirError(f"{t.where(i)}: duplicate key '{t.keys[i]}' (first on line {first + 1})")


def _dedupe(t: _Table) -> _Table:
    """Keep the first line of each key (what ``sort -u -k1,1`` keeps), with a warning."""
    if _first_duplicate(t) is None:
        return t
    seen: set[str] = set()
    keys, values = [], []
    for k, v in zip(t.keys, t.values):
        if k not in seen:
            seen.add(k)
            keys.append(k)
            values.append(v)
    log.warning("%s: dropped %d lines with repeated keys (kept the first of each)", t.name, len(t.keys) - len(keys))
    return _Table(t.name, keys, values, t.missing_final_newline, t.cr_line)


def _fields(t: _Table, i: int, n: int, what: str) -> list[str]:
    parts = t.values[i].split()
    if len(parts) != n:
        raise DataDirError(f"{t.where(i)}: expected {n + 1} fields ({what}), got {len(parts) + 1}: "
                           f"'{t.keys[i]} {t.values[i]}'")
    return parts


def _parse_float(t: _Table, i: int, s: str, what: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise DataDirError(f"{t.where(i)}: {what} '{s}' is not a number") from None


def _single_token(t: _Table, i: int, what: str) -> str:
    v = t.values[i]
    if not v or _HAS_SPACE.search(v):
        raise DataDirError(f"{t.where(i)}: expected 2 fields (key {what}), got '{t.keys[i]} {v}'".rstrip())
    return v


# parsers: table -> {key: typed value}
def _as_str(t: _Table) -> dict[str, str]:
    return dict(zip(t.keys, t.values))


def _as_token(what: str) -> Callable[[_Table], dict[str, str]]:
    def parse(t: _Table) -> dict[str, str]:
        for i, v in enumerate(t.values):
            if not v or " " in v or "\t" in v:
                _single_token(t, i, what)
        return dict(zip(t.keys, t.values))

    return parse


def _as_nonempty(what: str) -> Callable[[_Table], dict[str, str]]:
    def parse(t: _Table) -> dict[str, str]:
        for i, v in enumerate(t.values):
            if not v:
                raise DataDirError(f"{t.where(i)}: no {what} after the key '{t.keys[i]}'")
        return dict(zip(t.keys, t.values))

    return parse


def _as_spk2utt(t: _Table) -> dict[str, list[str]]:
    out = {}
    for i, (k, v) in enumerate(zip(t.keys, t.values)):
        utts = v.split()
        if not utts:
            raise DataDirError(f"{t.where(i)}: speaker '{k}' has no utterances")
        out[k] = utts
    return out


def _as_segments(t: _Table) -> dict[str, Segment]:
    out = {}
    for i, k in enumerate(t.keys):
        reco, start, end = _fields(t, i, 3, "utt recording start end")
        out[k] = Segment(reco, _parse_float(t, i, start, "start time"), _parse_float(t, i, end, "end time"))
    return out


def _as_float(t: _Table) -> dict[str, float]:
    out = {}
    for i, (k, v) in enumerate(zip(t.keys, t.values)):
        try:
            out[k] = float(v)
        except ValueError:
            (s,) = _fields(t, i, 1, "key number")
            out[k] = _parse_float(t, i, s, "value")
    return out


def _as_int(t: _Table) -> dict[str, int]:
    out = {}
    for i, (k, v) in enumerate(zip(t.keys, t.values)):
        try:
            out[k] = int(v)
        except ValueError:
            (s,) = _fields(t, i, 1, "key integer")
            raise DataDirError(f"{t.where(i)}: '{s}' is not an integer") from None
    return out


def _as_r2fc(t: _Table) -> dict[str, tuple[str, str]]:
    out = {}
    for i, k in enumerate(t.keys):
        file, channel = _fields(t, i, 2, "recording file channel")
        out[k] = (file, channel)
    return out


def _fmt_float(x: float) -> str:
    return f"{x:.10g}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, Segment):
        return f"{v.recording} {_fmt_float(v.start)} {_fmt_float(v.end)}"
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return str(v)


@dataclass(frozen=True)
class _FileSpec:
    name: str  # Kaldi file name
    attr: str  # DataDir attribute
    index: str  # what the keys are: utt | spk | reco (wav.scp: reco, which are utts without segments)
    parse: Callable[[_Table], dict]


_FILES: tuple[_FileSpec, ...] = (
    _FileSpec("wav.scp", "wav_scp", "reco", _as_nonempty("path or command")),
    _FileSpec("segments", "segments", "utt", _as_segments),
    _FileSpec("text", "text", "utt", _as_str),
    _FileSpec("utt2spk", "utt2spk", "utt", _as_token("speaker")),
    _FileSpec("spk2utt", "spk2utt", "spk", _as_spk2utt),
    _FileSpec("utt2dur", "utt2dur", "utt", _as_float),
    _FileSpec("utt2num_frames", "utt2num_frames", "utt", _as_int),
    _FileSpec("feats.scp", "feats_scp", "utt", _as_nonempty("rxspecifier")),
    _FileSpec("cmvn.scp", "cmvn_scp", "spk", _as_nonempty("rxspecifier")),
    _FileSpec("reco2file_and_channel", "reco2file_and_channel", "reco", _as_r2fc),
    _FileSpec("spk2gender", "spk2gender", "spk", _as_token("gender")),
    _FileSpec("utt2uniq", "utt2uniq", "utt", _as_token("original utterance")),
)
_FILE_BY_NAME = {f.name: f for f in _FILES}
DATA_FILES: tuple[str, ...] = tuple(f.name for f in _FILES)  # the files a DataDir reads and writes


# --------------------------------------------------------------------------- public file I/O


def read_scp(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``key rest-of-line`` file (wav.scp, text, feats.scp, ...) in file order.

    Keys and values are separated by the first run of spaces/tabs; trailing
    whitespace is dropped; a key alone on its line maps to ``""``.

    Args:
        path: the file; ``"-"`` reads standard input.

    Returns:
        ``{key: rest of line}`` in file order.

    Raises:
        DataDirError: missing file, bad UTF-8, blank line, line starting with
            whitespace or a repeated key; the message names the file and line.
    """
    t = _read_table(path)
    _check_unique(t)
    return _as_str(t)


def read_spk2utt(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read ``spk2utt`` (``speaker utt1 utt2 ...``); ``"-"`` reads standard input.

    Raises:
        DataDirError: as :func:`read_scp`, or a speaker line with no utterances.
    """
    t = _read_table(path)
    _check_unique(t)
    return _as_spk2utt(t)


def read_list(path: str | os.PathLike) -> list[str]:
    """Read the first field of each line (an utterance or speaker list, as Kaldi's ``filter_scp.pl``)."""
    return _read_table(path).keys


def _check_key(k: str, path: Any) -> None:
    if not k or _HAS_SPACE.search(k):
        raise DataDirError(f"{path}: cannot write the key {k!r}: keys must be non-empty and contain no whitespace")


def write_scp(path: str | os.PathLike, mapping: Mapping[str, Any], sort: bool = True) -> None:
    """Write ``key value`` lines atomically, in C-locale (byte) order, ending with a newline.

    Args:
        path: output file; ``"-"`` writes standard output.
        mapping: ``{key: value}``; values are strings, or lists (joined by
            spaces), floats, ints or :class:`Segment`. An empty value writes the key alone.
        sort: sort by key (default, Kaldi's rule); False keeps the mapping's
            order (for stream filters that mimic Kaldi's Perl tools).

    Raises:
        DataDirError: a key is empty or contains whitespace.
    """
    keys = sorted(mapping) if sort else list(mapping)
    lines = []
    for k in keys:
        if not k or " " in k or "\t" in k or "\n" in k:
            _check_key(k, path)
        v = _fmt_value(mapping[k])
        lines.append(f"{k} {v}\n" if v else f"{k}\n")
    data = "".join(lines)
    if str(path) == "-":
        sys.stdout.write(data)
        sys.stdout.flush()
        return
    with atomic_write(path) as f:
        f.write(data)


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    """Invert ``utt2spk``: speakers in order of first appearance, utterances in input order (as Kaldi's Perl)."""
    out: dict[str, list[str]] = {}
    for u, s in utt2spk.items():
        out.setdefault(s, []).append(u)
    return out


def spk2utt_to_utt2spk(spk2utt: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Invert ``spk2utt`` into ``utt2spk``, in the order given."""
    return {u: s for s, utts in spk2utt.items() for u in utts}


# --------------------------------------------------------------------------- DataDir


@dataclass
class DataDir:
    """A Kaldi data dir in memory; None marks a file that is absent.

    Attributes:
        path: the directory it was loaded from (or will be saved to).
        wav_scp: recording -> path or ``"cmd |"``.
        segments: utt -> :class:`Segment`.
        text: utt -> transcript.
        utt2spk: utt -> speaker.
        spk2utt: speaker -> utterances.
        utt2dur: utt -> duration in seconds.
        feats_scp: utt -> feature rxspecifier.
        cmvn_scp: speaker -> CMVN stats rxspecifier.
        reco2file_and_channel: recording -> (file, channel).
        spk2gender: speaker -> ``m`` or ``f``.
        utt2num_frames: utt -> number of feature frames.
        utt2uniq: utt -> original utterance id (for perturbed copies).
    """

    path: Path
    wav_scp: dict[str, str] | None = None
    segments: dict[str, Segment] | None = None
    text: dict[str, str] | None = None
    utt2spk: dict[str, str] | None = None
    spk2utt: dict[str, list[str]] | None = None
    utt2dur: dict[str, float] | None = None
    feats_scp: dict[str, str] | None = None
    cmvn_scp: dict[str, str] | None = None
    reco2file_and_channel: dict[str, tuple[str, str]] | None = None
    spk2gender: dict[str, str] | None = None
    utt2num_frames: dict[str, int] | None = None
    utt2uniq: dict[str, str] | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> DataDir:
        """Read every data-dir file that exists under ``path`` (no cross-file checks: see :func:`validate_data_dir`).

        Raises:
            DataDirError: the directory is missing, or a file is malformed
                (bad line, repeated key); the message names the file and line.
        """
        return cls._load(path, lenient=False)

    @classmethod
    def _load(cls, path: str | os.PathLike, lenient: bool) -> DataDir:
        d = Path(path)
        if not d.is_dir():
            raise DataDirError(f"{d}: no such directory")
        data = cls(d)
        for spec in _FILES:
            p = d / spec.name
            if p.is_file():
                t = _read_table(p)
                if lenient:
                    t = _dedupe(t)
                else:
                    _check_unique(t)
                setattr(data, spec.attr, spec.parse(t))
        return data

    @property
    def utts(self) -> list[str]:
        """Sorted utterance ids (the keys of ``utt2spk``; empty if it is absent)."""
        return sorted(self.utt2spk) if self.utt2spk is not None else []

    @property
    def speakers(self) -> list[str]:
        """Sorted speaker ids (from ``utt2spk``)."""
        return sorted(set(self.utt2spk.values())) if self.utt2spk is not None else []

    def files(self) -> list[str]:
        """Names of the files present (non-None), in Kaldi's usual order."""
        return [s.name for s in _FILES if getattr(self, s.attr) is not None]

    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write every non-None file atomically and sorted into ``path`` (default: :attr:`path`)."""
        d = Path(path) if path is not None else self.path
        d.mkdir(parents=True, exist_ok=True)
        for spec in _FILES:
            table = getattr(self, spec.attr)
            if table is not None:
                write_scp(d / spec.name, table)

    def subset(self, utts: Iterable[str]) -> DataDir:
        """A copy holding only the given utterances (those not in ``utt2spk`` are ignored).

        Speaker files keep the remaining speakers, ``wav.scp`` (with
        ``segments``) and ``reco2file_and_channel`` the recordings still used;
        ``spk2utt`` is rebuilt from ``utt2spk``.
        """
        if self.utt2spk is None:
            raise DataDirError(f"{self.path}/utt2spk: missing")
        keep = set(utts)
        out = DataDir(self.path)
        utt2spk = {u: s for u, s in self.utt2spk.items() if u in keep}
        keep = set(utt2spk)
        spks = set(utt2spk.values())
        if self.segments is not None:
            segments = {u: seg for u, seg in self.segments.items() if u in keep}
            recos = {seg.recording for seg in segments.values()}
        else:
            recos = keep
        for spec in _FILES:
            table = getattr(self, spec.attr)
            if table is None:
                continue
            ids = {"utt": keep, "spk": spks, "reco": recos}[spec.index]
            setattr(out, spec.attr, {k: v for k, v in table.items() if k in ids})
        out.utt2spk = utt2spk
        out.spk2utt = _sorted_spk2utt(utt2spk)
        return out

    def durations(self) -> dict[str, float] | None:
        """Utterance durations in seconds from ``utt2dur``, else from ``segments`` (when none runs to the end)."""
        if self.utt2dur is not None:
            return dict(self.utt2dur)
        if self.segments is not None and all(s.end >= 0 for s in self.segments.values()):
            return {u: s.end - s.start for u, s in self.segments.items()}
        return None


def _sorted_spk2utt(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        out.setdefault(utt2spk[u], []).append(u)
    return out


def _write_dir(data: DataDir, dest: str | os.PathLike) -> None:
    """Save ``data`` into ``dest`` and remove data-dir files there that ``data`` lacks (no stale files)."""
    d = Path(dest)
    data.save(d)
    for spec in _FILES:
        p = d / spec.name
        if getattr(data, spec.attr) is None and p.is_file():
            p.unlink()
    data.path = d


def _same_dir(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (
        os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


# --------------------------------------------------------------------------- validation


def _is_sorted(keys: list[str]) -> bool:
    return all(map(operator.lt, keys, keys[1:]))


def _check_file(d: Path, name: str) -> _Table | None:
    """Read ``d/name`` if present; check newline at end, CR, sorted order and unique keys."""
    p = d / name
    if not p.is_file():
        return None
    t = _read_table(p)
    if not t.keys:
        raise DataDirError(f"{p}: empty file")
    if t.missing_final_newline:
        raise DataDirError(f"{t.where(len(t.keys) - 1)}: the file does not end with a newline")
    if t.cr_line:
        raise DataDirError(f"{p}:{t.cr_line}: carriage return (Windows line ending); convert with dos2unix")
    keys = t.keys
    if not _is_sorted(keys):
        for i in range(1, len(keys)):
            if keys[i] == keys[i - 1]:
                first = keys.index(keys[i])
                raise DataDirError(f"{t.where(i)}: duplicate key '{keys[i]}' (first on line {first + 1}); "
                                   f"run utils/fix_data_dir.sh")
            if keys[i] < keys[i - 1]:
                raise DataDirError(f"{t.where(i)}: not sorted in C-locale (byte) order: '{keys[i]}' comes after "
                                   f"'{keys[i - 1]}' (line {i}); run utils/fix_data_dir.sh or LC_ALL=C sort")
    return t


def _check_same_keys(t: _Table, ref: _Table, what: str, ref_keys: list[str] | None = None) -> None:
    """Require the keys of ``t`` to be exactly ``ref_keys`` (default ``ref.keys``), naming the first offender."""
    want = ref.keys if ref_keys is None else ref_keys
    if t.keys == want:
        return
    have_set, want_set = set(t.keys), set(want)
    extra = [i for i, k in enumerate(t.keys) if k not in want_set]
    if extra:
        i = extra[0]
        more = f" ({len(extra)} such lines in all)" if len(extra) > 1 else ""
        raise DataDirError(f"{t.where(i)}: {what} '{t.keys[i]}' is not in {ref.name}{more}; "
                           f"run utils/fix_data_dir.sh")
    missing = [k for k in want if k not in have_set]
    k = missing[0]
    line = ref.keys.index(k) + 1 if ref_keys is None else _line_of(ref, k)
    more = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
    raise DataDirError(f"{t.name}: no line for {what} '{k}' ({ref.name}:{line}){more}; run utils/fix_data_dir.sh")


def _line_of(t: _Table, key: str) -> int:
    """1-based line in ``t`` where ``key`` (a key, or for spk2utt/utt2spk a value) first appears."""
    try:
        return t.keys.index(key) + 1
    except ValueError:
        for i, v in enumerate(t.values):
            if key in v.split():
                return i + 1
    return 0  # pragma: no cover


def validate_data_dir(path: str | os.PathLike, no_feats: bool = False, no_text: bool = False, no_wav: bool = False,
                      allow_empty_text: bool = False, no_spk_sort: bool = False) -> list[str]:
    """Check a data dir with Kaldi's rules (``utils/validate_data_dir.sh``).

    Checks: ``utt2spk`` and ``spk2utt`` exist and agree; every present file
    is sorted in byte order with unique keys and ends with a newline;
    ``text``, ``feats.scp``, ``segments`` (or ``wav.scp`` without segments),
    ``utt2dur``, ``utt2num_frames`` and ``utt2uniq`` cover exactly the
    utterances of ``utt2spk``; segments refer to recordings of ``wav.scp``
    and every recording is used; ``cmvn.scp`` and ``spk2gender`` cover the
    speakers; value formats (segment times, durations, genders, channels).
    ``utt2spk`` must also be sorted by speaker (Kaldi's tools rely on it):
    this is an error when speaker ids are prefixes of utterance ids, and only
    a warning when they are not (this toolkit's own tools do not need it).

    Args:
        path: the data dir.
        no_feats: ``feats.scp`` may be absent (checked if present).
        no_text: ``text`` may be absent (checked if present).
        no_wav: ``wav.scp`` may be absent (checked if present).
        allow_empty_text: accept utterances with an empty transcript.
        no_spk_sort: skip the sorted-by-speaker check (Kaldi's ``--no-spk-sort``).

    Returns:
        Warnings (one speaker only, relative audio paths, ...).

    Raises:
        DataDirError: the first rule broken; the message names the file and line.
    """
    d = Path(path)
    if not d.is_dir():
        raise DataDirError(f"{d}: no such directory")
    warnings: list[str] = []
    tables: dict[str, _Table | None] = {}
    for name in ("utt2spk", "spk2utt"):
        if not (d / name).is_file():
            hint = " (make it with utils/utt2spk_to_spk2utt.pl)" if name == "spk2utt" else ""
            raise DataDirError(f"{d / name}: no such file{hint}")
        tables[name] = _check_file(d, name)
    utt2spk_t, spk2utt_t = tables["utt2spk"], tables["spk2utt"]
    assert utt2spk_t is not None and spk2utt_t is not None
    utt2spk = _as_token("speaker")(utt2spk_t)
    utts = utt2spk_t.keys

    # utt2spk sorted by speaker too (Kaldi's split_scp.pl and friends assume speakers are contiguous)
    spks_in_order = utt2spk_t.values
    if not no_spk_sort and not all(map(operator.le, spks_in_order, spks_in_order[1:])):
        i = next(i for i in range(1, len(utts)) if spks_in_order[i] < spks_in_order[i - 1])
        msg = (f"{utt2spk_t.where(i)}: utt2spk is not sorted by speaker: '{spks_in_order[i]}' comes after "
               f"'{spks_in_order[i - 1]}' (line {i}); make speaker ids prefixes of utterance ids")
        if all(u.startswith(s) for u, s in zip(utts, spks_in_order)):
            raise DataDirError(msg)
        warnings.append(msg + " (Kaldi's own tools would reject this dir; this toolkit's do not need it)")

    spk2utt = _as_spk2utt(spk2utt_t)
    speakers = spk2utt_t.keys
    if len(speakers) == 1:
        warnings.append(f"{spk2utt_t.name}: only one speaker; per-speaker CMVN and splits will not help "
                        "(see 'bold' in https://kaldi-asr.org/doc/data_prep.html)")
    listed: dict[str, int] = {}
    for i, (s, us) in enumerate(spk2utt.items()):
        for u in us:
            if u in listed:
                raise DataDirError(f"{spk2utt_t.where(i)}: utterance '{u}' is listed twice "
                                   f"(also on line {listed[u] + 1})")
            listed[u] = i
            owner = utt2spk.get(u)
            if owner is None:
                raise DataDirError(f"{spk2utt_t.where(i)}: utterance '{u}' is not in {utt2spk_t.name}")
            if owner != s:
                raise DataDirError(f"{spk2utt_t.where(i)}: utterance '{u}' is listed under speaker '{s}' but "
                                   f"{utt2spk_t.name}:{_line_of(utt2spk_t, u)} says '{owner}'")
    if len(listed) != len(utts):
        i = next(i for i, u in enumerate(utts) if u not in listed)
        raise DataDirError(f"{utt2spk_t.where(i)}: utterance '{utts[i]}' (speaker '{utt2spk[utts[i]]}') is missing "
                           f"from {spk2utt_t.name}; remake it with utils/utt2spk_to_spk2utt.pl")

    # text
    text_t = _check_file(d, "text")
    if text_t is None and not no_text:
        raise DataDirError(f"{d / 'text'}: no such file (if this is by design, specify --no-text)")
    if text_t is not None:
        _check_same_keys(text_t, utt2spk_t, "utterance")
        if not allow_empty_text and not all(text_t.values):
            i = text_t.values.index("")
            raise DataDirError(f"{text_t.where(i)}: empty transcript for utterance '{text_t.keys[i]}' "
                               "(allow it with --allow-empty-text)")
        joined = "\n".join(text_t.values)
        for sym in ("<s>", "</s>", "#0"):
            if sym in joined:
                for i, v in enumerate(text_t.values):
                    if sym in v.split():
                        raise DataDirError(f"{text_t.where(i)}: transcript contains the reserved symbol '{sym}'")

    # wav.scp, segments, reco2file_and_channel
    wav_t = _check_file(d, "wav.scp")
    seg_t = _check_file(d, "segments")
    if seg_t is not None and wav_t is None:
        raise DataDirError(f"{seg_t.name}: segments file exists but there is no wav.scp")
    if wav_t is None and not no_wav:
        raise DataDirError(f"{d / 'wav.scp'}: no such file (if this is by design, specify --no-wav)")
    if wav_t is not None:
        _as_nonempty("path or command")(wav_t)
        relative = 0
        first_relative = -1
        for i, v in enumerate(wav_t.values):
            if v[0] == "~":
                raise DataDirError(f"{wav_t.where(i)}: do not use tilde (~) in wav.scp: it is not expanded")
            if v[-1] != "|" and v[0] != "/":
                relative += 1
                if first_relative < 0:
                    first_relative = i
        if relative:
            warnings.append(f"{wav_t.where(first_relative)}: {relative} of {len(wav_t.keys)} audio paths are "
                            f"relative (e.g. '{wav_t.values[first_relative]}'); they are resolved against the "
                            "directory the tools run in")
        r2fc_t = _check_file(d, "reco2file_and_channel")
        if seg_t is not None:
            segments = _as_segments(seg_t)
            for i, (u, seg) in enumerate(segments.items()):
                if seg.start < 0 or not (seg.end > seg.start or seg.end == -1):
                    raise DataDirError(f"{seg_t.where(i)}: bad segment times {seg_t.values[i].split()[1:]} for "
                                       f"utterance '{u}': need 0 <= start < end (or end = -1)")
            _check_same_keys(seg_t, utt2spk_t, "utterance")
            recos = set(wav_t.keys)
            used = set()
            for i, seg in enumerate(segments.values()):
                if seg.recording not in recos:
                    raise DataDirError(f"{seg_t.where(i)}: recording '{seg.recording}' is not in {wav_t.name}")
                used.add(seg.recording)
            if len(used) != len(recos):
                i = next(i for i, r in enumerate(wav_t.keys) if r not in used)
                raise DataDirError(f"{wav_t.where(i)}: recording '{wav_t.keys[i]}' has no segments; "
                                   "run utils/fix_data_dir.sh")
        else:
            _check_same_keys(wav_t, utt2spk_t, "utterance")
        if r2fc_t is not None:
            r2fc = _as_r2fc(r2fc_t)
            _check_same_keys(r2fc_t, wav_t, "recording")
            for i, (_, ch) in enumerate(r2fc.values()):
                if ch == "1":
                    warnings.append(f"{r2fc_t.where(i)}: channel should be A or B, not 1")
                    break
            for i, (_, ch) in enumerate(r2fc.values()):
                if ch not in ("A", "B", "1"):
                    raise DataDirError(f"{r2fc_t.where(i)}: channel '{ch}' should be A or B")
    elif seg_t is None and (d / "reco2file_and_channel").is_file():
        _check_file(d, "reco2file_and_channel")

    # features
    feats_t = _check_file(d, "feats.scp")
    if feats_t is None and not no_feats:
        raise DataDirError(f"{d / 'feats.scp'}: no such file (if this is by design, specify --no-feats)")
    if feats_t is not None:
        _as_nonempty("rxspecifier")(feats_t)
        _check_same_keys(feats_t, utt2spk_t, "utterance")

    # speaker-indexed files
    cmvn_t = _check_file(d, "cmvn.scp")
    if cmvn_t is not None:
        _as_nonempty("rxspecifier")(cmvn_t)
        _check_same_keys(cmvn_t, spk2utt_t, "speaker")
    gender_t = _check_file(d, "spk2gender")
    if gender_t is not None:
        for i, g in enumerate(_as_token("gender")(gender_t).values()):
            if g not in ("m", "f"):
                raise DataDirError(f"{gender_t.where(i)}: gender '{g}' should be m or f")
        _check_same_keys(gender_t, spk2utt_t, "speaker")

    # other utterance-indexed files
    dur_t = _check_file(d, "utt2dur")
    if dur_t is not None:
        for i, x in enumerate(_as_float(dur_t).values()):
            if not x > 0:
                raise DataDirError(f"{dur_t.where(i)}: duration {dur_t.values[i]} should be > 0")
        _check_same_keys(dur_t, utt2spk_t, "utterance")
    nf_t = _check_file(d, "utt2num_frames")
    if nf_t is not None:
        for i, x in enumerate(_as_int(nf_t).values()):
            if x <= 0:
                raise DataDirError(f"{nf_t.where(i)}: number of frames {x} should be > 0")
        _check_same_keys(nf_t, utt2spk_t, "utterance")
    uniq_t = _check_file(d, "utt2uniq")
    if uniq_t is not None:
        _as_token("original utterance")(uniq_t)
        _check_same_keys(uniq_t, utt2spk_t, "utterance")
    return warnings


_OFFSET = re.compile(r":[0-9]+$")


# --------------------------------------------------------------------------- operations


def fix_data_dir(path: str | os.PathLike, utt_extra_files: Iterable[str] = (),
                 spk_extra_files: Iterable[str] = ()) -> tuple[int, int]:
    """Sort every file and keep only utterances present in all of them (Kaldi's ``utils/fix_data_dir.sh``).

    Utterances must be in ``utt2spk``, ``text``, ``feats.scp``, ``segments``
    (or ``wav.scp`` without segments), ``utt2dur``, ``utt2num_frames`` and
    ``utt2uniq`` where those exist; their speakers in ``cmvn.scp`` and
    ``spk2gender``; their recordings in ``wav.scp``. Unused recordings and
    speakers are dropped, ``spk2utt`` is rebuilt, repeated keys keep their
    first line. The original files are copied to ``<path>/.backup/`` first.

    Args:
        path: the data dir (rewritten in place).
        utt_extra_files: other utterance-indexed files to filter (Kaldi's ``--utt-extra-files``).
        spk_extra_files: other speaker-indexed files to filter.

    Returns:
        ``(kept, before)``: number of utterances kept and in ``utt2spk`` before.

    Raises:
        DataDirError: no ``utt2spk``, a malformed line, or no utterance left.
    """
    d = Path(path)
    if not (d / "utt2spk").is_file():
        raise DataDirError(f"{d / 'utt2spk'}: no such file")
    data = DataDir._load(d, lenient=True)
    assert data.utt2spk is not None
    extras = {}
    for name in list(utt_extra_files) + list(spk_extra_files):
        if (d / name).is_file():
            t = _dedupe(_read_table(d / name))
            extras[name] = dict(zip(t.keys, t.values))
    backup = d / ".backup"
    backup.mkdir(exist_ok=True)
    for name in list(DATA_FILES) + list(extras):
        if (d / name).is_file():
            shutil.copy2(d / name, backup / name)

    before = len(data.utt2spk)
    keep = set(data.utt2spk)
    for table in (data.text, data.feats_scp, data.utt2dur, data.utt2num_frames, data.utt2uniq):
        if table is not None:
            keep &= table.keys()
    for name in utt_extra_files:
        if name in extras:
            keep &= extras[name].keys()
    if data.segments is not None:
        if data.wav_scp is None:
            raise DataDirError(f"{d / 'segments'}: exists but there is no wav.scp")
        keep = {u for u in keep if u in data.segments and data.segments[u].recording in data.wav_scp}
    elif data.wav_scp is not None:
        keep &= data.wav_scp.keys()
    spk_tables = [data.cmvn_scp, data.spk2gender] + [extras[n] for n in spk_extra_files if n in extras]
    for table in spk_tables:
        if table is not None:
            keep = {u for u in keep if data.utt2spk[u] in table}
    if not keep:
        raise DataDirError(f"{d}: no utterances remained (they must appear in every file); not changing it")
    fixed = data.subset(keep)
    _write_dir(fixed, d)
    kept_spks = set(fixed.utt2spk.values()) if fixed.utt2spk else set()
    for name, table in extras.items():
        ids = kept_spks if name in spk_extra_files else keep
        write_scp(d / name, {k: v for k, v in table.items() if k in ids})
    if len(keep) != before:
        log.info("fix_data_dir: kept %d utterances out of %d in %s", len(keep), before, d)
    else:
        log.info("fix_data_dir: kept all %d utterances in %s", before, d)
    log.info("fix_data_dir: old files are kept in %s", backup)
    return len(keep), before


SELECT_METHODS = ("even", "first", "last", "shortest", "per-spk", "speakers")


def select_utterances(data: DataDir, n: int, method: str = "even", seed: int = 0) -> list[str]:
    """Choose utterances as Kaldi's ``subset_data_dir.sh`` does.

    Args:
        data: the data dir (needs ``utt2spk``).
        n: how many utterances (per speaker with ``per-spk``).
        method: ``even`` (spread evenly over the sorted list, Kaldi's default
            ``subset_scp.pl``), ``first``, ``last``, ``shortest`` (needs
            ``utt2dur``, ``utt2num_frames`` or ``segments``), ``per-spk`` (up to
            ``n`` per speaker, evenly spread), ``speakers`` (whole speakers in
            random order, added while fewer than ``n`` utterances are chosen).
        seed: random seed for ``speakers``.

    Returns:
        Selected utterance ids, sorted.

    Raises:
        DataDirError: ``n`` larger than the number of utterances, or no durations for ``shortest``.
    """
    if data.utt2spk is None:
        raise DataDirError(f"{data.path}/utt2spk: no such file")
    if method not in SELECT_METHODS:
        raise DataDirError(f"unknown selection method '{method}' (one of {', '.join(SELECT_METHODS)})")
    if n <= 0:
        raise DataDirError(f"the number of utterances must be positive, got {n}")
    utts = data.utts
    if method in ("even", "first", "last", "shortest") and n > len(utts):
        raise DataDirError(f"{data.path}: cannot subset to {n} utterances: it has only {len(utts)}")
    if method == "first":
        return utts[:n]
    if method == "last":
        return utts[len(utts) - n:]
    if method == "even":
        out: list[str] = []
        _select_n(utts, 0, len(utts), n, out)
        return out
    if method == "shortest":
        lens: Mapping[str, float] | None = data.durations()
        if lens is None and data.utt2num_frames is not None:
            lens = {u: float(f) for u, f in data.utt2num_frames.items()}
        if lens is None:
            raise DataDirError(f"{data.path}: --shortest needs utt2dur (run 'asr compute-utt2dur {data.path}'), "
                               "utt2num_frames or segments")
        missing = [u for u in utts if u not in lens]
        if missing:
            raise DataDirError(f"{data.path}: no duration for utterance '{missing[0]}'")
        return sorted(sorted(utts, key=lambda u: (lens[u], u))[:n])
    spk2utt = _sorted_spk2utt(data.utt2spk)
    if method == "per-spk":
        out = []
        for us in spk2utt.values():
            skip = 1
            while n * (skip + 1) <= len(us):
                skip += 1
            out += us[0:n * skip:skip]
        return sorted(out)
    speakers = list(spk2utt)
    random.Random(seed).shuffle(speakers)
    out, total = [], 0
    for s in speakers:
        if total >= n:
            break
        out += spk2utt[s]
        total += len(spk2utt[s])
    return sorted(out)


def _select_n(items: list[str], start: int, end: int, needed: int, out: list[str]) -> None:
    """Kaldi's ``subset_scp.pl``: pick ``needed`` of ``items[start:end]`` spread evenly (recursive halving)."""
    diff = end - start
    if diff == 1:
        if needed > 0:
            out.append(items[start])
        return
    half, half_needed = diff // 2, needed // 2
    _select_n(items, start, start + half, half_needed, out)
    _select_n(items, start + half, end, needed - half_needed, out)


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, utts: Iterable[str] | None = None,
                    speakers: Iterable[str] | None = None) -> DataDir:
    """Copy the given utterances (or all utterances of the given speakers) of ``src`` into ``dest``.

    Every file is filtered (see :meth:`DataDir.subset`); ids not in ``src``
    are ignored, as Kaldi's ``filter_scp.pl`` does.

    Args:
        src: source data dir.
        dest: output data dir (must differ from ``src``); data-dir files there are replaced.
        utts: utterance ids to keep.
        speakers: speaker ids to keep (with ``utts``, both must hold).

    Returns:
        The subset, saved in ``dest``.
    """
    if _same_dir(src, dest):
        raise DataDirError(f"{dest}: the output dir must differ from the source dir")
    data = DataDir.load(src)
    if data.utt2spk is None:
        raise DataDirError(f"{Path(src) / 'utt2spk'}: no such file")
    keep = set(data.utt2spk) if utts is None else set(utts)
    if speakers is not None:
        spk_set = set(speakers)
        keep = {u for u in keep if data.utt2spk.get(u) in spk_set}
    out = data.subset(keep)
    if not out.utt2spk:
        what = "utterance list" if utts is not None else ""
        what += (" and " if what else "") + "speaker list" if speakers is not None else ""
        raise DataDirError(f"{src}: the subset is empty: no utterance of {src}/utt2spk matches the "
                           f"{what or 'selection'}; nothing written to {dest}")
    _write_dir(out, dest)
    log.info("subset_data_dir: reducing #utt from %d to %d (%s -> %s)", len(data.utt2spk),
             len(out.utt2spk or {}), src, dest)
    return out


def _split_per_spk(utt2spk: dict[str, str], n: int, name: str) -> list[list[str]]:
    """Kaldi's ``split_scp.pl --utt2spk``: n speaker-disjoint parts of nearly equal utterance counts."""
    spk_utts: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        spk_utts.setdefault(utt2spk[u], []).append(u)
    spks = list(spk_utts)
    if len(spks) < n:
        raise DataDirError(f"{name}: refusing to split into {n} parts: it has only {len(spks)} speakers "
                           "(use --per-utt, or fewer jobs)")
    parts: list[list[str]] = [[] for _ in range(n)]
    counts = [0] * n
    for i, s in enumerate(spks):
        j = i * n // len(spks)
        parts[j].append(s)
        counts[j] += len(spk_utts[s])
    changed = True
    while changed:  # move boundary speakers while it evens out neighbouring parts
        changed = False
        for j in range(n):
            if j < n - 1 and parts[j]:
                c = len(spk_utts[parts[j][-1]])
                if abs((counts[j + 1] + c) - (counts[j] - c)) < abs(counts[j + 1] - counts[j]):
                    counts[j + 1] += c
                    counts[j] -= c
                    parts[j + 1].insert(0, parts[j].pop())
                    changed = True
            if j > 0 and parts[j]:
                c = len(spk_utts[parts[j][0]])
                if abs((counts[j] - c) - (counts[j - 1] + c)) < abs(counts[j] - counts[j - 1]):
                    counts[j - 1] += c
                    counts[j] -= c
                    parts[j - 1].append(parts[j].pop(0))
                    changed = True
    for j, p in enumerate(parts):
        if not p:
            raise DataDirError(f"{name}: split part {j + 1} of {n} would be empty (too few speakers?)")
    return [[u for s in p for u in spk_utts[s]] for p in parts]


def split_data(path: str | os.PathLike, n: int, per_utt: bool = False) -> list[Path]:
    """Split a data dir into ``n`` parts, as Kaldi's ``utils/split_data.sh``.

    Parts are ``<path>/split<n>/<k>`` (``split<n>utt`` with ``per_utt``),
    k = 1..n. By default each speaker goes to one part and parts have about
    the same number of utterances; ``per_utt`` cuts the sorted utterance list
    into contiguous chunks. Up-to-date parts (newer than every source file) are
    left alone.

    Args:
        path: the data dir.
        n: number of parts (>= 1).
        per_utt: ignore speakers.

    Returns:
        The part directories, in order.

    Raises:
        DataDirError: ``n`` < 1, more parts than speakers (or utterances).
    """
    d = Path(path)
    if n < 1:
        raise DataDirError(f"invalid number of parts {n}: must be >= 1")
    out_root = d / (f"split{n}utt" if per_utt else f"split{n}")
    parts_dirs = [out_root / str(k) for k in range(1, n + 1)]
    sources = [d / name for name in DATA_FILES if (d / name).is_file()]
    if sources and all(p.is_dir() for p in parts_dirs) and all(
            (p / s.name).is_file() and (p / s.name).stat().st_mtime >= s.stat().st_mtime
            for p in parts_dirs for s in sources):
        log.info("split_data: %s is up to date", out_root)
        return parts_dirs
    data = DataDir.load(d)
    if data.utt2spk is None:
        raise DataDirError(f"{d / 'utt2spk'}: no such file")
    for table, name in ((data.feats_scp, "feats.scp"), (data.text, "text")):
        if table is not None and len(table) != len(data.utt2spk):
            log.warning("split_data: #lines in (utt2spk, %s) is (%d, %d); run utils/fix_data_dir.sh %s",
                        name, len(data.utt2spk), len(table), d)
    utts = data.utts
    if per_utt:
        if len(utts) < n:
            raise DataDirError(f"{d}: cannot split {len(utts)} utterances into {n} parts")
        size, rem = divmod(len(utts), n)
        chunks, start = [], 0
        for k in range(n):
            end = start + size + (1 if k < rem else 0)
            chunks.append(utts[start:end])
            start = end
    else:
        chunks = _split_per_spk(data.utt2spk, n, str(d))
    for part_dir, chunk in zip(parts_dirs, chunks):
        _write_dir(data.subset(chunk), part_dir)
    log.info("split_data: split %s into %d parts under %s", d, n, out_root)
    return parts_dirs


# file -> what its keys are, for combining: utterance keys must not repeat across sources
_COMBINE_KEY_KIND = {"spk2gender": "speaker", "cmvn.scp": "speaker", "reco2file_and_channel": "recording"}


def combine_data(dest: str | os.PathLike, srcs: Iterable[str | os.PathLike], extra_files: Iterable[str] = (),
                 skip_fix: bool = False) -> DataDir:
    """Combine data dirs into ``dest`` (Kaldi's ``utils/combine_data.sh``).

    A file is combined when every source has it (otherwise it is left out,
    with a warning); ``utt2uniq`` is made for sources that lack it. When some
    sources have ``segments`` and others do not, whole-recording segments
    (end -1) are made for the others. Utterance ids must be unique across the
    sources; speaker and recording entries may repeat if identical.

    Args:
        dest: output dir (must not be one of the sources); its data-dir files are replaced.
        srcs: source dirs.
        extra_files: other files to combine (sorted by key).
        skip_fix: do not run :func:`fix_data_dir` on the result.

    Returns:
        The combined data dir (as saved).
    """
    srcs = [Path(s) for s in srcs]
    if not srcs:
        raise DataDirError("combine_data: no source dirs given")
    for s in srcs:
        if _same_dir(s, dest):
            raise DataDirError(f"{dest}: the output dir must not be one of the source dirs")
        if not (s / "utt2spk").is_file():
            raise DataDirError(f"{s / 'utt2spk'}: no such file")
    datas = [DataDir.load(s) for s in srcs]
    with_segments = [x.segments is not None for x in datas]
    if any(with_segments) and not all(with_segments):
        for x in datas:
            if x.segments is None and x.wav_scp is not None:
                x.segments = {u: Segment(u, 0.0, -1.0) for u in x.wav_scp}  # whole recordings
    if any(x.utt2uniq is not None for x in datas):
        for x in datas:
            if x.utt2uniq is None and x.utt2spk is not None:
                x.utt2uniq = {u: u for u in x.utt2spk}
    segmented = all(x.segments is not None for x in datas)
    out = DataDir(Path(dest))
    for spec in _FILES:
        if spec.name == "spk2utt":
            continue
        tables = [getattr(x, spec.attr) for x in datas]
        present = [t is not None for t in tables]
        if not all(present):
            if any(present):
                lacking = [str(s) for s, p in zip(srcs, present) if not p]
                log.warning("combine_data: not combining %s: missing in %s", spec.name, ", ".join(lacking))
            continue
        kind = _COMBINE_KEY_KIND.get(spec.name)
        if spec.name == "wav.scp" and segmented:
            kind = "recording"
        merged: dict[str, Any] = {}
        origin: dict[str, Path] = {}
        for s, t in zip(srcs, tables):
            for k, v in t.items():
                if k in merged and (kind is None or merged[k] != v):
                    what = "utterance" if kind is None else f"{kind} (with a different value)"
                    raise DataDirError(f"{s / spec.name}: {what} '{k}' is also in {origin[k] / spec.name}; "
                                       "use copy_data_dir.sh --utt-prefix to make ids unique")
                merged[k] = v
                origin.setdefault(k, s)
        setattr(out, spec.attr, merged)
    if out.utt2spk is not None:
        out.spk2utt = _sorted_spk2utt(out.utt2spk)
    _write_dir(out, dest)
    for name in extra_files:
        if name in _FILE_BY_NAME:  # already combined above
            continue
        if all((s / name).is_file() for s in srcs):
            merged_extra: dict[str, str] = {}
            for s in srcs:
                merged_extra.update(read_scp(s / name))
            write_scp(Path(dest) / name, merged_extra)
        else:
            log.warning("combine_data: not combining %s: not in every source dir", name)
    log.info("combine_data: combined %s into %s", " ".join(map(str, srcs)), dest)
    if not skip_fix:
        fix_data_dir(dest)
        return DataDir.load(dest)
    return out


def _map_ids(data: DataDir, utt_map: Callable[[str], str], spk_map: Callable[[str], str],
             reco_map: Callable[[str], str]) -> DataDir:
    """Rename utterance, speaker and recording ids in every file (values that are ids too)."""
    out = DataDir(data.path)
    has_segments = data.segments is not None
    for spec in _FILES:
        table = getattr(data, spec.attr)
        if table is None:
            continue
        if spec.index == "utt":
            key = utt_map
        elif spec.index == "spk":
            key = spk_map
        else:
            key = reco_map if has_segments else utt_map
        setattr(out, spec.attr, {key(k): v for k, v in table.items()})
    if out.utt2spk is not None:
        out.utt2spk = {u: spk_map(s) for u, s in out.utt2spk.items()}
        out.spk2utt = _sorted_spk2utt(out.utt2spk)
    if out.segments is not None:
        out.segments = {u: Segment(reco_map(s.recording), s.start, s.end) for u, s in out.segments.items()}
    return out


def copy_data_dir(src: str | os.PathLike, dest: str | os.PathLike, utt_prefix: str = "", spk_prefix: str = "",
                  utt_suffix: str = "", spk_suffix: str = "", validate: bool = True) -> DataDir:
    """Copy a data dir, optionally adding prefixes/suffixes to ids (Kaldi's ``utils/copy_data_dir.sh``).

    Recording ids stay the same when there is a ``segments`` file; without
    one, ``wav.scp`` is keyed by utterance and renamed with it.

    Args:
        src: source dir.
        dest: output dir (must differ from ``src``); its data-dir files are replaced.
        utt_prefix: prefix for utterance ids.
        spk_prefix: prefix for speaker ids.
        utt_suffix: suffix for utterance ids.
        spk_suffix: suffix for speaker ids.
        validate: validate ``dest`` afterwards (feats and text optional if ``src`` lacks them).

    Returns:
        The copy (as saved).
    """
    if _same_dir(src, dest):
        raise DataDirError(f"{dest}: the output dir must differ from the source dir")
    data = DataDir.load(src)
    if data.utt2spk is None:
        raise DataDirError(f"{Path(src) / 'utt2spk'}: no such file")
    out = _map_ids(data, lambda u: f"{utt_prefix}{u}{utt_suffix}", lambda s: f"{spk_prefix}{s}{spk_suffix}",
                   lambda r: r)
    _write_dir(out, dest)
    log.info("copy_data_dir: copied data from %s to %s", src, dest)
    if validate:
        for w in validate_data_dir(dest, no_feats=data.feats_scp is None, no_text=data.text is None,
                                   no_wav=data.wav_scp is None, allow_empty_text=True):
            log.warning("%s", w)
    return out


_AUDIO_TYPES = {".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".opus": "opus", ".sph": "sph", ".aiff": "aiff"}


def _speed_pipe(value: str, factor: str, where: str) -> str:
    """A wav.scp value made speed-perturbed with sox, as Kaldi's ``perturb_data_dir_speed.sh``."""
    v = value.rstrip()
    if v.endswith("|"):
        return f"{v[:-1].rstrip()} | sox -t wav - -t wav - speed {factor} |"
    if _OFFSET.search(v) and not os.path.exists(v):
        raise DataDirError(f"{where}: '{v}' is an archive offset; speed perturbation needs a file or a pipe")
    # Kaldi writes "-t wav" for every file; sox cannot read other formats as wav, so name their type.
    ftype = _AUDIO_TYPES.get(os.path.splitext(v)[1].lower(), "wav")
    return f"sox -t {ftype} {shlex.quote(v)} -t wav - speed {factor} |"


def perturb_data_dir_speed(factor: float | str, src: str | os.PathLike, dest: str | os.PathLike,
                           compute_durations: bool = True) -> DataDir:
    """Make a speed-perturbed copy of a data dir (Kaldi's ``utils/perturb_data_dir_speed.sh``).

    Utterance, speaker and (with segments) recording ids get the prefix
    ``sp<factor>-``; ``wav.scp`` entries become sox pipes
    (``sox -t wav <file> -t wav - speed <factor> |``, or
    ``... | sox -t wav - -t wav - speed <factor> |`` after an existing pipe);
    segment times and ``utt2dur`` are divided by the factor (segments shorter
    than 10 ms afterwards are dropped, times printed with 2 decimals, as
    Kaldi); ``utt2uniq`` maps each new id to its original. Features, CMVN and
    frame counts are not copied (they no longer match the audio).

    Args:
        factor: speed factor, e.g. ``0.9`` or ``"1.1"`` (a string keeps its spelling in the ids).
        src: source dir.
        dest: output dir (must differ from ``src``).
        compute_durations: make ``utt2dur`` from the audio when ``src`` has none
            (needs :mod:`asr.audio`); otherwise the copy has no ``utt2dur``.

    Returns:
        The perturbed copy (as saved).
    """
    f_str = factor if isinstance(factor, str) else f"{factor:g}"
    try:
        f_val = float(f_str)
    except ValueError:
        raise DataDirError(f"invalid speed factor '{f_str}'") from None
    if not f_val > 0:
        raise DataDirError(f"invalid speed factor '{f_str}': must be > 0")
    if _same_dir(src, dest):
        raise DataDirError(f"{dest}: this needs <srcdir> and <destdir> to be different")
    data = DataDir.load(src)
    if data.utt2spk is None:
        raise DataDirError(f"{Path(src) / 'utt2spk'}: no such file")
    if data.wav_scp is None:
        raise DataDirError(f"{Path(src) / 'wav.scp'}: no such file")
    if shutil.which("sox") is None:
        log.warning("perturb_data_dir_speed: sox is not on PATH; the new wav.scp pipes need it")
    if data.utt2dur is None and compute_durations:
        try:
            data.utt2dur = compute_utt2dur(src, write=False)
        except ImportError:
            log.warning("perturb_data_dir_speed: no asr.audio to measure durations; %s will have no utt2dur", dest)
    prefix = f"sp{f_str}-"
    utt2uniq = data.utt2uniq or {u: u for u in data.utt2spk}
    data.feats_scp = data.cmvn_scp = None
    data.utt2num_frames = None
    out = _map_ids(data, lambda u: prefix + u, lambda s: prefix + s, lambda r: prefix + r)
    out.utt2uniq = {prefix + u: orig for u, orig in utt2uniq.items()}
    wav_name = str(Path(src) / "wav.scp")
    assert out.wav_scp is not None
    out.wav_scp = {k: _speed_pipe(v, f_str, f"{wav_name} ({k[len(prefix):]})") for k, v in out.wav_scp.items()}
    if out.segments is not None:
        segments = {}
        for u, s in out.segments.items():
            start = round(s.start / f_val, 2)
            end = -1.0 if s.end < 0 else round(s.end / f_val, 2)
            if end < 0 or s.end / f_val > s.start / f_val + 0.01:
                segments[u] = Segment(s.recording, start, end)
        if len(segments) != len(out.segments):
            log.warning("perturb_data_dir_speed: dropped %d segments shorter than 10 ms",
                        len(out.segments) - len(segments))
            out = out.subset(segments)
        out.segments = segments
    if out.utt2dur is not None:
        out.utt2dur = {u: float(f"{d / f_val:.6g}") for u, d in out.utt2dur.items()}
    _write_dir(out, dest)
    log.info("perturb_data_dir_speed: generated speed-perturbed version of data in %s, in %s", src, dest)
    for w in validate_data_dir(dest, no_feats=True, no_text=True, allow_empty_text=True):
        log.warning("%s", w)
    return out


def compute_utt2dur(path: str | os.PathLike, write: bool = True,
                    root: str | os.PathLike | None = None) -> dict[str, float]:
    """Durations of the utterances of a data dir from their audio, written to ``<path>/utt2dur``.

    Uses ``segments`` where they give both ends, else
    :func:`asr.audio.utterance_durations` (audio headers, or decoding pipes).

    Args:
        path: the data dir (needs ``wav.scp``).
        write: write ``utt2dur`` (atomically); False only returns the durations.
        root: directory that relative ``wav.scp`` paths (and pipes) are resolved in;
            None: the current directory.

    Returns:
        ``{utt: seconds}``.
    """
    from asr.audio import utterance_durations  # lazily: audio decoding libraries are heavy

    data = DataDir.load(path)
    if data.wav_scp is None:
        raise DataDirError(f"{Path(path) / 'wav.scp'}: no such file")
    extra = {"root": root} if root is not None else {}
    durs = {u: float(x) for u, x in utterance_durations(data.wav_scp, data.segments, **extra).items()}
    if write:
        write_scp(Path(path) / "utt2dur", durs)
        log.info("compute_utt2dur: wrote %s (%d utterances)", Path(path) / "utt2dur", len(durs))
    return durs

