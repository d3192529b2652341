"""Output units for CTC: characters, sentencepiece BPE, and phones through a lexicon.

Every tokenizer puts the CTC blank ``<blk>`` at index 0, normalises text with
:func:`asr.text.normalize.normalize_text` (one casing policy, single spaces)
and keeps everything it needs (unit inventory, sentencepiece model bytes,
lexicon) in :meth:`Tokenizer.state`, plain Python data that a checkpoint
stores; :meth:`Tokenizer.from_state` rebuilds it. :meth:`Tokenizer.save`
also writes human-readable copies (``units.txt`` in Kaldi ``words.txt``
style, ``bpe.model``, ``lexicon.txt``).

Word boundaries, per unit type:

- ``char``: units are the characters seen in the training text plus the word
  separator ``▁`` placed *between* words (``HI YOU`` -> ``H I ▁ Y O U``).
- ``bpe``: sentencepiece pieces; a piece starting with ``▁`` starts a word.
- ``phone``: each word is replaced by its first pronunciation; there is no
  word separator, so words cannot be recovered from phones without a lexicon
  decoder. ``decode`` returns the phone sequence and ``word_boundaries``
  treats every phone as a "word" of its own.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from asr.errors import AsrError
from asr.fileio import atomic_save_bytes, atomic_write
from asr.text.lexicon import Lexicon, read_lexicon, strip_stress, write_lexicon
from asr.text.normalize import normalize_text

log = logging.getLogger(__name__)

BLANK = "<blk>"
WORD_SEP = "\u2581"  # "▁", sentencepiece's word-start mark; used as the char-level word separator
OOV_POLICIES = ("error", "skip", "spell")
STATE_VERSION = 1


class TokenizerError(AsrError):
    """Text that cannot be turned into units (unknown character, OOV word, bad options)."""


def _where(utt: str | None, text: str) -> str:
    return f"utterance {utt}" if utt is not None else f"text {text!r}"


class Tokenizer:
    """Base class: maps normalised text to unit ids and back. Index 0 is the CTC blank ``<blk>``.

    Attributes:
        kind: ``"char"``, ``"bpe"`` or ``"phone"``.
        blank: id of the CTC blank (0; -1 for units without one, :class:`PdfUnits`).
        tokens: unit names, ``tokens[i]`` is unit ``i``; ``tokens[0] == "<blk>"``.
        case: casing policy of :func:`normalize_text` (``upper``/``lower``/``keep``).
    """

    kind: ClassVar[str] = ""
    blank: int = 0
    _kinds: ClassVar[dict[str, type[Tokenizer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Tokenizer._kinds[cls.kind] = cls

    def __init__(self, tokens: list[str], case: str = "upper") -> None:
        if self.blank == 0 and (not tokens or tokens[0] != BLANK):
            raise TokenizerError(f"unit 0 must be the CTC blank {BLANK!r}")
        if len(set(tokens)) != len(tokens):
            raise TokenizerError("duplicate units in the unit inventory")
        normalize_text("", case)  # validates the policy
        self.tokens = list(tokens)
        self.case = case
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        """Number of units including the blank (the model's output dimension)."""
        return len(self.tokens)

    def normalize(self, text: str) -> str:
        """The text as this tokenizer sees it (:func:`normalize_text` with its casing policy)."""
        return normalize_text(text, self.case)

    def encode(self, text: str, utt: str | None = None) -> list[int]:
        """Unit ids of ``text`` (normalised first), never containing the blank.

        Args:
            text: transcript.
            utt: utterance id, named in error messages.

        Raises:
            TokenizerError: a character or word that has no unit (message names ``utt``).
        """
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """Text of unit ids (blanks ignored); words joined by single spaces."""
        return " ".join(w for w, _, _ in self.word_boundaries(ids))

    def word_boundaries(self, ids: Iterable[int]) -> list[tuple[str, int, int]]:
        """Words of a unit sequence with their positions.

        Args:
            ids: unit ids (e.g. ``Hypothesis.tokens``); blanks are skipped.

        Returns:
            ``(word, first, last)`` per word: ``ids[first:last + 1]`` spell the
            word (word separators excluded).
        """
        raise NotImplementedError

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        ids = [int(i) for i in ids]
        for i in ids:
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"unit id {i} outside [0, {len(self.tokens)})")
        return ids

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as plain Python data (str, list, dict, bytes)."""
        return {"kind": self.kind, "version": STATE_VERSION, "tokens": list(self.tokens), "case": self.case}

    @staticmethod
    def from_state(d: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`state` output.

        Raises:
            TokenizerError: unknown kind or a state that does not match its inventory.
        """
        kind = d.get("kind")
        if kind not in Tokenizer._kinds:
            raise TokenizerError(f"unknown tokenizer kind {kind!r} in saved state")
        tok = Tokenizer._kinds[kind]._from_state(d)
        if tok.tokens != list(d["tokens"]):
            raise TokenizerError(f"saved {kind} tokenizer state is inconsistent with its unit list")
        return tok

    @classmethod
    def _from_state(cls, d: dict[str, Any]) -> Tokenizer:
        raise NotImplementedError

    def save(self, dir: str | os.PathLike) -> None:
        """Write human-readable copies into ``dir``: ``units.txt`` ("unit id" lines, Kaldi words.txt style)."""
        dir = Path(dir)
        with atomic_write(dir / "units.txt") as f:
            for i, t in enumerate(self.tokens):
                f.write(f"{t} {i}\n")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, case={self.case!r})"


