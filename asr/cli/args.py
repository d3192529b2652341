"""Shared command-line conventions: dotted config overrides and logging options."""

from __future__ import annotations

import argparse


def split_overrides(rest: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``--section.field value`` / ``--section.field=value`` tokens from the rest.

    Returns:
        ``(overrides, remaining)`` where overrides are ``section.field=value`` strings.
    """
    overrides, remaining = [], []
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.startswith("--") and "." in tok.split("=", 1)[0]:
            key = tok[2:]
            if "=" in key:
                overrides.append(key)
            elif i + 1 < len(rest):
                overrides.append(f"{key}={rest[i + 1]}")
                i += 1
            else:
                raise SystemExit(f"option {tok} needs a value")
        else:
            remaining.append(tok)
        i += 1
    # Kaldi-style dashes inside field names are accepted: --model.hidden-size 320
    return [_underscore_key(o) for o in overrides], remaining


def _underscore_key(override: str) -> str:
    key, value = override.split("=", 1)
    return f"{key.replace('-', '_')}={value}"


def add_logging_args(p: argparse.ArgumentParser) -> None:
    """``-v/--verbose``, ``-q/--quiet`` and ``--log-file``."""
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("--log-file", default=None, help="also write the log to this file")
