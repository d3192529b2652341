"""CTC decoding constrained to the words of a lexicon, with a word n-gram LM.

The search is flashlight's ``LexiconDecoder`` with its KenLM back-end, reached
through :func:`torchaudio.models.decoder.ctc_decoder` (the ``flashlight-text``
wheel). Why this rather than a WFST decoder (Kaldi's HLG/TLG graphs,
k2/icefall, OpenFst + a C++ decoder):

- nothing to compile and nothing outside pip: ``flashlight-text`` ships
  manylinux wheels with KenLM built in, which reads ARPA files directly (our
  ``asr train-lm`` output), so no ``arpa2fst``/graph composition step and no
  multi-gigabyte decoding graphs;
- it is exactly the search asked for: a beam search over CTC frames whose
  token paths are constrained by a prefix tree (trie) of word spellings, with
  an LM weight, a word insertion score, LM look-ahead (unigram smearing in the
  trie) and beam/threshold pruning built in;
- the LM weight and insertion score are plain numbers of the search, so a
  grid over them re-runs the search on cached posteriors without rebuilding
  any graph (here: the KenLM model is loaded once, see :meth:`LexiconDecoder.set_weights`).

What a WFST decoder would add (lattices, exact rescoring, arbitrary
grammars) is not needed to tune and report WERs on CTC models.

Scores. A hypothesis with words ``w_1..w_N`` scores::

    sum_t ln p_AM(unit_t | x)  +  lm_weight * log10 P_LM(w_1..w_N </s>)  +  word_score * N

(flashlight's convention: KenLM gives log10 probabilities, so ``lm_weight``
= ln 10 ~ 2.3 weighs the LM like the acoustic model). Kaldi's scoring grid
uses a word insertion *penalty* ``wip`` that is subtracted per word, so
**word_score = -wip**: a positive ``wip`` removes words, a negative one
inserts them.

Spelling of words, per unit type (:func:`build_decoder_lexicon`). Flashlight
emits a word when the search reaches the end of its spelling and then returns
to the root of the trie, where the only unit it can repeat is its *silence*
unit. Spellings are chosen so that CTC's repeated frames are never mistaken
for a new word:

- ``char``: the word's characters followed by the word separator ``▁``, which
  is also the silence unit (repeatable between words), exactly as the
  tokenizer's targets separate words. The tokenizer puts ``▁`` only *between*
  words, so the model never emits one after the last word:
  :class:`LexiconDecoder` appends one synthetic frame in which ``▁`` has
  probability 1 (it costs nothing and completes the last word).
- ``bpe``: the word's sentencepiece pieces (``▁HE LLO``), and the silence unit
  is the blank. Ending the word on its last piece alone would mis-handle a last
  piece the model holds for several frames (the extra frames could only be
  scored as blank, or start the same word again), so every spelling is also
  entered with a trailing blank (``▁HE LLO <blk>``): that copy stays inside the
  word while the last piece repeats and emits the word on the next blank. The
  copy without the blank serves words followed directly, without a blank frame,
  by the next word. A synthetic final blank frame (probability 1) completes a
  word held to the last frame.
- ``phone``: every pronunciation of the word in the tokenizer's lexicon (or a
  lexicon given), phones mapped as the tokenizer maps them (stress stripping),
  each with and without a trailing blank as for BPE.

Words whose spelling needs a unit the tokenizer lacks are skipped (their count
is logged), and so are words the LM does not know (as Kaldi's ``G.fst`` cannot
produce them), so the decoding vocabulary is lexicon ∩ LM vocabulary.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from asr.errors import AsrError
from asr.fileio import atomic_write
from asr.text import BLANK, WORD_SEP, Tokenizer, TokenizerError, strip_stress

log = logging.getLogger(__name__)

# LM/graph symbols that are never words of the decoding lexicon.
SPECIAL_WORDS = frozenset({"<s>", "</s>", "<unk>", "<UNK>", "<eps>", "#0", "<SPOKEN_NOISE>", "!SIL"})
# Log-probability of "impossible" units in the synthetic final frame (finite: keeps flashlight's sums finite).
_IMPOSSIBLE = -1.0e5


class LexiconDecoderError(AsrError):
    """Unusable decoder input: missing or malformed ARPA file or lexicon, no decodable word."""


@dataclass
class DecoderLexicon:
    """Word spellings in the tokenizer's units, as flashlight's lexicon file holds them.

    Attributes:
        spellings: word -> list of spellings (each a list of unit names), in input order.
        sil_token: flashlight's silence unit: ``▁`` for characters, the blank otherwise.
        skipped: words left out because a unit of their spelling is unknown.
    """

    spellings: dict[str, list[list[str]]] = field(default_factory=dict)
    sil_token: str = BLANK
    skipped: list[str] = field(default_factory=list)

    def write(self, path: str | os.PathLike) -> None:
        """Write flashlight's lexicon file: ``WORD<TAB>unit unit ...``, one spelling a line (atomic)."""
        with atomic_write(path) as f:
            for word, spells in self.spellings.items():
                for s in spells:
                    f.write(f"{word}\t{' '.join(s)}\n")


