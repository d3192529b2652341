"""Logging set-up: the single place where handlers and formats are configured.

Every line carries a timestamp; distributed runs add the rank. Scripts call
:func:`setup_logging` once and then :func:`log_command_line`.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys

_FORMAT = "%(asctime)s {rank}%(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: int = 0, quiet: bool = False, log_file: str | None = None,
                  rank: int | None = None) -> None:
    """Configure the root logger.

    Args:
        verbose: 0 = INFO, 1+ = DEBUG.
        quiet: only warnings and errors (overrides ``verbose``).
        log_file: also append log lines to this file.
        rank: distributed rank to show on every line (default: ``$RANK`` if set).
    """
    if rank is None and os.environ.get("RANK") is not None and os.environ.get("WORLD_SIZE", "1") != "1":
        rank = int(os.environ["RANK"])
    fmt = _FORMAT.format(rank=f"[rank {rank}] " if rank is not None else "")
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format=fmt, datefmt="%Y-%m-%d %H:%M:%S", handlers=handlers,
                        force=True)


def log_command_line(logger: logging.Logger | None = None) -> None:
    """Log the command line of the running process, shell-quoted (Kaldi scripts do the same)."""
    (logger or logging.getLogger("asr")).info("%s", shlex.join(sys.argv))
