"""Atomic file writing: the one way this toolkit writes outputs that must not be lost.

A partially written file is never visible under its final name: data goes to a
temporary file in the same directory, is flushed to disk, then renamed over the
target (``os.replace`` is atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"  # temporary files are ``.<name>.<random>.tmp`` next to their target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(directory: str | os.PathLike, name_glob: str = "*") -> list[Path]:
    """Remove the temporary files that :func:`atomic_write` left in ``directory`` when its process was killed.

    Only files named ``.<name>.<random>.tmp`` with ``<name>`` matching ``name_glob`` are removed;
    call it where no other process is writing into ``directory`` (e.g. a training run starting in
    its experiment dir). Returns the removed paths.
    """
    removed = []
    for p in Path(directory).glob(f".{name_glob}.*{TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; rename it over ``path`` on success.

    The file gets the permissions an ordinary ``open(path, "w")`` would give (0666 less the
    umask), not ``mkstemp``'s private 0600.

    Args:
        path: final file name.
        mode: ``"w"`` (text, default) or ``"wb"`` (binary).
        encoding: text encoding (ignored in binary mode), default utf-8.

    Yields:
        The open temporary file. If the ``with`` body raises, the temporary
        file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        if "b" in mode:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding, newline="\n")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_save_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb", encoding=None) as f:
        f.write(data)
