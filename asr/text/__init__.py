"""Output units: text normalisation and tokenizers (characters, sentencepiece BPE, lexicon phones).

Index 0 of every tokenizer is the CTC blank ``<blk>``. See :mod:`asr.text.tokenizers`.
"""

from asr.text.lexicon import Lexicon, LexiconError, read_lexicon, strip_stress, write_lexicon
from asr.text.normalize import normalize_text
from asr.text.tokenizers import (
    BLANK,
    WORD_SEP,
    BpeTokenizer,
    CharTokenizer,
    PdfUnits,
    PhoneTokenizer,
    Tokenizer,
    TokenizerError,
    build_tokenizer,
)

__all__ = [
    "BLANK",
    "WORD_SEP",
    "BpeTokenizer",
    "CharTokenizer",
    "Lexicon",
    "LexiconError",
    "PdfUnits",
    "PhoneTokenizer",
    "Tokenizer",
    "TokenizerError",
    "build_tokenizer",
    "normalize_text",
    "read_lexicon",
    "strip_stress",
    "write_lexicon",
]
