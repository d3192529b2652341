"""Pronunciation lexicons in Kaldi / CMU format: ``WORD PH1 PH2 ...``, one pronunciation a line.

Accepted variations, so that both ``data/local/dict/lexicon.txt`` files and a
raw ``cmudict`` read unchanged:

- fields separated by any whitespace (spaces or tabs);
- several lines for one word are alternative pronunciations, kept in file order
  (the first is the one used for training targets);
- CMU's ``WORD(2)`` spelling of an alternative is read as ``WORD``;
- ``;;;`` lines (CMU comments) and blank lines are skipped;
- a second field that is a number is a pronunciation probability (Kaldi
  ``lexiconp.txt``) and is dropped.
"""

from __future__ import annotations

import os
import re

from asr.errors import AsrError
from asr.fileio import atomic_write

_CMU_VARIANT = re.compile(r"^(.+)\(\d+\)$")
_STRESS = re.compile(r"(?<=\D)\d+$")

Lexicon = dict[str, list[list[str]]]  # word -> pronunciations (each a list of phones), file order


class LexiconError(AsrError):
    """A lexicon file that cannot be read; the message names the file and line."""


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_lexicon(path: str | os.PathLike) -> Lexicon:
    """Read a pronunciation lexicon.

    Args:
        path: lexicon file (``WORD PH1 PH2 ...`` lines, see the module docstring).

    Returns:
        ``{word: [pronunciation, ...]}`` in file order; each pronunciation is a
        list of phones. Duplicate pronunciations of a word are kept once.

    Raises:
        LexiconError: missing/unreadable file or a line without phones (names file:line).
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LexiconError(f"{path}: cannot read lexicon: {e}") from e
    lex: Lexicon = {}
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith(";;;"):
            continue
        word, phones = fields[0], fields[1:]
        if len(phones) >= 2 and _is_number(phones[0]):
            phones = phones[1:]
        if not phones:
            raise LexiconError(f"{path}:{n}: word {word!r} has no pronunciation")
        m = _CMU_VARIANT.match(word)
        if m:
            word = m.group(1)
        prons = lex.setdefault(word, [])
        if phones not in prons:
            prons.append(phones)
    if not lex:
        raise LexiconError(f"{path}: lexicon is empty")
    return lex


def strip_stress(phone: str) -> str:
    """Remove a trailing stress digit from a phone: ``AH0`` -> ``AH``; ``B`` and ``2`` unchanged."""
    return _STRESS.sub("", phone)


def write_lexicon(path: str | os.PathLike, lexicon: Lexicon) -> None:
    """Write ``lexicon`` as ``WORD PH1 PH2 ...`` lines (one per pronunciation), atomically."""
    with atomic_write(path) as f:
        for word, prons in lexicon.items():
            for pron in prons:
                f.write(f"{word} {' '.join(pron)}\n")
