"""Shared command-line conventions: dotted config overrides, logging, beam and LM options, booleans."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

from asr.errors import AsrError

log = logging.getLogger(__name__)


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


def add_bool_arg(p: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    """A boolean option, spelled the same in every subcommand: ``--name`` / ``--no-name``.

    Kaldi's ``--name true|false`` is for the shell scripts of ``recipes/`` (they translate
    it); given to ``asr`` itself it still works for one release, with a warning
    (:func:`kaldi_bool_values`).
    """
    p.add_argument(name, action=argparse.BooleanOptionalAction, default=default, help=help)


def kaldi_bool_values(argv: list[str], names: list[str]) -> list[str]:
    """``argv`` with the deprecated ``--name true|false`` / ``--name=true|false`` of ``names`` turned into
    ``--name`` / ``--no-name``, warning once for each."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        key, eq, value = a.partition("=")
        if key in names:
            if not eq and i + 1 < len(argv) and argv[i + 1].lower() in _BOOL_WORDS:
                value, eq = argv[i + 1], "="
                i += 1
            if eq:
                v = value.lower()
                if v not in _BOOL_WORDS:
                    raise AsrError(f"{key}: expected true or false, got {value!r}")
                flag = key if _BOOL_WORDS[v] else "--no-" + key[2:]
                log.warning("%s %s is deprecated: write %s", key, value, flag)
                a = flag
        out.append(a)
        i += 1
    return out


_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def add_logging_args(p: argparse.ArgumentParser) -> None:
    """``-v/--verbose``, ``-q/--quiet`` and ``--log-file``."""
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("--log-file", default=None, help="also write the log to this file")


def add_model_arg(p: argparse.ArgumentParser, default_help: str | None = None) -> None:
    """``--model``: a checkpoint file or an experiment dir, the same in every subcommand.

    An experiment dir means its ``final.pt``, else its newest ``epoch-N.pt``
    (:func:`asr.checkpoint.load_checkpoint`). A subcommand that writes into Kaldi's
    ``exp/<model>/<output>`` layout defaults to the output dir's parent (``default_help``
    says so); one without an output dir requires the option.
    """
    p.add_argument("--model", default=None, required=default_help is None,
                   help="checkpoint file, or an experiment dir (its final.pt, else its newest epoch-N.pt)"
                        + (f"; default: {default_help}" if default_help else ""))


def add_beam_arg(p: argparse.ArgumentParser) -> None:
    """``--beam``: hypotheses kept per output frame, with or without an LM (default: 1 = greedy, 50 with --lm)."""
    p.add_argument("--beam", type=int, default=None,
                   help="hypotheses kept per frame: without --lm 1 = greedy, N > 1 = CTC prefix beam search; "
                        "with --lm the lexicon search's beam (default: 1, or 50 with --lm)")


def beam_of(args: argparse.Namespace) -> int:
    """The beam :func:`add_beam_arg` asked for (its default depends on ``--lm``).

    Raises:
        AsrError: a beam below 1.
    """
    beam = args.beam if args.beam is not None else (50 if getattr(args, "lm", None) else 1)
    if beam < 1:
        raise AsrError(f"--beam must be >= 1, got {beam}")
    return beam


def add_lm_args(p: argparse.ArgumentParser, grid: bool = False) -> None:
    """Options of the lexicon + word n-gram search (``asr decode``, ``asr transcribe``).

    One convention everywhere, Kaldi's: ``--lm-weight`` scales the LM's log10 probabilities and a
    positive ``--word-ins-penalty`` discourages insertions (it is subtracted once per word).

    Args:
        p: the parser.
        grid: also ``--lm-weights``/``--word-ins-penalties`` lists and ``--nj`` (decode a grid).
    """
    p.add_argument("--lm", default=None, help="word n-gram LM (ARPA, e.g. from asr train-lm): lexicon decoding")
    p.add_argument("--lexicon", default=None,
                   help="with --lm: phone units: pronunciation lexicon; char/BPE: file whose first column lists "
                        "the words (default: the LM's vocabulary, or the model's lexicon for phones)")
    p.add_argument("--lm-weight", default=None,
                   help="with --lm: weight of the LM's log10 probabilities (default 1.0; a recipe's "
                        "decode_*_lm/scoring/lmwt holds the tuned one)")
    p.add_argument("--word-ins-penalty", default=None,
                   help="with --lm: Kaldi's word insertion penalty, subtracted per word: positive values "
                        "discourage insertions (default 0.0; tuned: decode_*_lm/scoring/wip)")
    p.add_argument("--word-score", default=None, help=argparse.SUPPRESS)  # deprecated: = -word-ins-penalty
    if grid:
        p.add_argument("--lm-weights", default=None,
                       help="with --lm: LM weights to try, a grid with --word-ins-penalties (e.g. \"0.5 1 1.5 2\")")
        p.add_argument("--word-ins-penalties", default=None,
                       help="with --lm: word insertion penalties to try (e.g. \"0 0.5 1\")")
        p.add_argument("--nj", type=int, default=1,
                       help="with --lm: worker processes decoding grid settings in parallel (default 1)")
    p.add_argument("--beam-threshold", type=float, default=25.0,
                   help="with --lm: prune hypotheses this far below the best (default 25)")
    p.add_argument("--beam-size-token", type=int, default=0,
                   help="with --lm: units tried per frame, most probable first (default 0: all)")