class CharTokenizer(Tokenizer):
    """Character units plus the word separator ``▁`` between words.

    Args:
        chars: the characters (each a one-character string, no space and no ``▁``).
        case: casing policy (default ``"upper"``).

    Units are ``["<blk>", "▁", *sorted(chars)]``.
    """

    kind = "char"

    def __init__(self, chars: Iterable[str], case: str = "upper") -> None:
        chars = sorted(set(chars))
        for c in chars:
            if len(c) != 1 or c.isspace() or c == WORD_SEP:
                raise TokenizerError(f"invalid character unit {c!r}")
        super().__init__([BLANK, WORD_SEP, *chars], case)
        self.sep = 1

    @classmethod
    def from_texts(cls, texts: Iterable[str], case: str = "upper") -> CharTokenizer:
        """Inventory = every character of the normalised training ``texts``.

        Raises:
            TokenizerError: the texts contain ``▁`` or no characters at all.
        """
        chars: set[str] = set()
        for text in texts:
            chars.update(normalize_text(text, case).replace(" ", ""))
        if WORD_SEP in chars:
            raise TokenizerError(f"training text contains the word separator {WORD_SEP!r}")
        if not chars:
            raise TokenizerError("no characters in the training text")
        return cls(chars, case)

    def encode(self, text: str, utt: str | None = None) -> list[int]:
        ids: list[int] = []
        for n, word in enumerate(self.normalize(text).split(" ")):
            if not word:
                continue
            if n:
                ids.append(self.sep)
            for c in word:
                i = self._ids.get(c, 0)
                if i <= self.sep:
                    raise TokenizerError(f"{_where(utt, text)}: character {c!r} (U+{ord(c):04X}) in word "
                                         f"{word!r} is not a {self.kind} unit")
                ids.append(i)
        return ids

    def word_boundaries(self, ids: Iterable[int]) -> list[tuple[str, int, int]]:
        out: list[tuple[str, int, int]] = []
        first = last = -1
        chars: list[str] = []
        for pos, i in enumerate(self._check_ids(ids)):
            if i == self.blank:
                continue
            if i == self.sep:
                if chars:
                    out.append(("".join(chars), first, last))
                chars = []
                continue
            if not chars:
                first = pos
            chars.append(self.tokens[i])
            last = pos
        if chars:
            out.append(("".join(chars), first, last))
        return out

    @classmethod
    def _from_state(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(d["tokens"][2:], d["case"])


class BpeTokenizer(Tokenizer):
    """Sentencepiece BPE pieces; the trained model's bytes live in the tokenizer (and its state).

    Args:
        model: serialized sentencepiece model (``<blk>`` at id 0, ``<unk>`` at id 1).
        case: casing policy (default ``"upper"``).
    """

    kind = "bpe"

    def __init__(self, model: bytes, case: str = "upper") -> None:
        import sentencepiece as spm

        self.model = bytes(model)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model)
        super().__init__([self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())], case)
        self.unk = self.sp.unk_id()

    @classmethod
    def from_texts(cls, texts: Iterable[str], vocab_size: int = 100, case: str = "upper") -> BpeTokenizer:
        """Train a BPE model on the normalised ``texts`` in memory (deterministic: one thread, fixed options).

        Args:
            texts: training transcripts.
            vocab_size: number of units including ``<blk>`` and ``<unk>`` (default 100). It is an
                upper limit: a small corpus may give fewer pieces (logged as a warning).
            case: casing policy.

        Raises:
            TokenizerError: no text, or sentencepiece rejects the options (e.g. vocab_size too small).
        """
        import sentencepiece as spm

        lines = [t for t in (normalize_text(x, case) for x in texts) if t]
        if not lines:
            raise TokenizerError("no training text for the BPE model")
        if WORD_SEP in "".join(lines):
            raise TokenizerError(f"training text contains the word separator {WORD_SEP!r}")
        buf = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=buf, vocab_size=vocab_size, model_type="bpe",
                character_coverage=1.0, normalization_rule_name="identity", control_symbols=[BLANK],
                unk_id=1, bos_id=-1, eos_id=-1, pad_id=-1, hard_vocab_limit=False, num_threads=1,
                input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
        except RuntimeError as e:
            raise TokenizerError(f"sentencepiece BPE training failed (vocab_size={vocab_size}): {e}") from e
        tok = cls(buf.getvalue(), case)
        if tok.vocab_size < vocab_size:
            log.warning("BPE: the training text supports only %d units (asked for %d)", tok.vocab_size, vocab_size)
        return tok

    def encode(self, text: str, utt: str | None = None) -> list[int]:
        norm = self.normalize(text)
        ids = self.sp.encode(norm)
        if self.unk in ids:
            bad = next(((c, w) for w in norm.split(" ") for c in w if self.sp.piece_to_id(c) == self.unk),
                       ("?", norm))
            raise TokenizerError(f"{_where(utt, text)}: character {bad[0]!r} (U+{ord(bad[0]):04X}) in word "
                                 f"{bad[1]!r} is not covered by the BPE model")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.sp.decode([i for i in self._check_ids(ids) if i != self.blank]).split())

    def word_boundaries(self, ids: Iterable[int]) -> list[tuple[str, int, int]]:
        out: list[tuple[str, int, int]] = []
        ids = self._check_ids(ids)
        start: list[int] = []  # positions of the current word's pieces
        for pos, i in enumerate(ids):
            if i == self.blank:
                continue
            if self.tokens[i].startswith(WORD_SEP) and start:
                out.append(self._word(ids, start))
                start = []
            start.append(pos)
        if start:
            out.append(self._word(ids, start))
        return [w for w in out if w[0]]

    def _word(self, ids: list[int], pos: list[int]) -> tuple[str, int, int]:
        return "".join(self.sp.decode([ids[p] for p in pos]).split()), pos[0], pos[-1]

    def state(self) -> dict[str, Any]:
        return {**super().state(), "model": self.model}

    @classmethod
    def _from_state(cls, d: dict[str, Any]) -> BpeTokenizer:
        return cls(d["model"], d["case"])

    def save(self, dir: str | os.PathLike) -> None:
        """Write ``units.txt`` and the sentencepiece model ``bpe.model`` into ``dir``."""
        super().save(dir)
        atomic_save_bytes(Path(dir) / "bpe.model", self.model)


