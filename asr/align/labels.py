"""Per-frame pdf labels of utterances, from an alignment dir or from Kaldi's ``ali-to-pdf`` output.

Two sources, one result (:class:`FrameLabels`: utterance -> (T,) zero-based pdf ids, and the
number of pdfs):

- an *alignment dir* in Kaldi's layout (``exp/mono_ali``, from ``steps/align_si.sh`` or
  ``steps/train_mono.sh``): ``final.mdl`` (the transition model maps each frame's transition id
  to its pdf), ``tree`` and ``ali.*.gz``. Its model is what a hybrid system decodes with, so the
  directory is kept (:attr:`FrameLabels.model_dir`).
- a *pdf archive*: what Kaldi's ``ali-to-pdf final.mdl "ark:gunzip -c ali.1.gz|" ark,t:pdf.txt``
  (text: ``utt p p p ...`` per line) or ``ark:pdf.ark`` (binary) writes, optionally gzipped; the
  number of pdfs is given with it (``data.num_pdfs``, Kaldi's ``tree-info`` prints it) because
  the highest id in the archive may not be the last pdf.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.errors import AsrError


class LabelError(AsrError):
    """Unreadable or inconsistent frame labels (names the file and, where it can, the line)."""


@dataclass
class FrameLabels:
    """Frame labels of a set of utterances.

    Attributes:
        pdfs: utterance -> (T,) int64 pdf ids, one per feature frame (10 ms).
        num_pdfs: the number of pdfs (the output dimension of a model trained on them).
        source: where they were read from (for messages).
        model_dir: the alignment dir (``final.mdl``, ``tree``) when read from one, else None.
    """

    pdfs: dict[str, np.ndarray]
    num_pdfs: int
    source: str
    model_dir: Path | None = None


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError) as e:
        raise LabelError(f"{path}: cannot read frame labels: {e}") from e


def read_pdf_archive(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Utterance -> pdf ids of a text (``utt p p ...``) or binary Kaldi archive of int vectors.

    Raises:
        LabelError: an unreadable file, a line that is not ``utt`` followed by integers
            (``file:line``), or a repeated utterance.
    """
    path = Path(path)
    data = _read_bytes(path)
    out: dict[str, np.ndarray] = {}
    if b"\0B" in data[:4096]:  # a binary archive: "utt \0B" + int32 vectors
        import kaldiio

        try:
            for k, v in kaldiio.load_ark(io.BytesIO(data)):
                if k in out:
                    raise LabelError(f"{path}: utterance {k} appears twice")
                out[k] = np.asarray(v, dtype=np.int64)
        except (ValueError, EOFError, OSError) as e:
            raise LabelError(f"{path}: not a Kaldi archive of integer vectors ({e})") from e
        return out
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LabelError(f"{path}: neither a text nor a binary Kaldi archive ({e})") from e
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            ids = np.array([int(p) for p in parts[1:]], dtype=np.int64)
        except ValueError:
            raise LabelError(f"{path}:{n}: expected 'utterance pdf pdf ...', got {line[:80]!r}") from None
        if parts[0] in out:
            raise LabelError(f"{path}:{n}: utterance {parts[0]} appears twice")
        out[parts[0]] = ids
    return out


def load_frame_labels(path: str | os.PathLike, num_pdfs: int = 0) -> FrameLabels:
    """Read frame labels from an alignment dir or a pdf archive (see the module docstring).

    Args:
        path: an alignment dir (``final.mdl`` + ``ali.*.gz``) or a pdf archive file.
        num_pdfs: the number of pdfs of a pdf archive (required there; for an alignment dir it
            comes from ``final.mdl`` and a given value must agree).

    Raises:
        LabelError: a missing or unreadable source, a pdf id outside ``[0, num_pdfs)``, an empty set.
    """
    path = Path(path)
    model_dir = None
    if path.is_dir():
        from asr.gmm.ali import ali_to_pdf
        from asr.gmm.model import GmmModel
        from asr.gmm.train import read_alignments

        if not (path / "final.mdl").is_file():
            raise LabelError(f"{path}/final.mdl: no such file (an alignment dir holds final.mdl and ali.*.gz)")
        files = sorted(path.glob("ali.*.gz"), key=lambda p: (len(p.name), p.name))
        if not files:
            raise LabelError(f"{path}: no ali.*.gz (run steps/align_si.sh into it)")
        model = GmmModel.load(path / "final.mdl", path / "tree")
        if num_pdfs and num_pdfs != model.num_pdfs:
            raise LabelError(f"{path}: data.num_pdfs is {num_pdfs} but final.mdl has {model.num_pdfs} pdfs")
        num_pdfs = model.num_pdfs
        pdfs: dict[str, np.ndarray] = {}
        for f in files:
            for utt, ali in read_alignments(f).items():
                pdfs[utt] = ali_to_pdf(model, ali)
        model_dir = path
    elif path.is_file():
        if num_pdfs < 1:
            raise LabelError(f"{path}: a pdf archive needs the number of pdfs (data.num_pdfs; Kaldi: tree-info "
                             f"<tree> | grep num-pdfs)")
        pdfs = read_pdf_archive(path)
    else:
        raise LabelError(f"{path}: no such alignment dir or pdf archive")
    if not pdfs:
        raise LabelError(f"{path}: holds no alignment")
    for utt, p in pdfs.items():
        if p.size and (int(p.min()) < 0 or int(p.max()) >= num_pdfs):
            bad = int(p.max()) if p.max() >= num_pdfs else int(p.min())
            raise LabelError(f"{path}: utterance {utt} has pdf id {bad} outside [0, {num_pdfs})")
    return FrameLabels(pdfs, num_pdfs, str(path), model_dir)


def pdf_counts(labels: FrameLabels, utts: list[str] | None = None) -> np.ndarray:
    """(num_pdfs,) frame counts of each pdf over ``utts`` (default: every utterance)."""
    counts = np.zeros(labels.num_pdfs, dtype=np.float64)
    for u in utts if utts is not None else labels.pdfs:
        if u in labels.pdfs:
            counts += np.bincount(labels.pdfs[u], minlength=labels.num_pdfs)
    return counts


UNSEEN_LOG_PRIOR = 1e4  # the "log prior" of a pdf no training frame was aligned to: its scores become hopeless


def log_priors(counts: np.ndarray | list[float]) -> np.ndarray:
    """Log class priors from pdf frame counts: ``log(count / total)``.

    A pdf that no training frame was aligned to (an unused state of the ergodic silence model, a
    phone the training data lacks) was never trained: its posterior is tiny and dividing by a
    tiny prior would turn it into the best score of every frame. As Kaldi's nnet1 ``PdfPrior``
    does for zero counts, such a pdf gets a huge log prior (:data:`UNSEEN_LOG_PRIOR`), so the
    decoder never takes it.
    """
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        raise LabelError("no frame to estimate the priors from")
    out = np.full(c.shape, UNSEEN_LOG_PRIOR)
    seen = c > 0
    out[seen] = np.log(c[seen] / total)
    return out
