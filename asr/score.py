"""Word and character error rates, printed the way Kaldi's ``compute-wer`` prints them.

The reference and hypothesis are Kaldi ``text`` files (``utt-id word word ...``);
each utterance is aligned with jiwer (minimum edit distance, unit costs for
substitutions, insertions and deletions: the same convention as Kaldi's
``compute-wer`` and ``align-text``). Report lines::

    %WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]
    %SER 12.50 [ 5 / 40 ]
    Scored 40 sentences, 0 not present in hyp.

About NIST sclite: the reference token and sentence counts always agree with
sclite's, and so do the total error counts on ordinary recogniser output, but
sclite aligns with weights substitution 4, insertion 3, deletion 3. That changes
how the errors split into sub/del/ins, and in rare utterances the total: sclite
takes an alignment with more errors when it is cheaper, or as cheap, under its
weights. For the reference ``a b c d e`` and the hypothesis ``x y z a b`` sclite
reports 3 insertions + 3 deletions (6 errors, weighted cost 18) where the minimum
edit distance is 5 substitutions (weighted cost 20). This module's totals are the
minimum edit distance, so never larger than sclite's.

Tokens are separated by ASCII white space, as in Kaldi. For the character error
rate (``unit="char"``) every word is split into its characters and white space is
not a token (Kaldi's CER convention), so only errors inside words count; word
boundary errors show up in the WER.

Utterances of the reference that the hypothesis lacks are handled as
``compute-wer --mode`` does: ``all`` (the default here) scores them against an
empty hypothesis, i.e. all deletions, with a warning in the log; ``present`` skips
them; ``strict`` stops with an error. Hypothesis utterances that are not in the
reference are always an error (they usually mean the wrong reference file).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import jiwer

from asr.errors import AsrError
from asr.fileio import atomic_write

log = logging.getLogger("asr.score")

MODES = ("all", "present", "strict")
UNITS = ("word", "char")
EMPTY = "***"  # Kaldi's mark for the empty side of an insertion or deletion
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


class ScoreError(AsrError):
    """Unreadable text files or utterance sets that cannot be scored; the message names the file."""


@dataclass
class ErrorCounts:
    """Error counts of a set of utterances (or of one).

    ``ref_words`` counts reference tokens: words, or characters when scoring CER.
    """

    ref_words: int = 0  # reference tokens (words, or characters for CER)
    errors: int = 0  # ins + dels + subs
    ins: int = 0  # insertions
    dels: int = 0  # deletions
    subs: int = 0  # substitutions
    sents: int = 0  # scored utterances
    sent_errors: int = 0  # scored utterances with at least one error
    not_in_hyp: int = 0  # reference utterances without hypothesis (scored empty, or skipped)

    @property
    def correct(self) -> int:
        """Reference tokens aligned to an identical hypothesis token."""
        return self.ref_words - self.subs - self.dels

    @property
    def wer(self) -> float:
        """Error rate in percent: ``100 * errors / ref_words`` (0 for no errors and no words, else inf)."""
        if self.ref_words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return 100.0 * self.errors / self.ref_words

    @property
    def ser(self) -> float:
        """Sentence error rate in percent: utterances with any error over scored utterances."""
        return 100.0 * self.sent_errors / self.sents if self.sents else 0.0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass
class UttScore:
    """The alignment of one utterance.

    ``columns`` holds one ``(ref_token, hyp_token, op)`` per alignment position, with
    ``op`` one of ``C`` (correct), ``S`` (substitution), ``I`` (insertion: ref token is
    ``***``) and ``D`` (deletion: hyp token is ``***``).
    """

    utt: str
    ref: list[str]
    hyp: list[str]
    columns: list[tuple[str, str, str]] = field(default_factory=list)
    counts: ErrorCounts = field(default_factory=ErrorCounts)
    missing: bool = False  # no hypothesis: scored against an empty one (mode "all")


def tokenize(text: str, unit: str = "word") -> list[str]:
    """Split a transcript into scoring tokens.

    Args:
        text: the transcript (without the utterance id).
        unit: ``"word"`` (split at ASCII white space) or ``"char"`` (the characters
            of the words; white space is not a token).

    Returns:
        The tokens.
    """
    words = [w for w in _WHITESPACE.split(text) if w]
    if unit == "word":
        return words
    if unit == "char":
        return [c for w in words for c in w]
    raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


def read_text(path: str | os.PathLike) -> dict[str, str]:
    """Read a Kaldi ``text`` file (:func:`asr.datadir.read_scp`): ``utt-id transcript``; the transcript may be empty.

    Args:
        path: the file (``-`` reads standard input).

    Returns:
        Utterance id -> transcript, in file order.

    Raises:
        ScoreError: unreadable file, blank line or repeated utterance id (names file:line).
    """
    from asr.datadir import DataDirError, read_scp

    try:
        return read_scp(path)
    except DataDirError as e:
        raise ScoreError(str(e)) from None


def _listing(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def score_texts(ref: dict[str, str], hyp: dict[str, str], unit: str = "word", mode: str = "all",
                ref_name: str = "reference", hyp_name: str = "hypothesis") -> tuple[ErrorCounts, list[UttScore]]:
    """Align every reference utterance with its hypothesis and count the errors.

    Args:
        ref: utterance id -> reference transcript.
        hyp: utterance id -> hypothesis transcript.
        unit: ``"word"`` (WER) or ``"char"`` (CER), default ``"word"``.
        mode: reference utterances missing from ``hyp``: ``"all"`` (default) scores
            them as all deletions, ``"present"`` skips them, ``"strict"`` raises.
        ref_name: how error messages name the reference (its file name).
        hyp_name: how error messages name the hypothesis (its file name).

    Returns:
        ``(totals, per_utt)``: the summed counts and one :class:`UttScore` per
        scored utterance, in reference order.

    Raises:
        ScoreError: hypothesis utterances absent from the reference, or (mode
            ``"strict"``) reference utterances absent from the hypothesis.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    extra = [u for u in hyp if u not in ref]
    if extra:
        raise ScoreError(f"{hyp_name}: {len(extra)} utterance(s) not in {ref_name}: {_listing(extra)}")
    missing = [u for u in ref if u not in hyp]
    if missing:
        if mode == "strict":
            raise ScoreError(f"{hyp_name}: no hypothesis for {len(missing)} utterance(s) of {ref_name} "
                             f"(--mode strict): {_listing(missing)}")
        if mode == "all":
            log.warning("%d utterance(s) of %s have no hypothesis in %s and are scored as all deletions: %s",
                        len(missing), ref_name, hyp_name, _listing(missing))
        else:
            log.info("%d utterance(s) of %s have no hypothesis in %s and are not scored (--mode present): %s",
                     len(missing), ref_name, hyp_name, _listing(missing))

    if not ref:
        raise ScoreError(f"{ref_name}: no reference utterances (an empty file?): nothing to score")
    _warn_case(ref, hyp, ref_name, hyp_name)
    utts = [u for u in ref if u in hyp or mode == "all"]
    ref_toks = [tokenize(ref[u], unit) for u in utts]
    hyp_toks = [tokenize(hyp.get(u, ""), unit) for u in utts]
    per_utt: list[UttScore] = []
    totals = ErrorCounts(not_in_hyp=len(missing))
    if utts:
        # Tokens never contain white space, so joining with spaces round-trips through jiwer's split.
        out = jiwer.process_words([" ".join(t) for t in ref_toks], [" ".join(t) for t in hyp_toks])
        for utt, r, h, chunks in zip(utts, ref_toks, hyp_toks, out.alignments):
            score = _utt_score(utt, r, h, chunks)
            score.missing = utt not in hyp
            per_utt.append(score)
            totals = totals + score.counts
    return totals, per_utt


