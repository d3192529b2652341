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


def add_lm_args(p: argparse.ArgumentParser) -> None:
    """``--lm``, ``--lm-weight`` and ``--word-score``: lexicon + word n-gram search (asr decode, transcribe)."""
    p.add_argument("--lm", default=None, help="word n-gram LM (ARPA, e.g. from asr train-lm): lexicon decoding")
    p.add_argument("--lm-weight", type=float, default=1.0,
                   help="with --lm: weight of the LM's log10 probabilities (default 1.0; a recipe's "
                        "decode_*_lm/scoring/lmwt holds the tuned one)")
    p.add_argument("--word-score", type=float, default=0.0,
                   help="with --lm: score added per word, minus Kaldi's word insertion penalty (default 0.0)")


def lexicon_decoder(tokenizer: object, args: argparse.Namespace) -> object | None:
    """The :class:`asr.decode.lexicon.LexiconDecoder` of :func:`add_lm_args`' options (None without --lm).

    ``args.beam`` is the search beam; 1 (greedy without an LM) means the decoder's default of 50.
    """
    if not args.lm:
        return None
    from asr.decode.lexicon import LexiconDecoder

    return LexiconDecoder(tokenizer, args.lm, beam=50 if args.beam == 1 else args.beam,
                          lm_weight=args.lm_weight, word_score=args.word_score)
