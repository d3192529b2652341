"""A trained system ready to recognise: checkpoint -> frontend -> model -> CTC search -> words.

Shared by ``asr decode`` (data dirs) and ``asr transcribe`` (files), so both give
the same output for the same audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from asr.decode.ctc import Hypothesis, greedy_decode, prefix_beam_search
from asr.system import System
from asr.train.checkpoint import load_checkpoint
from asr.train.data import pad_sequences


@dataclass
class Word:
    """A recognised word: its time span in seconds and a confidence in [0, 1]."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass
class Result:
    """The recognition of one utterance."""

    text: str  # words joined by single spaces
    words: list[Word] = field(default_factory=list)  # with times and confidences
    score: float = 0.0  # log-probability of the best labelling (beam) or of the best path (greedy)


class Recognizer:
    """Loads a checkpoint (or an experiment dir's ``final.pt``) and recognises batches.

    Args:
        model: checkpoint file or experiment dir.
        device: torch device (default cpu).
        beam: 1 = greedy decoding (default); > 1 = CTC prefix beam search of that width.

    Raises:
        AsrError: missing or unreadable checkpoint.
    """

    def __init__(self, model: str | Path, device: str | torch.device = "cpu", beam: int = 1) -> None:
        from asr.train.trainer import resolve_device

        self.device = resolve_device(device) if isinstance(device, str) else device
        state = load_checkpoint(model)
        self.path = state["path"]
        self.system = System.from_state(state)
        self.system.to(self.device)
        self.system.eval()
        self.beam = beam
        self.sample_rate = self.system.sample_rate
        # Seconds per model output frame: the feature frame shift times the model's subsampling.
        self.output_frame_shift = self.system.frame_shift * self.system.subsample

    @torch.no_grad()
    def log_probs(self, xs: list[torch.Tensor], waves: bool = True,
                  spk_stats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-posteriors of a batch.

        Args:
            xs: waveforms (N,) at :attr:`sample_rate` (``waves``) or raw feature matrices (T, F).
            waves: whether ``xs`` are waveforms (default True).
            spk_stats: (B, 2, D+1) speaker CMVN statistics (``cmvn: speaker`` systems); None
                takes each input as its own speaker.

        Returns:
            ``(log_probs (B, T', V), lens (B,))`` on CPU.
        """
        x, x_lens = pad_sequences(xs)
        x, x_lens = x.to(self.device), x_lens.to(self.device)
        logits, out_lens = self.system.recognize_logits(x, x_lens, waves=waves, spk_stats=spk_stats)
        return torch.log_softmax(logits.float(), dim=-1).cpu(), out_lens.cpu()

    def recognize(self, xs: list[torch.Tensor], waves: bool = True,
                  spk_stats: torch.Tensor | None = None) -> list[Result]:
        """Recognise a batch (see :meth:`log_probs` for the inputs); one result per input."""
        if not xs:
            return []
        lp, lens = self.log_probs(xs, waves, spk_stats)
        if self.beam > 1:
            hyps = [nbest[0] for nbest in prefix_beam_search(lp, lens, beam=self.beam)]
        else:
            hyps = greedy_decode(lp, lens)
        return [self._result(h) for h in hyps]

    def _result(self, hyp: Hypothesis) -> Result:
        tok = self.system.tokenizer
        words = []
        shift = self.output_frame_shift
        for w, first, last in tok.word_boundaries(hyp.tokens):
            confs = hyp.confidences[first: last + 1]
            # Geometric mean of the token posteriors: a word is as sure as its tokens together.
            conf = math.exp(sum(math.log(max(c, 1e-10)) for c in confs) / len(confs)) if confs else 0.0
            words.append(Word(w, round(hyp.frames[first] * shift, 3), round((hyp.frames[last] + 1) * shift, 3),
                              round(min(conf, 1.0), 4)))
        return Result(text=tok.decode(hyp.tokens), words=words, score=float(hyp.score))
