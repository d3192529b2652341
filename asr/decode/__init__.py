"""Decoding: CTC search (:mod:`asr.decode.ctc`) and the recogniser built on it."""

from asr.decode.ctc import Hypothesis, greedy_decode, prefix_beam_search

__all__ = ["Hypothesis", "greedy_decode", "prefix_beam_search"]
