"""Word n-gram language models: Kneser-Ney estimation and ARPA files (:mod:`asr.lm.arpa`)."""

from asr.lm.arpa import ArpaError, NgramModel, estimate_kneser_ney, read_arpa, read_arpa_vocabulary, write_word_list

__all__ = ["ArpaError", "NgramModel", "estimate_kneser_ney", "read_arpa", "read_arpa_vocabulary", "write_word_list"]