def read_arpa_vocabulary(path: str | os.PathLike) -> list[str]:
    """The unigram words of an ARPA file (:func:`asr.lm.read_arpa_vocabulary`).

    Raises:
        LexiconDecoderError: missing or malformed file.
    """
    from asr.lm import ArpaError
    from asr.lm import read_arpa_vocabulary as read_vocabulary

    try:
        return read_vocabulary(path)
    except ArpaError as e:
        raise LexiconDecoderError(str(e)) from None


def _spell_word(tokenizer: Tokenizer, word: str) -> list[list[str]] | None:
    """Spellings of a word for char/bpe units; None when a unit is missing."""
    try:
        ids = tokenizer.encode(word)
    except TokenizerError:
        return None
    if not ids:
        return None
    units = [tokenizer.tokens[i] for i in ids]
    if tokenizer.kind == "char":
        if WORD_SEP in units:  # the "word" contained a space after normalisation
            return None
        return [[*units, WORD_SEP]]
    return [units, [*units, BLANK]]


def build_decoder_lexicon(tokenizer: Tokenizer,
                          words_or_lexicon: Iterable[str] | Mapping[str, Sequence[Sequence[str]]] | None = None,
                          ) -> DecoderLexicon:
    """Spell words in the tokenizer's units for flashlight's lexicon decoder.

    Args:
        tokenizer: the acoustic model's output units (``char``, ``bpe`` or ``phone``).
        words_or_lexicon: the words to decode. A word list (e.g. an LM's vocabulary): char and
            BPE words are spelled by the tokenizer, phone words get every pronunciation of the
            tokenizer's lexicon. A pronunciation lexicon ``{word: [[phone, ...], ...]}`` (phone
            units; for char/BPE only its words are used). None: the tokenizer's lexicon (phone
            units only). Special symbols (``<s>``, ``</s>``, ``<unk>``, ``<eps>``, ``#0``) are ignored.

    Returns:
        The spellings (words keep their given form; their spelling uses the tokenizer's text
        normalisation), the silence unit, and the skipped words (a count is logged).

    Raises:
        LexiconDecoderError: no words given for char/BPE units, or an unknown tokenizer kind.
    """
    kind = tokenizer.kind
    if kind not in ("char", "bpe", "phone"):
        raise LexiconDecoderError(f"lexicon decoding does not support {kind!r} units")
    if words_or_lexicon is None:
        if kind != "phone":
            raise LexiconDecoderError(f"{kind} units need a word list to decode (e.g. the LM's vocabulary)")
        words_or_lexicon = tokenizer.lexicon  # type: ignore[attr-defined]
    prons: Mapping[str, Sequence[Sequence[str]]] | None = None
    if isinstance(words_or_lexicon, Mapping):
        prons = words_or_lexicon
        words: Iterable[str] = list(words_or_lexicon)
    else:
        words = words_or_lexicon
    out = DecoderLexicon(sil_token=WORD_SEP if kind == "char" else BLANK)
    unit_set = set(tokenizer.tokens[1:])
    strip = bool(getattr(tokenizer, "strip_stress", False))
    no_pron: list[str] = []
    for word in words:
        if word in SPECIAL_WORDS or word in out.spellings:
            continue
        if kind == "phone":
            key = tokenizer.normalize(word)
            source = prons if prons is not None else tokenizer.lexicon  # type: ignore[attr-defined]
            cands = source.get(word) or source.get(key)
            if not cands:
                no_pron.append(word)
                continue
            spells = []
            for pron in cands:
                phones = [strip_stress(p) if strip else p for p in pron]
                if phones and all(p in unit_set for p in phones) and phones not in spells:
                    spells += [phones, [*phones, BLANK]]
        else:
            spells = _spell_word(tokenizer, word) or []
        if spells:
            out.spellings[word] = spells
        else:
            out.skipped.append(word)
    if out.skipped:
        log.warning("lexicon: skipped %d word(s) whose spelling uses units the model lacks (e.g. %s)",
                    len(out.skipped), ", ".join(out.skipped[:5]))
    if no_pron:
        log.warning("lexicon: skipped %d word(s) without a pronunciation (e.g. %s)", len(no_pron),
                    ", ".join(no_pron[:5]))
        out.skipped += no_pron
    return out