def parse_values(option: str, text: str, minimum: float | None = None) -> list[str]:
    """The numbers of a weight option, kept as typed (they name Kaldi's ``wer_<lmwt>_<wip>`` files).

    Args:
        option: the option's name, for error messages.
        text: white-space (or comma) separated numbers.
        minimum: smallest allowed value (default None: any).

    Raises:
        AsrError: no value, a value that is not a finite number or below ``minimum``, or a repeated value.
    """
    values = text.replace(",", " ").split()
    if not values:
        raise AsrError(f"{option}: no value given")
    seen: set[float] = set()
    for v in values:
        try:
            x = float(v)
        except ValueError:
            raise AsrError(f"{option}: {v!r} is not a number") from None
        if not math.isfinite(x) or (minimum is not None and x < minimum):
            raise AsrError(f"{option}: {v!r} must be a finite number" + (f" >= {minimum:g}" if minimum is not None
                                                                         else ""))
        if x in seen:
            raise AsrError(f"{option}: {v!r} is given twice")
        seen.add(x)
    return values


def lm_grid(args: argparse.Namespace, default_lm_weights: str = "1.0",
            default_wips: str = "0.0") -> list[tuple[str, str]]:
    """The ``(lm_weight, word_ins_penalty)`` settings that :func:`add_lm_args`' options ask for, as typed.

    ``--word-score S`` (deprecated) is ``--word-ins-penalty -S``.

    Raises:
        AsrError: a single value and a list of the same weight, or bad numbers.
    """
    wip = args.word_ins_penalty
    if args.word_score is not None:
        log.warning("--word-score is deprecated: use --word-ins-penalty (Kaldi's sign: --word-score S is "
                    "--word-ins-penalty %s)", _negate(args.word_score))
        if wip is not None:
            raise AsrError("give --word-ins-penalty or the deprecated --word-score, not both")
        wip = _negate(args.word_score)
    lmwt_list, wip_list = getattr(args, "lm_weights", None), getattr(args, "word_ins_penalties", None)
    if args.lm_weight is not None and lmwt_list is not None:
        raise AsrError("give --lm-weight or --lm-weights, not both")
    if wip is not None and wip_list is not None:
        raise AsrError("give --word-ins-penalty or --word-ins-penalties, not both")
    lmwts = parse_values("--lm-weight" + ("" if args.lm_weight is not None else "s"),
                         args.lm_weight if args.lm_weight is not None else lmwt_list or default_lm_weights,
                         minimum=0.0)
    wips = parse_values("--word-ins-penalt" + ("y" if wip is not None else "ies"),
                        wip if wip is not None else wip_list or default_wips)
    return [(a, b) for a in lmwts for b in wips]


def _negate(value: str) -> str:
    """``-x`` of a number as typed (``"1.5"`` -> ``"-1.5"``, ``"-2"`` -> ``"2"``); other text is left to
    :func:`parse_values` to reject."""
    v = value.strip()
    if v.startswith("-"):
        return v[1:]
    try:
        return v if float(v) == 0 else "-" + v.lstrip("+")
    except ValueError:
        return v


def read_words(path: str, kind: str) -> Any:
    """The ``--lexicon`` file: a pronunciation lexicon (phone units) or a word list (first column).

    Raises:
        AsrError: unreadable or empty file.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise AsrError(f"{path}: cannot read the lexicon ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    fields = [line.split() for line in lines if line.strip() and not line.startswith(";;;")]
    if not fields:
        raise AsrError(f"{path}: the lexicon is empty")
    if kind == "phone" and any(len(f) > 1 for f in fields):
        from asr.text import read_lexicon

        return read_lexicon(path)
    return [f[0] for f in fields]


def lexicon_decoder(tokenizer: Any, args: argparse.Namespace, setting: tuple[str, str],
                    work_dir: str | Path | None = None) -> Any:
    """The :class:`asr.decode.lexicon.LexiconDecoder` of :func:`add_lm_args`' options (None without --lm).

    Args:
        tokenizer: the model's units.
        args: parsed options (``--beam`` as :func:`beam_of` resolves it).
        setting: the first ``(lm_weight, word_ins_penalty)`` to decode with (see :func:`lm_grid`).
        work_dir: where the decoder writes its lexicon and token files (default: a temporary dir).

    Raises:
        AsrError: missing LM (:class:`~asr.decode.lexicon.LexiconDecoder` says so) or lexicon file, bad beam
            options.
    """
    if not args.lm:
        return None
    if args.lexicon is not None and not Path(args.lexicon).is_file():
        raise AsrError(f"{args.lexicon}: no such lexicon file")
    if args.beam_size_token < 0:
        raise AsrError(f"--beam-size-token must be >= 0, got {args.beam_size_token}")
    from asr.decode.lexicon import LexiconDecoder

    words = read_words(args.lexicon, tokenizer.kind) if args.lexicon else None
    return LexiconDecoder(tokenizer, args.lm, words, beam=beam_of(args), beam_size_token=args.beam_size_token or None,
                          beam_threshold=args.beam_threshold, lm_weight=float(setting[0]),
                          word_score=-float(setting[1]), work_dir=work_dir)


def add_skip_bad_arg(p: argparse.ArgumentParser, what: str = "utterances") -> None:
    """``--skip-bad``, the same in every subcommand that reads audio or features."""
    add_bool_arg(p, "--skip-bad", False,
                 f"leave bad {what} (missing, empty, unreadable, too short) out, name them in a summary, "
                 f"and exit with status 3 when any was left out (default: name every bad one found and "
                 f"exit with status 1 before writing anything)")


def skipped_status(data: Any, logger: logging.Logger) -> int:
    """The exit status after ``data`` (an :class:`~asr.batches.UtteranceData`) was processed:
    0, or :data:`~asr.errors.EXIT_SKIPPED` with a summary of the skipped utterances in the log."""
    from asr.errors import EXIT_SKIPPED

    summary = data.skipped_summary()
    if summary is None:
        return 0
    logger.warning("%s", summary)
    return EXIT_SKIPPED
