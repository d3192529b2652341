"""What an alignment says: pdf ids per frame, phone segments, CTM lines and a picture.

Kaldi's ``ali-to-pdf``, ``ali-to-phones --ctm-output`` and a spectrogram with the phone segments.
A frame's transition id belongs to the HMM state that emitted it, so a new phone starts where the
phone changes or where the alignment enters the phone's first state again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.gmm.model import GmmModel


@dataclass
class PhoneSegment:
    """One phone of an alignment: ``phone`` id, first frame ``start`` and ``frames`` long."""

    phone: int
    start: int
    frames: int


def ali_to_pdf(model: GmmModel, ali: np.ndarray) -> np.ndarray:
    """(T,) pdf ids (zero-based) of a (T,) transition-id alignment."""
    table = np.asarray(model.tm.transition_id_to_pdf_array(), dtype=np.int64)
    return table[np.asarray(ali, dtype=np.int64)]


def frame_phones(model: GmmModel, ali: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of a transition-id alignment: its phone (T,), and whether a phone starts there
    (T,) bool: where the phone changes or the alignment enters the phone's first state again."""
    phone, first, _ = model.tid_tables
    ali = np.asarray(ali, dtype=np.int64)
    ph, fi = phone[ali], first[ali]
    start = np.ones(len(ali), dtype=bool)
    start[1:] = (ph[1:] != ph[:-1]) | (fi[1:] & ~fi[:-1])
    return ph, start


def ali_to_phones(model: GmmModel, ali: np.ndarray) -> list[PhoneSegment]:
    """The phone segments of a transition-id alignment, in time order."""
    ph, start = frame_phones(model, ali)
    at = np.flatnonzero(start)
    ends = np.r_[at[1:], len(ph)]
    return [PhoneSegment(int(ph[s]), int(s), int(e - s)) for s, e in zip(at, ends)]


def ctm_lines(utt: str, segs: list[PhoneSegment], phones: dict[int, str], frame_shift: float = 0.01) -> list[str]:
    """Kaldi CTM lines (``utt 1 start duration phone``) of an utterance's phone segments."""
    return [f"{utt} 1 {s.start * frame_shift:.2f} {s.frames * frame_shift:.2f} {phones.get(s.phone, str(s.phone))}"
            for s in segs]


def plot_alignment(feats: np.ndarray, segs: list[PhoneSegment], phones: dict[int, str], path: str | os.PathLike,
                   title: str = "", frame_shift: float = 0.01) -> Path:
    """A PNG of the (T, F) features (log-mel bins up the y axis) with each phone's boundaries and name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asr.fileio import atomic_write

    T = feats.shape[0]
    fig, ax = plt.subplots(figsize=(max(6.0, min(30.0, T * frame_shift * 2.5)), 3.0))
    ax.imshow(feats.T, origin="lower", aspect="auto", cmap="viridis",
              extent=(0.0, T * frame_shift, 0, feats.shape[1]))
    for s in segs:
        x0 = s.start * frame_shift
        ax.axvline(x0, color="white", linewidth=0.8)
        ax.text(x0 + s.frames * frame_shift / 2, feats.shape[1] * 0.92, phones.get(s.phone, str(s.phone)),
                color="white", ha="center", va="top", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("feature bin")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return out


@dataclass
class WordSegment:
    """One word of an alignment: ``word``, first frame ``start``, ``frames`` long (its phones, no silence)."""

    word: str
    start: int
    frames: int


def ali_to_words(segs: list[PhoneSegment], words: list[str], prons: dict[str, list[list[int]]],
                 silence: set[int]) -> list[WordSegment] | None:
    """Group a forced alignment's phone segments into its transcript's words.

    Args:
        segs: the phone segments (:func:`ali_to_phones`) of an alignment to ``words``.
        words: the transcript (the words the alignment graph was made from).
        prons: word -> its pronunciations as phone ids (the lang dir's lexicon).
        silence: silence phone ids (optional silence between words is skipped).

    Returns:
        the words with their spans, or None when the phones do not spell the transcript (an OOV
        word mapped to another, or an alignment of other words).
    """
    out: list[WordSegment] = []
    i = 0
    for w in words:
        while i < len(segs) and segs[i].phone in silence and not any(p and p[0] == segs[i].phone
                                                                      for p in prons.get(w, [])):
            i += 1
        for pron in sorted(prons.get(w, []), key=len, reverse=True):
            if [s.phone for s in segs[i: i + len(pron)]] == pron:
                first, last = segs[i], segs[i + len(pron) - 1]
                out.append(WordSegment(w, first.start, last.start + last.frames - first.start))
                i += len(pron)
                break
        else:
            return None
    return out
