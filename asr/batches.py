"""From a Kaldi data dir to padded batches of raw input (waveforms or feature matrices).

Shared by training and recognition: the trainer, ``asr decode`` and ``asr transcribe``
all read utterances, batch them and look up speaker CMVN statistics here.

Utterances are grouped into duration-bucketed batches limited by padded input
frames (Kaldi/EESEN practice: sorting by length keeps padding small). The raw
input of an utterance is either its waveform (``wav.scp`` [+ ``segments``],
features computed on the fly by the frontend) or its feature matrix
(``feats.scp``, precomputed). Raw inputs are deterministic, so they are cached
in memory after the first epoch; augmentation (speed perturbation, SpecAugment)
and normalisation happen later, in the frontend, on every batch.

:class:`UtteranceData` is the data object of training and recognition: which
utterances, their batches and their loading. A distributed back-end shards
:meth:`UtteranceData.batches` without touching the training loop.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from asr.datadir import DataDir
from asr.errors import AsrError, listing
from asr.features.frontend import FEATURE_SOURCES

log = logging.getLogger(__name__)

MAX_SAMPLE = 1000.0  # largest |sample| accepted (audio is read as floats in [-1, 1]; louder is a corrupt file)


@dataclass
class Utterance:
    """One utterance of a data dir: what batching and the criterion need to know about it."""

    utt: str  # utterance id
    spk: str  # speaker id
    text: str | None  # transcript (None when the data dir has none)
    duration: float  # seconds


def pad_sequences(seqs: Sequence[torch.Tensor], value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad tensors of shape (T_i, ...) into one (B, T_max, ...) tensor.

    Args:
        seqs: B tensors with equal trailing dimensions.
        value: padding value (default 0.0).

    Returns:
        ``(padded (B, T_max, ...), lens (B,) int64)``.
    """
    lens = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    out = seqs[0].new_full((len(seqs), int(lens.max()) if len(seqs) else 0, *seqs[0].shape[1:]), value)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, lens


