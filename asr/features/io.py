"""Feature storage as Kaldi ark/scp files, through kaldiio, readable by Kaldi's own tools.

Writing is crash-safe: the archive is written to a temporary file next to its
final name and renamed when complete, and only then is the scp written
(atomically). The offsets in the scp point into the archive under its final
name, so a reader never sees an scp that refers to a partial archive.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from asr.errors import AsrError
from asr.fileio import atomic_write

# Kaldi's CompressionMethod enum (matrix/compressed-matrix.h); copy-feats --compress uses kAutomaticMethod.
COMPRESSION_AUTOMATIC = 1


class FeatsError(AsrError):
    """A feature archive or scp entry that cannot be read or written."""


def write_feats(ark_path: str | os.PathLike, scp_path: str | os.PathLike | None,
                items: Iterable[tuple[str, np.ndarray]], compress: bool = False,
                compression_method: int = COMPRESSION_AUTOMATIC) -> dict[str, str]:
    """Write matrices to a Kaldi binary archive and its scp, atomically.

    Args:
        ark_path: final archive path; scp entries read ``<ark_path>:<offset>``
            with the path exactly as given (pass an absolute path for an scp
            usable from any directory, as Kaldi's ``make_fbank.sh`` does).
        scp_path: scp to write after the archive is in place (None = none).
        items: ``(key, (T, F) float array)`` pairs, written in this order.
        compress: store Kaldi compressed matrices (``copy-feats --compress=true``).
        compression_method: Kaldi compression method (default 1, automatic).

    Returns:
        key -> ``"<ark_path>:<offset>"`` for every written item, in order.
    """
    import kaldiio

    ark_path = Path(ark_path)
    ark_path.parent.mkdir(parents=True, exist_ok=True)
    method = compression_method if compress else None
    scp: dict[str, str] = {}
    # atomic_write renames the archive into place only once it is complete and synced.
    with atomic_write(ark_path, "wb", encoding=None) as f:
        for key, mat in items:
            if not key or any(c.isspace() for c in key):
                raise FeatsError(f"{ark_path}: bad key {key!r} (empty or containing whitespace)")
            arr = np.asarray(mat)
            if arr.dtype not in (np.float32, np.float64):
                arr = arr.astype(np.float32)
            offset = f.tell() + len(key.encode("utf-8")) + 1  # matrix starts after "key "
            kaldiio.save_ark(f, {key: arr}, compression_method=method)
            scp[key] = f"{ark_path}:{offset}"
    if scp_path is not None:
        with atomic_write(scp_path) as f:
            for key, value in scp.items():
                f.write(f"{key} {value}\n")
    return scp


def read_feats(rxspec: str) -> np.ndarray:
    """Load one matrix from an scp value (``foo.ark:123``), a Kaldi matrix file or ``cmd |``.

    Args:
        rxspec: Kaldi rxspecifier as found in the second column of ``feats.scp``.

    Returns:
        (T, F) array (float32 for features, float64 for double matrices such as CMVN stats).
    """
    import kaldiio

    try:
        arr = kaldiio.load_mat(rxspec)
    except (OSError, ValueError, EOFError, RuntimeError, TypeError, AssertionError, KeyError, IndexError) as e:
        # kaldiio checks truncated or corrupt archives with assert statements
        raise FeatsError(f"cannot read matrix {rxspec!r}: {e or type(e).__name__} (truncated or corrupt?)") from e
    # kaldiio may return a read-only view of its buffer; torch.from_numpy wants a writable array.
    return arr if arr.flags.writeable else arr.copy()


class FeatsReader(Mapping[str, np.ndarray]):
    """Lazy utterance -> matrix mapping over a ``feats.scp`` (or ``cmvn.scp``) dictionary.

    Matrices are read on access, one at a time; nothing is cached.

    Args:
        feats_scp: key -> rxspecifier, e.g. ``DataDir.feats_scp``.
    """

    def __init__(self, feats_scp: Mapping[str, str]) -> None:
        self.scp = dict(feats_scp)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.scp:
            raise KeyError(key)
        try:
            return read_feats(self.scp[key])
        except FeatsError as e:
            raise FeatsError(f"utterance {key}: {e}") from e

    def __iter__(self) -> Iterator[str]:
        return iter(self.scp)

    def __len__(self) -> int:
        return len(self.scp)

    def dim(self) -> int:
        """Feature dimension, from the first matrix (0 for an empty scp)."""
        for key in self.scp:
            return int(self[key].shape[1])
        return 0