def _casing(texts: dict[str, str]) -> str | None:
    """``upper`` / ``lower`` when (nearly) every cased letter of ``texts`` is of that case, else None."""
    upper = lower = 0
    for t in texts.values():
        upper += sum(c.isupper() for c in t)
        lower += sum(c.islower() for c in t)
    if upper + lower == 0:
        return None
    return "upper" if lower <= 0.01 * (upper + lower) else "lower" if upper <= 0.01 * (upper + lower) else None


def _warn_case(ref: dict[str, str], hyp: dict[str, str], ref_name: str, hyp_name: str) -> None:
    """Warn when the reference and the hypotheses are in different cases: scoring is case-sensitive."""
    r, h = _casing(ref), _casing(hyp)
    if r and h and r != h:
        log.warning("%s is in %s case and %s in %s case: scoring is case-sensitive, so every word differs "
                    "(normalise both the way the model's training did, e.g. asr score --case %s)",
                    ref_name, r, hyp_name, h, h)


def _utt_score(utt: str, r: list[str], h: list[str], chunks: list[jiwer.AlignmentChunk]) -> UttScore:
    columns: list[tuple[str, str, str]] = []
    for c in chunks:
        if c.type == "equal":
            columns += [(r[i], r[i], "C") for i in range(c.ref_start_idx, c.ref_end_idx)]
        elif c.type == "substitute":
            columns += [(r[i], h[j], "S") for i, j in zip(range(c.ref_start_idx, c.ref_end_idx),
                                                          range(c.hyp_start_idx, c.hyp_end_idx))]
        elif c.type == "delete":
            columns += [(r[i], EMPTY, "D") for i in range(c.ref_start_idx, c.ref_end_idx)]
        elif c.type == "insert":
            columns += [(EMPTY, h[j], "I") for j in range(c.hyp_start_idx, c.hyp_end_idx)]
        else:  # pragma: no cover - jiwer's four chunk types are exhaustive
            raise ValueError(f"unknown alignment chunk type {c.type!r}")
    ops = [op for _, _, op in columns]
    subs, ins, dels = ops.count("S"), ops.count("I"), ops.count("D")
    errors = subs + ins + dels
    counts = ErrorCounts(ref_words=len(r), errors=errors, ins=ins, dels=dels, subs=subs, sents=1,
                         sent_errors=int(errors > 0))
    return UttScore(utt=utt, ref=r, hyp=h, columns=columns, counts=counts)