def make_batches(durations: Sequence[float], frame_shift: float, max_frames: int, max_utts: int,
                 shuffle: bool = True, seed: int = 0, epoch: int = 0) -> list[list[int]]:
    """Group utterances into length-sorted batches bounded by padded input frames.

    Args:
        durations: seconds per utterance.
        frame_shift: seconds per input frame (turns durations into frames).
        max_frames: limit on ``utterances * longest utterance`` in frames; an utterance
            longer than this forms a batch of its own.
        max_utts: limit on utterances per batch.
        shuffle: shuffle the order of the batches (default True), deterministically from
            ``seed`` and ``epoch``.
        seed: experiment seed (default 0).
        epoch: epoch number (default 0): each epoch has its own batch order.

    Returns:
        Lists of indices into ``durations``; within a batch, shortest first.
    """
    order = sorted(range(len(durations)), key=lambda i: (durations[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        frames = max(1, int(round(durations[i] / frame_shift)))
        if cur and ((len(cur) + 1) * frames > max_frames or len(cur) >= max_utts):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    if shuffle:
        random.Random(seed * 1000003 + epoch).shuffle(batches)
    return batches


class UtteranceData:
    """The utterances of one data dir and the loading of their raw input.

    Args:
        path: the Kaldi data dir, or one already in memory (e.g. audio files given on the command line).
        feature_source: ``wav`` (waveforms, features on the fly) or ``feats`` (``feats.scp``).
        sample_rate: rate waveforms are resampled to (the frontend's); unused for ``feats``.
        frame_shift: seconds per feature frame, the frontend's (turns durations into frames for
            batching, and ``utt2num_frames`` into durations).
        need_text: require a transcript for every utterance (default True).
        max_duration: drop utterances longer than this many seconds (default None: keep all).
        cache: keep raw inputs in memory after their first load (default True).
        skip_bad: drop utterances whose audio cannot be read, with a warning (default False: raise).
        channel: channel of multi-channel audio (default 0); None averages the channels.
        keep_empty: keep utterances whose transcript is empty (default False: drop them with a
            warning); for CTC they are examples of audio without words.
        min_duration: seconds of input the model needs to give one output frame (e.g. one
            filterbank window); shorter utterances are bad input (default 0: no minimum).

    Bad utterances (missing, empty, unreadable or too short audio or features) are found when
    their durations are read and again when they are loaded. Without ``skip_bad`` they raise
    one :class:`~asr.errors.AsrError` that names every bad utterance found and its file;
    with it each is logged once, left out, and kept in :attr:`bad` (utterance -> message) for
    the caller's summary (:meth:`skipped_summary`).

    A data dir given by its path is validated first with Kaldi's rules
    (:func:`asr.datadir.validate_data_dir`: files sorted and consistent, every utterance with
    its speaker), so training and decoding never run silently on part of an inconsistent dir.

    Raises:
        AsrError: an invalid data dir, missing files, bad utterances (unless ``skip_bad``), no
            usable utterances.
    """

    def __init__(self, path: str | DataDir, feature_source: str, sample_rate: int, frame_shift: float,
                 need_text: bool = True, max_duration: float | None = None, cache: bool = True,
                 skip_bad: bool = False, channel: int | None = 0, keep_empty: bool = False,
                 min_duration: float = 0.0) -> None:
        if feature_source not in FEATURE_SOURCES:
            raise AsrError(f"unknown feature source {feature_source!r} ({' | '.join(FEATURE_SOURCES)})")
        if not isinstance(path, DataDir):  # Kaldi's rules first (utils/validate_data_dir.sh), every command
            from asr.datadir import validate_data_dir

            for warning in validate_data_dir(path, no_feats=feature_source != "feats", no_text=not need_text,
                                             no_wav=feature_source == "feats",
                                             allow_empty_text=True):  # empty ones: dropped below
                log.info("%s", warning)
        self.data = path if isinstance(path, DataDir) else DataDir.load(path)
        self.path = str(self.data.path if isinstance(path, DataDir) else path)  # as given, for messages
        self.channel = channel
        self.feature_source = feature_source
        self.sample_rate = sample_rate
        self.frame_shift = frame_shift
        self.cache_enabled = cache
        self.skip_bad = skip_bad
        self._cache: dict[str, torch.Tensor] = {}
        self.bad: dict[str, str] = {}  # utterance -> why it was left out (skip_bad)
        self.min_duration = min_duration
        # the same minimum in raw-input units: samples of a waveform, frames of a feature matrix
        per_second = sample_rate if feature_source == "wav" else 1.0 / frame_shift
        self._min_len = max(1, math.ceil(min_duration * per_second - 1e-6))
        self._spk_stats: dict[str, torch.Tensor] | None = None
        d = self.data
        if d.utt2spk is None:
            raise AsrError(f"{self.path}/utt2spk: missing")
        if need_text and d.text is None:
            raise AsrError(f"{self.path}/text: missing (needed for training and scoring)")
        if feature_source == "feats" and d.feats_scp is None:
            raise AsrError(f"{self.path}/feats.scp: missing (the model reads precomputed features; "
                           f"run steps/make_fbank.sh)")
        if feature_source == "wav" and d.wav_scp is None:
            raise AsrError(f"{self.path}/wav.scp: missing")
        durations, unreadable = self._durations(frame_shift)
        problems: dict[str, str] = {}
        self.utts: list[Utterance] = []
        long = empty = 0
        for utt in d.utts:
            text = d.text.get(utt) if d.text is not None else None
            if need_text and text is None:
                raise AsrError(f"{self.path}/text: no transcript for utterance {utt}")
            if need_text and not text.strip() and not keep_empty:
                empty += 1
                continue
            if utt in unreadable:
                problems[utt] = unreadable[utt]
                continue
            dur = durations.get(utt)
            if dur is None:
                raise AsrError(f"{self.path}: no duration for utterance {utt} (is it in wav.scp/feats.scp?)")
            if dur < min_duration:
                problems[utt] = self._too_short(utt, dur)
                continue
            if max_duration is not None and dur > max_duration:
                long += 1
                continue
            self.utts.append(Utterance(utt, d.utt2spk[utt], text, float(dur)))
        for utt, message in problems.items():
            self._reject(utt, message, raise_now=False)
        if len(problems) == 1 and not skip_bad:
            raise AsrError(next(iter(problems.values())))
        if problems and not skip_bad:
            raise AsrError(listing(f"{self._where}{len(problems)} bad utterances (skip_bad / --skip-bad "
                                    f"leaves them out)", list(problems.values())))
        if long:
            log.warning("%s: dropped %d utterances longer than %.1f s", self.path, long, max_duration)
        if empty:
            log.warning("%s: dropped %d utterances with an empty transcript", self.path, empty)
        if not self.utts:
            raise AsrError(f"{self.path}: no usable utterances")

    def _durations(self, frame_shift: float) -> tuple[dict[str, float], dict[str, str]]:
        """Seconds per utterance, and the utterances whose durations could not be read (-> message)."""
        d = self.data
        if d.utt2dur is not None:
            return dict(d.utt2dur), {}
        if self.feature_source == "feats" and d.utt2num_frames is not None:
            return {u: int(n) * frame_shift for u, n in d.utt2num_frames.items()}, {}
        if self.feature_source == "feats":
            from asr.features.io import read_feats

            def one(utt: str) -> float:
                return read_feats(d.feats_scp[utt]).shape[0] * frame_shift
            utts = list(d.feats_scp)
        else:
            from asr.audio import utterance_durations

            try:  # all at once (pipes and segmented recordings are read once)
                return utterance_durations(d.wav_scp, d.segments), {}
            except AsrError:
                pass  # then one by one, to name every bad utterance

            def one(utt: str) -> float:
                if d.segments is None:
                    return utterance_durations({utt: d.wav_scp[utt]}, None)[utt]
                seg = d.segments[utt]
                wav = {seg.recording: d.wav_scp[seg.recording]} if seg.recording in d.wav_scp else {}
                return utterance_durations(wav, {utt: seg})[utt]
            utts = list(d.segments if d.segments is not None else d.wav_scp)
        out: dict[str, float] = {}
        problems: dict[str, str] = {}
        for utt in utts:
            try:
                out[utt] = one(utt)
            except AsrError as e:
                problems[utt] = self._message(utt, e)
        return out, problems

    def source(self, utt: str) -> str:
        """Where the raw input of ``utt`` comes from: its ``feats.scp`` or ``wav.scp`` entry."""
        d = self.data
        if self.feature_source == "feats":
            return f"{self.path}/feats.scp: {d.feats_scp.get(utt, '(missing)')}"
        reco = d.segments[utt].recording if d.segments is not None and utt in d.segments else utt
        entry = d.wav_scp.get(reco, "(missing)")
        return entry if self.path.startswith("<") else f"{self.path}/wav.scp: {entry}"  # <inputs>: files

    def _message(self, utt: str, e: Exception) -> str:
        """One line naming the utterance and its file."""
        text = str(e)
        return text if utt in text else f"utterance '{utt}' ({self.source(utt)}): {text}"

    def _check(self, utt: str, x: torch.Tensor) -> str | None:
        """Why a loaded input cannot be used (too short, NaN/inf, samples far outside [-1, 1]), or None."""
        per_second = self.sample_rate if self.feature_source == "wav" else 1.0 / self.frame_shift
        if x.shape[0] < self._min_len:
            return self._too_short(utt, x.shape[0] / per_second)
        if not bool(torch.isfinite(x).all()):
            return f"utterance '{utt}' ({self.source(utt)}): non-finite (NaN or inf) values"
        if self.feature_source == "wav":
            peak = float(x.abs().max())
            if peak > MAX_SAMPLE:  # a float file's samples belong in [-1, 1]; these overflow the filterbank
                return (f"utterance '{utt}' ({self.source(utt)}): samples up to {peak:.3g}, far outside [-1, 1] "
                        f"(a corrupt floating-point file?)")
        return None

    def _too_short(self, utt: str, seconds: float) -> str:
        return (f"utterance '{utt}' ({self.source(utt)}): too short ({seconds:.3f} s; the model needs at "
                f"least {self.min_duration:.3f} s for one output frame)")

    def _reject(self, utt: str, message: str, raise_now: bool = True) -> None:
        """Leave ``utt`` out with a warning (``skip_bad``), else raise (``raise_now``)."""
        if not self.skip_bad:
            if raise_now:
                raise AsrError(message)
            return
        if utt not in self.bad:
            log.warning("skipping bad utterance: %s", message)
            self.bad[utt] = message

    def skipped_summary(self) -> str | None:
        """One paragraph naming every utterance left out as bad (``skip_bad``), or None."""
        if not self.bad:
            return None
        return listing(f"{self._where}skipped {len(self.bad)} bad utterance(s)", list(self.bad.values()))

    @property
    def _where(self) -> str:
        return "" if self.path.startswith("<") else f"{self.path}: "  # <inputs>: files of the command line

    def __len__(self) -> int:
        return len(self.utts)

    @property
    def durations(self) -> list[float]:
        """Seconds per utterance, in the order of :attr:`utts`."""
        return [u.duration for u in self.utts]

    def batches(self, max_frames: int, max_utts: int, shuffle: bool = False,
                seed: int = 0, epoch: int = 0) -> list[list[int]]:
        """Duration-bucketed batches of indices into :attr:`utts` (see :func:`make_batches`)."""
        return make_batches(self.durations, self.frame_shift, max_frames, max_utts, shuffle, seed, epoch)

    def _read(self, utt: str) -> torch.Tensor:
        d = self.data
        if self.feature_source == "feats":
            from asr.features.io import read_feats

            x = np.asarray(read_feats(d.feats_scp[utt]), dtype=np.float32)
            return torch.from_numpy(x.copy())
        from asr.audio import load_utterance

        wave, _ = load_utterance(d.wav_scp, d.segments, utt, sample_rate=self.sample_rate, channel=self.channel)
        return torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))

    def load(self, indices: Sequence[int]) -> tuple[list[Utterance], list[torch.Tensor]]:
        """Raw inputs of some utterances: waves (N,) or feature matrices (T, F), on CPU.

        Utterances that cannot be read, are shorter than ``min_duration`` or hold NaN/inf values
        are dropped with a warning when ``skip_bad`` (and never tried again), else an
        :class:`~asr.errors.AsrError` naming the utterance and its file is raised.
        """
        utts, xs = [], []
        for i in indices:
            u = self.utts[i]
            if u.utt in self.bad:
                continue
            x = self._cache.get(u.utt)
            if x is None:
                try:
                    x = self._read(u.utt)
                except AsrError as e:
                    self._reject(u.utt, self._message(u.utt, e))
                    continue
                problem = self._check(u.utt, x)
                if problem:
                    self._reject(u.utt, problem)
                    continue
                if self.cache_enabled:
                    self._cache[u.utt] = x
            utts.append(u)
            xs.append(x)
        return utts, xs

    def speaker_stats(self, stats_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      max_frames: int = 100000) -> dict[str, torch.Tensor]:
        """Per-speaker CMVN statistics (2, D+1): from ``cmvn.scp`` if the data dir has one, else accumulated.

        Args:
            stats_fn: padded raw inputs ``(x, x_lens)`` -> (B, 2, D+1) per-utterance statistics
                (:meth:`asr.system.System.utterance_stats`).
            max_frames: batch size limit for the accumulation pass, in padded frames.
        """
        if self._spk_stats is not None:
            return self._spk_stats
        d = self.data
        if d.cmvn_scp is not None:
            from asr.features.cmvn import read_cmvn_stats

            self._spk_stats = {spk: read_cmvn_stats(rx).double() for spk, rx in d.cmvn_scp.items()}
            return self._spk_stats
        stats: dict[str, torch.Tensor] = {}
        for idx in self.batches(max_frames, 256):
            utts, xs = self.load(idx)
            if not utts:
                continue
            per_utt = stats_fn(*pad_sequences(xs)).cpu()
            for u, st in zip(utts, per_utt):
                stats[u.spk] = stats[u.spk] + st if u.spk in stats else st.clone()
        self._spk_stats = stats
        return stats

    def batch_speaker_stats(self, utts: Sequence[Utterance],
                            stats_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """(B, 2, D+1) statistics of the speakers of ``utts`` (see :meth:`speaker_stats`)."""
        stats = self.speaker_stats(stats_fn)
        missing = sorted({u.spk for u in utts if u.spk not in stats})
        if missing:
            raise AsrError(f"{self.path}/cmvn.scp: no statistics for speaker(s) {', '.join(missing[:5])}")
        return torch.stack([stats[u.spk] for u in utts])
