"""Streaming recognition with a unidirectional model: audio in chunks, recurrent state carried.

:class:`Stream` takes waveform chunks of any size (:meth:`Stream.accept`) and runs each part of
the pipeline on what is complete: filterbank frames whose window has arrived (``snip_edges``
framing, so a frame depends on its own samples only), CMVN, stacked vectors whose ``stack``
frames have arrived, and the encoder from the state the previous chunk ended in. The
log-posteriors it produces are those of the whole utterance in one pass (tested), so
:meth:`Stream.finish` gives the same words.

What streaming needs of the model: unidirectional, no output delay, no deltas (they look ahead),
Kaldi framing with ``snip_edges``, no dither; CMVN ``global`` is exact. Speaker or utterance
CMVN needs statistics of audio not yet heard: a stream normalises with the training set's
statistics (stored in the model) instead, which is Kaldi online decoding's starting point, so
its words may differ from a whole-file decode of such a model (logged once).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from asr.errors import AsrError
from asr.features.cmvn import apply_cmvn
from asr.features.fbank import Fbank, num_frames
from asr.features.splice import stack_frames

log = logging.getLogger(__name__)


class Stream:
    """One utterance recognised as its audio arrives.

    Args:
        recognizer: a :class:`~asr.decode.recognizer.Recognizer` of a unidirectional model.

    Raises:
        AsrError: a model or frontend streaming cannot run exactly (see the module docstring).
    """

    def __init__(self, recognizer) -> None:  # noqa: ANN001 - Recognizer (no import cycle)
        s = recognizer.system
        self.rec = recognizer
        m, f = s.cfg.model, s.frontend.cfg
        problems = []
        if not hasattr(s.model, "encoder"):
            problems.append("an exported model runs whole utterances only (stream with its checkpoint)")
        if getattr(m, "bidirectional", False):
            problems.append("a bidirectional model needs the whole utterance")
        if getattr(m, "delay", 0):
            problems.append("model.delay > 0 (the output delay extends the utterance's end)")
        if f.deltas:
            problems.append("frontend.deltas (they look ahead)")
        if not s.fbank_options.snip_edges:
            problems.append("snip_edges=false framing (edge frames depend on the end)")
        if f.dither > 0:
            problems.append("frontend.dither > 0")
        if problems:
            raise AsrError(f"{recognizer.path}: cannot stream this model: {'; '.join(problems)}")
        if f.cmvn == "global" or (f.cmvn != "none" and s.frontend.has_global_stats):
            self.stats = s.frontend.global_stats.clone()
        elif f.cmvn == "none":
            self.stats = None
        else:
            raise AsrError(f"{recognizer.path}: cannot stream: cmvn={f.cmvn} without training-set statistics")
        if f.cmvn in ("speaker", "utterance"):
            log.info("streaming: cmvn=%s needs the whole utterance; normalising with the training set's "
                     "statistics instead (words may differ from whole-file decoding)", f.cmvn)
        self.norm_vars = f.norm_vars
        self.fbank = Fbank(s.fbank_options)
        self.opts = s.fbank_options
        self.stack, self.sub = m.stack, m.subsample
        self.samples = np.zeros(0, dtype=np.float32)  # not yet used by a complete frame
        self.feats = torch.zeros(0, s.frontend.feat_dim)  # normalised frames not yet stacked into an output
        self.state = None
        self.log_probs: list[torch.Tensor] = []
        self.latencies: list[float] = []  # seconds of processing per accepted chunk

    @torch.no_grad()
    def accept(self, chunk: np.ndarray) -> torch.Tensor:
        """Feed the next samples (at the model's rate); returns the new log-posterior frames (n, V)."""
        t0 = time.perf_counter()
        self.samples = np.concatenate([self.samples, np.asarray(chunk, dtype=np.float32)])
        out = self._run(final=False)
        self.latencies.append(time.perf_counter() - t0)
        return out

    @torch.no_grad()
    def finish(self):  # noqa: ANN201 - a Result
        """The end of the audio: the last frames, then the recognition of the whole utterance."""
        self._run(final=True)
        lp = self.all_log_probs
        return self.rec.search(lp[None], torch.tensor([lp.shape[0]]))[0]

    @property
    def all_log_probs(self) -> torch.Tensor:
        """Every log-posterior frame produced so far (T', V)."""
        return torch.cat(self.log_probs) if self.log_probs else torch.zeros(0, self.rec.system.tokenizer.vocab_size)

    def _run(self, final: bool) -> torch.Tensor:
        n = num_frames(len(self.samples), self.opts)
        if n > 0:
            x = torch.from_numpy(self.samples)[None]
            feats, lens = self.fbank(x, torch.tensor([x.shape[1]]))
            feats = feats[:, : int(lens[0])]
            if self.stats is not None:
                feats = apply_cmvn(feats, lens, self.stats.to(feats.dtype), self.norm_vars)
            self.feats = torch.cat([self.feats, feats[0].float()])
            used = n * self.opts.window_shift  # the next frame starts here
            self.samples = self.samples[used:]
        avail = self.feats.shape[0]
        if final:
            m = -(-avail // self.sub)  # the tail, as a whole-utterance call pads it
            take = avail
        else:
            m = (avail - self.stack) // self.sub + 1 if avail >= self.stack else 0
            take = (m - 1) * self.sub + self.stack if m > 0 else 0
        if m <= 0:
            return torch.zeros(0)
        x = self.feats[:take][None]
        y, y_lens = stack_frames(x, torch.tensor([take]), self.stack, self.sub)
        model = self.rec.system.model
        y_enc, self.state = model.encoder.forward_state(y[:, :m].transpose(0, 1), torch.tensor([m]), self.state)
        lp = torch.log_softmax(model.output(y_enc.transpose(0, 1)).float(), dim=-1)[0]
        self.feats = self.feats[m * self.sub:]
        self.log_probs.append(lp)
        return lp