def _percent(x: float) -> str:
    return f"{x:.2f}"


def format_wer(counts: ErrorCounts, name: str = "WER") -> str:
    """The ``compute-wer`` summary line.

    Args:
        counts: totals from :func:`score_texts`.
        name: ``"WER"`` or ``"CER"`` (default ``"WER"``).

    Returns:
        E.g. ``"%WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]"``.
    """
    return (f"%{name} {_percent(counts.wer)} [ {counts.errors} / {counts.ref_words}, "
            f"{counts.ins} ins, {counts.dels} del, {counts.subs} sub ]")


def format_ser(counts: ErrorCounts) -> str:
    """The sentence error line, e.g. ``"%SER 12.50 [ 5 / 40 ]"``."""
    return f"%SER {_percent(counts.ser)} [ {counts.sent_errors} / {counts.sents} ]"


def format_report(counts: ErrorCounts, name: str = "WER") -> str:
    """The three lines ``compute-wer`` prints: %WER (or %CER), %SER and the utterance count.

    Args:
        counts: totals from :func:`score_texts`.
        name: ``"WER"`` or ``"CER"`` (default ``"WER"``).

    Returns:
        The lines, each ending with a newline.
    """
    return (f"{format_wer(counts, name)}\n{format_ser(counts)}\n"
            f"Scored {counts.sents} sentences, {counts.not_in_hyp} not present in hyp.\n")