@dataclass
class LexiconHypothesis:
    """One decoded utterance.

    Attributes:
        words: the recognised words.
        score: total search score (acoustic + weighted LM + word scores).
    """

    words: list[str]
    score: float


class LexiconDecoder:
    """CTC beam search over the words of a lexicon with a word n-gram LM (flashlight via torchaudio).

    Args:
        tokenizer: the model's output units; its ``tokens`` order is the posteriors' last axis.
        lm_path: ARPA (or KenLM binary) word n-gram model.
        words_or_lexicon: words to decode (see :func:`build_decoder_lexicon`); default: the LM's
            vocabulary for char/BPE units, the tokenizer's lexicon for phones. With an ARPA file,
            only words the LM knows are kept (a KenLM binary's vocabulary is not read: all are kept).
        beam: hypotheses kept per frame (default 50).
        beam_size_token: units tried per frame, the most probable first (default None: all).
        beam_threshold: drop hypotheses scoring this much below the best (default 25.0).
        lm_weight: weight of the LM's log10 probabilities (default 1.0).
        word_score: added per word; Kaldi's word insertion penalty ``wip`` is ``-word_score`` (default 0.0).
        sil_score: added per frame of the silence unit between words (default 0.0).
        work_dir: where to write ``lexicon.txt`` and ``tokens.txt`` (kept); default: a temporary dir,
            removed once the decoder is built.

    Raises:
        LexiconDecoderError: missing/unreadable ARPA file, or no word that can be decoded.
    """

    def __init__(self, tokenizer: Tokenizer, lm_path: str | os.PathLike,
                 words_or_lexicon: Iterable[str] | Mapping[str, Sequence[Sequence[str]]] | None = None,
                 beam: int = 50, beam_size_token: int | None = None, beam_threshold: float = 25.0,
                 lm_weight: float = 1.0, word_score: float = 0.0, sil_score: float = 0.0,
                 work_dir: str | os.PathLike | None = None) -> None:
        from torchaudio.models.decoder import ctc_decoder

        if beam < 1:
            raise LexiconDecoderError(f"beam must be >= 1, got {beam}")
        lm_path = Path(lm_path)
        if not lm_path.is_file():
            raise LexiconDecoderError(f"{lm_path}: no such LM file")
        self.tokenizer = tokenizer
        self.lm_path = lm_path
        lm_words = read_arpa_vocabulary(lm_path) if not _is_kenlm_binary(lm_path) else None
        if words_or_lexicon is None and tokenizer.kind != "phone":
            if lm_words is None:
                raise LexiconDecoderError(f"{lm_path}: a binary LM needs a word list for {tokenizer.kind} units")
            words_or_lexicon = lm_words
        lexicon = build_decoder_lexicon(tokenizer, words_or_lexicon)
        if lm_words is not None:
            known = set(lm_words)
            oov = [w for w in lexicon.spellings if w not in known]
            if oov:
                log.info("lexicon: dropped %d word(s) that the LM does not know (e.g. %s)", len(oov),
                         ", ".join(oov[:5]))
                for w in oov:
                    del lexicon.spellings[w]
        if not lexicon.spellings:
            raise LexiconDecoderError(f"no word of the lexicon can be decoded with these units and {lm_path}")
        self.lexicon = lexicon
        self.sil_token = lexicon.sil_token
        # The unit of the synthetic last frame, which completes a word held to the end (module docstring).
        self._final_unit = tokenizer.tokens.index(self.sil_token)
        self.beam = beam
        self.beam_size_token = beam_size_token
        self.beam_threshold = beam_threshold
        self.sil_score = sil_score
        self._lm_weight = float(lm_weight)
        self._word_score = float(word_score)

        with tempfile.TemporaryDirectory(prefix="asr-lexdec-") as tmp:
            wd = Path(work_dir) if work_dir is not None else Path(tmp)
            wd.mkdir(parents=True, exist_ok=True)
            lexicon.write(wd / "lexicon.txt")
            with atomic_write(wd / "tokens.txt") as f:
                f.write("".join(t + "\n" for t in tokenizer.tokens))
            try:
                with _kenlm_output_to_log():
                    self._decoder = ctc_decoder(
                        lexicon=str(wd / "lexicon.txt"), tokens=str(wd / "tokens.txt"), lm=str(lm_path),
                        nbest=1, beam_size=beam, beam_size_token=beam_size_token, beam_threshold=beam_threshold,
                        lm_weight=self._lm_weight, word_score=self._word_score, sil_score=sil_score,
                        blank_token=BLANK, sil_token=self.sil_token, unk_word="<unk>")
            except RuntimeError as e:
                raise LexiconDecoderError(f"{lm_path}: KenLM cannot load it: {_kenlm_reason(e)}") from None
            if work_dir is not None:
                log.info("lexicon decoder: %d words (%d spellings), %d units, LM %s; files in %s",
                         len(lexicon.spellings), sum(len(s) for s in lexicon.spellings.values()),
                         tokenizer.vocab_size, lm_path, wd)

    @property
    def lm_weight(self) -> float:
        """Weight of the LM's log10 probabilities."""
        return self._lm_weight

    @property
    def word_score(self) -> float:
        """Score added per word (= minus Kaldi's word insertion penalty)."""
        return self._word_score

    def set_weights(self, lm_weight: float, word_score: float) -> None:
        """Change the LM weight and word score for the next :meth:`decode` calls.

        Cheap: the loaded LM, the unit and word tables are reused; only flashlight's search
        object (and its lexicon trie, one LM lookup per word) is rebuilt.

        Args:
            lm_weight: weight of the LM's log10 probabilities.
            word_score: score added per word (``-wip``).
        """
        from flashlight.lib.text.decoder import CriterionType, LexiconDecoderOptions
        from torchaudio.models.decoder import CTCDecoder

        if (lm_weight, word_score) == (self._lm_weight, self._word_score):
            return
        old = self._decoder
        opts = LexiconDecoderOptions(
            beam_size=self.beam, beam_size_token=self.beam_size_token or old.tokens_dict.index_size(),
            beam_threshold=self.beam_threshold, lm_weight=float(lm_weight), word_score=float(word_score),
            unk_score=-math.inf, sil_score=self.sil_score, log_add=False, criterion_type=CriterionType.CTC)
        self._decoder = CTCDecoder(nbest=1, lexicon=self.lexicon.spellings, word_dict=old.word_dict,
                                   tokens_dict=old.tokens_dict, lm=old.lm, decoder_options=opts,
                                   blank_token=BLANK, sil_token=self.sil_token, unk_word="<unk>")
        self._lm_weight, self._word_score = float(lm_weight), float(word_score)

    def prepare(self, log_probs: torch.Tensor, lens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The search's input: float32 CPU posteriors plus the synthetic last frame (module docstring).

        Computing it once lets a grid of weights (:meth:`set_weights`) reuse it with :meth:`search`.

        Args:
            log_probs: (B, T, V) log-posteriors (blank id 0), any device/dtype.
            lens: (B,) valid frames per utterance (default: all T).

        Returns:
            ``(emissions (B, T + 1, V), lens + 1)``.

        Raises:
            ValueError: wrong shapes, or V differs from the tokenizer's vocabulary size.
        """
        x = torch.as_tensor(log_probs)
        if x.dim() != 3:
            raise ValueError(f"log_probs must be (B, T, V), got shape {tuple(x.shape)}")
        B, T, V = x.shape
        if V != self.tokenizer.vocab_size:
            raise ValueError(f"log_probs have {V} units, the tokenizer {self.tokenizer.vocab_size}")
        lens_t = torch.full((B,), T, dtype=torch.long) if lens is None else torch.as_tensor(lens).long().cpu()
        if lens_t.shape != (B,) or bool(((lens_t < 0) | (lens_t > T)).any()):
            raise ValueError(f"lens must be (B,) in [0, {T}], got {lens_t.tolist()}")
        ext = torch.full((B, T + 1, V), _IMPOSSIBLE, dtype=torch.float32)
        ext[:, :T] = x.detach().to("cpu", torch.float32)
        rows = torch.arange(B)
        ext[rows, lens_t] = _IMPOSSIBLE
        ext[rows, lens_t, self._final_unit] = 0.0
        return ext, lens_t + 1

    def search(self, prepared: tuple[torch.Tensor, torch.Tensor]) -> list[LexiconHypothesis]:
        """Best hypothesis of each utterance of a :meth:`prepare` output, with the current weights.

        Uses no torch operator (only the tensors' memory), so it is safe in forked worker processes.
        """
        out = []
        for nbest in self._decoder(*prepared):
            if nbest:
                out.append(LexiconHypothesis(list(nbest[0].words), float(nbest[0].score)))
            else:
                out.append(LexiconHypothesis([], -math.inf))
        return out

    def decode_hypotheses(self, log_probs: torch.Tensor, lens: torch.Tensor | None = None) -> list[LexiconHypothesis]:
        """Best hypothesis of each utterance.

        Args:
            log_probs: (B, T, V) log-posteriors (blank id 0), any device/dtype (copied to float32 CPU).
            lens: (B,) valid frames per utterance (default: all T); later frames are never read.

        Returns:
            One :class:`LexiconHypothesis` per utterance (no words when the search found none).
        """
        return self.search(self.prepare(log_probs, lens))

    def decode(self, log_probs: torch.Tensor, lens: torch.Tensor | None = None) -> list[list[str]]:
        """Word sequences of a batch (see :meth:`decode_hypotheses` for the arguments)."""
        return [h.words for h in self.decode_hypotheses(log_probs, lens)]


@contextlib.contextmanager
def _kenlm_output_to_log() -> Iterator[None]:
    """Send what KenLM's C++ code prints on file descriptor 2 (a progress bar) to the debug log."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            if text.strip():
                log.debug("KenLM: %s", " ".join(text.split()))


def _kenlm_reason(e: Exception) -> str:
    """KenLM's exception text without its source location line, on one line."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if len(lines) > 1 and " threw " in lines[0]:
        lines = lines[1:]
    return "; ".join(lines) or type(e).__name__


def _is_kenlm_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(11) == b"mmap lm htt"  # KenLM binary magic "mmap lm http://kheafield.com/code"