class PhoneTokenizer(Tokenizer):
    """Phones from a pronunciation lexicon; each word becomes its first pronunciation.

    Args:
        lexicon: ``{word: [pronunciation, ...]}`` (see :func:`asr.text.lexicon.read_lexicon`).
            Words are normalised with the casing policy; all pronunciations are kept
            (for a later lexicon decoder) but only the first is used by :meth:`encode`.
        case: casing policy (default ``"upper"``, as CMU-style lexicons).
        oov: what :meth:`encode` does with a word missing from the lexicon: ``"error"``
            (default; TokenizerError naming the utterance and the word), ``"skip"`` (drop the
            word, warn once per word) or ``"spell"`` (concatenate the first pronunciations of
            its letters, looked up as lexicon words, e.g. ``XYZ`` -> ``X`` ``Y`` ``Z``).
        strip_stress: map ``AH0``/``AH1``/``AH2`` to ``AH`` (default False).
        phones: the unit inventory without the blank; default: every phone in the
            lexicon (after stress stripping), sorted.
    """

    kind = "phone"

    def __init__(self, lexicon: Lexicon, case: str = "upper", oov: str = "error", strip_stress: bool = False,
                 phones: list[str] | None = None) -> None:
        if oov not in OOV_POLICIES:
            raise TokenizerError(f"oov must be one of {OOV_POLICIES}, got {oov!r}")
        lex: Lexicon = {}
        for word, prons in lexicon.items():
            key = normalize_text(word, case)
            dst = lex.setdefault(key, [])
            for p in prons:
                if not p:
                    raise TokenizerError(f"lexicon word {word!r} has an empty pronunciation")
                if list(p) not in dst:
                    dst.append(list(p))
        if not lex:
            raise TokenizerError("empty lexicon")
        self.lexicon = lex
        self.oov = oov
        self.strip_stress = bool(strip_stress)
        if phones is None:
            phones = sorted({self._phone(p) for prons in lex.values() for pron in prons for p in pron})
        super().__init__([BLANK, *phones], case)
        self._warned: set[str] = set()
        # Only the first pronunciation becomes training targets; cache it as ids.
        self._pron_ids: dict[str, list[int] | None] = {}

    def _phone(self, p: str) -> str:
        return strip_stress(p) if self.strip_stress else p

    @classmethod
    def from_lexicon(cls, lexicon: str | os.PathLike | Lexicon, case: str = "upper", oov: str = "error",
                     strip_stress: bool = False) -> PhoneTokenizer:
        """Build from a lexicon file path (read with :func:`read_lexicon`) or an in-memory lexicon."""
        lex = read_lexicon(lexicon) if isinstance(lexicon, (str, os.PathLike)) else lexicon
        return cls(lex, case=case, oov=oov, strip_stress=strip_stress)

    def _word_ids(self, word: str) -> list[int] | None:
        if word not in self._pron_ids:
            prons = self.lexicon.get(word)
            ids = None
            if prons:
                ids = [self._ids.get(self._phone(p), 0) for p in prons[0]]
                if 0 in ids:
                    missing = next(p for p in prons[0] if self._ids.get(self._phone(p), 0) == 0)
                    raise TokenizerError(f"lexicon word {word!r}: phone {missing!r} is not a unit")
            self._pron_ids[word] = ids
        return self._pron_ids[word]

    def encode(self, text: str, utt: str | None = None) -> list[int]:
        out: list[int] = []
        for word in self.normalize(text).split():
            ids = self._word_ids(word)
            if ids is not None:
                out.extend(ids)
            elif self.oov == "skip":
                if word not in self._warned:
                    self._warned.add(word)
                    log.warning("%s: word %r is not in the lexicon; skipped (oov=skip, warned once per word)",
                                _where(utt, text), word)
            elif self.oov == "spell":
                for letter in word:
                    ids = self._word_ids(letter)
                    if ids is None:
                        raise TokenizerError(f"{_where(utt, text)}: word {word!r} is not in the lexicon and "
                                             f"cannot be spelled: letter {letter!r} is not in the lexicon either")
                    out.extend(ids)
            else:
                raise TokenizerError(f"{_where(utt, text)}: word {word!r} is not in the lexicon "
                                     "(oov='error'; use oov='skip' or 'spell', or add the word)")
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The phone sequence, phones separated by single spaces (words are not recoverable)."""
        return " ".join(self.tokens[i] for i in self._check_ids(ids) if i != self.blank)

    def word_boundaries(self, ids: Iterable[int]) -> list[tuple[str, int, int]]:
        """Each phone as a "word" of its own: ``(phone, i, i)``."""
        return [(self.tokens[i], pos, pos) for pos, i in enumerate(self._check_ids(ids)) if i != self.blank]

    def state(self) -> dict[str, Any]:
        return {**super().state(), "lexicon": {w: [list(p) for p in ps] for w, ps in self.lexicon.items()},
                "oov": self.oov, "strip_stress": self.strip_stress}

    @classmethod
    def _from_state(cls, d: dict[str, Any]) -> PhoneTokenizer:
        return cls(d["lexicon"], case=d["case"], oov=d["oov"], strip_stress=d["strip_stress"],
                   phones=list(d["tokens"][1:]))

    def save(self, dir: str | os.PathLike) -> None:
        """Write ``units.txt`` and the lexicon (all pronunciations, as given) as ``lexicon.txt`` into ``dir``."""
        super().save(dir)
        write_lexicon(Path(dir) / "lexicon.txt", self.lexicon)


class PdfUnits(Tokenizer):
    """The output units of a hybrid (frame-level) system: the pdfs (tied HMM states) of an HMM-GMM
    alignment model, unit ``i`` = pdf ``i``, with no blank and no spelling.

    A hybrid model's outputs are scored as ``log p(pdf | x) - log p(pdf)``, so the pdfs' frame
    counts over the training alignments (the priors) are part of the units and of every checkpoint.

    Args:
        num_pdfs: number of pdfs (the model's output dimension).
        counts: (num_pdfs,) frame counts of each pdf in the training alignments.
    """

    kind = "pdf"
    blank = -1  # none (so unit 0 need not be <blk>): CTC decoders refuse these units

    def __init__(self, num_pdfs: int, counts: list[float]) -> None:
        if num_pdfs < 1 or len(counts) != num_pdfs:
            raise TokenizerError(f"pdf units: {len(counts)} counts for {num_pdfs} pdfs")
        super().__init__([f"pdf{i}" for i in range(num_pdfs)], case="keep")
        self.counts = [float(c) for c in counts]

    def log_priors(self) -> list[float]:
        """Log prior of each pdf from its training frame count (:func:`asr.align.labels.log_priors`:
        a pdf never seen in training gets a prior that keeps the decoder off it)."""
        from asr.align.labels import log_priors

        return [float(x) for x in log_priors(self.counts)]

    def encode(self, text: str, utt: str | None = None) -> list[int]:
        raise TokenizerError(f"{_where(utt, text)}: pdf units have no spelling; a hybrid system trains on "
                             f"frame labels (data.alignments) and decodes through an HCLG graph")

    def word_boundaries(self, ids: Iterable[int]) -> list[tuple[str, int, int]]:
        return [(self.tokens[i], pos, pos) for pos, i in enumerate(self._check_ids(ids))]

    def state(self) -> dict[str, Any]:
        return {**super().state(), "counts": list(self.counts)}

    @classmethod
    def _from_state(cls, d: dict[str, Any]) -> PdfUnits:
        return cls(len(d["tokens"]), d["counts"])

    def save(self, dir: str | os.PathLike) -> None:
        """Write ``units.txt`` and ``prior_counts`` (Kaldi's vector text: ``[ c0 c1 ... ]``) into ``dir``."""
        super().save(dir)
        with atomic_write(Path(dir) / "prior_counts") as f:
            f.write("[ " + " ".join(f"{c:g}" for c in self.counts) + " ]\n")


def build_tokenizer(units: str, texts: Iterable[str], vocab_size: int = 100,
                    lexicon: str | os.PathLike | Lexicon | None = None, case: str = "upper", oov: str = "error",
                    strip_stress: bool = False) -> Tokenizer:
    """Build the output units of a system from its training transcripts.

    Args:
        units: ``"char"``, ``"bpe"`` or ``"phone"``.
        texts: training transcripts (any iterable; read once).
        vocab_size: BPE vocabulary size including ``<blk>`` and ``<unk>`` (default 100; bpe only).
        lexicon: lexicon file or ``{word: [pronunciation, ...]}`` (phone only; required there).
        case: casing policy of :func:`normalize_text` (default ``"upper"``).
        oov: phone OOV policy: ``"error"`` (default), ``"skip"`` or ``"spell"``.
        strip_stress: phone only: drop stress digits (``AH0`` -> ``AH``).

    Returns:
        The tokenizer; index 0 is the CTC blank.

    Raises:
        TokenizerError: unknown ``units``, missing lexicon, or text that gives no units.
    """
    if units == "char":
        return CharTokenizer.from_texts(texts, case=case)
    if units == "bpe":
        return BpeTokenizer.from_texts(texts, vocab_size=vocab_size, case=case)
    if units == "phone":
        if lexicon is None or lexicon == "":
            raise TokenizerError("units=phone needs a lexicon")
        return PhoneTokenizer.from_lexicon(lexicon, case=case, oov=oov, strip_stress=strip_stress)
    raise TokenizerError(f"unknown output units {units!r} (char, bpe or phone)")