def format_per_utt(per_utt: list[UttScore]) -> str:
    """Per-utterance alignments in the layout of Kaldi's ``scoring_kaldi/wer_details/per_utt``.

    Four lines per utterance, columns padded to a common width::

        utt1 ref  the  cat  ***  sat
        utt1 hyp  the  bat  fat  sat
        utt1 op   C    S    I    C
        utt1 #csid 2 1 1 0

    Args:
        per_utt: from :func:`score_texts`.

    Returns:
        The text, ending with a newline (empty string for no utterances).
    """
    lines: list[str] = []
    for s in per_utt:
        widths = [max(len(r), len(h), len(op)) for r, h, op in s.columns]
        for label, k in (("ref", 0), ("hyp", 1), ("op", 2)):
            cells = " ".join(col[k].ljust(w) for col, w in zip(s.columns, widths))
            lines.append(f"{s.utt} {label:<3}  {cells}".rstrip())
        c = s.counts
        lines.append(f"{s.utt} #csid {c.correct} {c.subs} {c.ins} {c.dels}")
    return "".join(line + "\n" for line in lines)


def write_per_utt(path: str | os.PathLike, per_utt: list[UttScore]) -> None:
    """Write :func:`format_per_utt` output to ``path`` atomically."""
    with atomic_write(path) as f:
        f.write(format_per_utt(per_utt))


def read_ctm(path: str | os.PathLike) -> dict[str, list[tuple[str, float, float]]]:
    """A CTM file (``utt channel start duration word [confidence]``): utt -> [(word, start, end)] in
    time order.

    Raises:
        ScoreError: a missing file or a malformed line (names file and line).
    """
    out: dict[str, list[tuple[str, float, float]]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ScoreError(f"{path}: cannot read: {e}") from e
    for n, line in enumerate(lines, 1):
        p = line.split()
        if not p or p[0].startswith(";;"):
            continue
        try:
            start, dur = float(p[2]), float(p[3])
            word = p[4]
        except (IndexError, ValueError):
            raise ScoreError(f"{path}:{n}: expected 'utt channel start duration word [confidence]'") from None
        out.setdefault(p[0], []).append((word, start, start + dur))
    for words in out.values():
        words.sort(key=lambda w: w[1])
    return out


@dataclass
class TimeErrors:
    """How far a CTM's word times are from reference times (:func:`score_times`)."""

    utterances: int  # compared: the same words in the same order in both
    skipped: int  # in both, but with other words
    words: int
    mean_start: float  # mean |hyp start - ref start|, seconds
    mean_end: float  # mean |hyp end - ref end|
    median_start_offset: float  # median of hyp start - ref start (signed: negative = early)
    within: float  # fraction of words whose start and end are both within the tolerance
    tolerance: float

    def report(self) -> str:
        return (f"word times: {self.words} words of {self.utterances} utterances compared "
                f"({self.skipped} with other words left out); mean |start error| {self.mean_start:.3f} s, "
                f"mean |end error| {self.mean_end:.3f} s, median start offset {self.median_start_offset:+.3f} s; "
                f"{100 * self.within:.1f}% of the words start and end within {self.tolerance:g} s")


def score_times(ref: dict[str, list[tuple[str, float, float]]], hyp: dict[str, list[tuple[str, float, float]]],
                tolerance: float = 0.1) -> TimeErrors:
    """Word boundary errors of ``hyp`` against ``ref`` (e.g. a forced alignment's word CTM), over the
    utterances in both whose word sequences are equal (case-insensitive)."""
    import statistics

    starts, ends, offsets = [], [], []
    inside = utts = skipped = 0
    for utt, r in ref.items():
        if utt not in hyp:
            continue
        h = hyp[utt]
        if [w.upper() for w, _, _ in r] != [w.upper() for w, _, _ in h]:
            skipped += 1
            continue
        utts += 1
        for (_, rs, re_), (_, hs, he) in zip(r, h):
            starts.append(abs(hs - rs))
            ends.append(abs(he - re_))
            offsets.append(hs - rs)
            inside += abs(hs - rs) <= tolerance and abs(he - re_) <= tolerance
    n = len(starts)
    return TimeErrors(utts, skipped, n, sum(starts) / n if n else float("nan"), sum(ends) / n if n else float("nan"),
                      statistics.median(offsets) if n else float("nan"), inside / n if n else float("nan"), tolerance)
