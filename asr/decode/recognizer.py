"""A trained system ready to recognise: checkpoint -> frontend -> model -> CTC search -> words.

Shared by ``asr decode`` (data dirs) and ``asr transcribe`` (files), so both give
the same output for the same audio. :meth:`Recognizer.data_log_probs` is the one
path from utterances to log-posteriors: every search (greedy, prefix beam,
lexicon + LM, every point of an LM-weight grid) and every command reads its
posteriors from there, so they all see the normalisation the model was trained
with (speaker CMVN included). Nothing here imports :mod:`asr.train`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asr.batches import Utterance, UtteranceData, pad_sequences
from asr.checkpoint import load_checkpoint
from asr.datadir import DataDir
from asr.decode.ctc import Hypothesis, greedy_decode, prefix_beam_search
from asr.device import resolve_device
from asr.errors import AsrError
from asr.system import System

log = logging.getLogger(__name__)

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
        device: torch device or its name (``cpu``, ``cuda``, ``cuda:N``, ``auto``; default cpu).
        beam: 1 = greedy decoding (default); > 1 = CTC prefix beam search of that width.
        graph: a hybrid model's (pdf units) decoding graph dir (default: ``graph/`` beside the
            checkpoint); its words come from HCLG (:mod:`asr.decode.hybrid`), its times from the
            decoder's alignment. For a CTC model, a TLG graph dir (``utils/mkgraph_ctc.sh``): its
            words come from the WFST search (:mod:`asr.decode.tlg`), without times.
        acoustic_scale: a hybrid model's acoustic scale (default 0.1: LM weight 10); a TLG
            search's (default 1.0).

    Raises:
        AsrError: missing or unreadable checkpoint, unknown device, a hybrid model without a graph.
    """

    def __init__(self, model: str | Path, device: str | torch.device = "cpu", beam: int = 1,
                 graph: str | Path | None = None, acoustic_scale: float | None = None) -> None:
        self.device = resolve_device(device)
        from asr.export import is_exported, load_exported

        if is_exported(model):  # an ONNX or TorchScript file of `asr export` (its graph runs on CPU)
            self.path = Path(model)
            self.system, _ = load_exported(model)
            self.device = torch.device("cpu")
        else:
            state = load_checkpoint(model)
            self.path = state["path"]
            self.system = System.from_state(state)
        self.system.to(self.device)
        self.system.eval()
        self.beam = beam
        self.sample_rate = self.system.sample_rate
        # Seconds per model output frame: the feature frame shift times the model's subsampling.
        self.output_frame_shift = self.system.frame_shift * self.system.subsample
        self.hybrid = None
        self.tlg = None
        if self.system.tokenizer.kind == "pdf":
            self.hybrid = self._hybrid_decoder(graph, acoustic_scale)
        elif graph is not None:
            from asr.decode.tlg import TlgDecoder

            self.tlg = TlgDecoder(graph, self.system.tokenizer, 1.0 if acoustic_scale is None else acoustic_scale)

    def _hybrid_decoder(self, graph: str | Path | None, acoustic_scale: float | None):  # noqa: ANN202
        from asr.decode.hybrid import ACOUSTIC_SCALE, HybridDecoder, HybridGraph

        mdir = Path(self.path).parent
        gdir = Path(graph) if graph is not None else mdir / "graph"
        if not (gdir / "HCLG.fst").is_file():
            raise AsrError(f"{self.path} is a hybrid model (pdf units): it decodes through a graph, and "
                           f"{gdir}/HCLG.fst does not exist (utils/mkgraph.sh <lang> {mdir} {mdir}/graph, or "
                           f"--graph DIR)")
        import numpy as np

        priors = np.asarray(self.system.tokenizer.log_priors(), dtype=np.float32)
        return HybridDecoder(HybridGraph(gdir, mdir), priors,
                             ACOUSTIC_SCALE if acoustic_scale is None else acoustic_scale)

    # -- inputs ---------------------------------------------------------------------------------
    def open_data(self, data_dir: str | Path | DataDir, skip_bad: bool = False,
                  channel: int | None = 0) -> UtteranceData:
        """The utterances of a data dir, read the way this system was trained (waves or ``feats.scp``).

        Args:
            data_dir: a Kaldi data dir, or one in memory.
            skip_bad: skip unreadable utterances with a warning (default False: raise).
            channel: channel of multi-channel audio (default 0; None averages).
        """
        s = self.system
        return UtteranceData(data_dir if isinstance(data_dir, DataDir) else str(data_dir), s.feature_source,
                             s.sample_rate, s.frame_shift, need_text=False, cache=False, skip_bad=skip_bad,
                             channel=channel, min_duration=s.min_duration(s.feature_source == "wav"))

    def open_files(self, inputs: Sequence[tuple[str, str]], channel: int | None = 0,
                   skip_bad: bool = False) -> UtteranceData:
        """Audio files (``(name, path or "cmd |")`` pairs) as utterances, each its own speaker.

        Bad files (missing, empty, unreadable, too short) are all named in one error, or left out
        with a warning when ``skip_bad`` (then listed in ``.bad`` of the result).

        Raises:
            AsrError: two inputs with the same name (their outputs could not be told apart).
        """
        seen: dict[str, str] = {}
        for name, src in inputs:
            if name in seen:
                raise AsrError(f"two inputs are both named '{name}' ({seen[name]} and {src}); "
                               f"give them distinct names (a wav.scp, or a '-' list of 'name path' lines)")
            seen[name] = src
        data = DataDir(Path("<inputs>"), wav_scp=dict(seen), utt2spk={n: n for n in seen})
        return self.open_audio(data, channel=channel, skip_bad=skip_bad)

    def open_audio(self, data: DataDir, channel: int | None = 0, skip_bad: bool = False) -> UtteranceData:
        """An in-memory data dir of audio (``wav.scp`` [+ ``segments``]) as utterances read from waveforms,
        whatever this system was trained on (a ``feats`` system computes its filterbanks from them)."""
        s = self.system
        return UtteranceData(data, "wav", s.sample_rate, s.frame_shift, need_text=False, cache=False,
                             channel=channel, skip_bad=skip_bad, min_duration=s.min_duration(True))

    # -- log-posteriors -------------------------------------------------------------------------
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

    def data_log_probs(self, data: UtteranceData, max_frames: int = 40000, max_utts: int = 512
                       ) -> Iterator[tuple[list[Utterance], torch.Tensor, torch.Tensor]]:
        """Log-posteriors of every utterance of ``data``, batch by batch, with the model's own normalisation.

        ``cmvn: speaker`` systems are normalised with the statistics of each utterance's
        speaker (the data dir's ``cmvn.scp``, else accumulated over its utterances), as in
        training; other modes need nothing from the data dir.

        Args:
            data: from :meth:`open_data` or :meth:`open_files`.
            max_frames: batch limit, utterances x longest utterance in feature frames (default 40000).
            max_utts: utterances per batch at most (default 512).

        Yields:
            ``(utts, log_probs (B, T', V), lens (B,))`` on CPU; unreadable utterances skipped
            (``skip_bad``) are left out.
        """
        s = self.system
        waves = data.feature_source == "wav"

        def stats_fn(x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
            return s.utterance_stats(*s.frontend_inputs(x, x_lens, waves))
        for idx in data.batches(max_frames, max_utts):
            utts, xs = data.load(idx)
            if not utts:
                continue
            spk_stats = None
            if s.frontend.cfg.cmvn == "speaker":
                spk_stats = data.batch_speaker_stats(utts, stats_fn)
            lp, lens = self.log_probs(xs, waves=waves, spk_stats=spk_stats)
            yield utts, lp, lens

    def data_dir_log_probs(self, data_dir: str | Path, skip_bad: bool = False) -> list[tuple[str, np.ndarray]]:
        """``(utt, log_probs (T', V))`` of every utterance of a data dir (:meth:`data_log_probs`), for
        the graph searches that decode them more than once (an LM-weight grid); logs their count and time."""
        import time

        t0 = time.time()
        items: list[tuple[str, np.ndarray]] = []
        for utts, lp, lens in self.data_log_probs(self.open_data(data_dir, skip_bad=skip_bad)):
            items += [(u.utt, lp[i, : int(lens[i])].numpy()) for i, u in enumerate(utts)]
        log.info("posteriors of %d utterances (%d frames) in %.1f s", len(items), sum(x.shape[0] for _, x in items),
                 time.time() - t0)
        return items

    # -- search -------------------------------------------------------------------------------
    def search(self, lp: torch.Tensor, lens: torch.Tensor) -> list[Result]:
        """Greedy or prefix-beam search (:attr:`beam`) over log-posteriors (B, T', V), or a hybrid
        model's best path through its graph; one result per row."""
        if self.hybrid is not None:
            return self._hybrid_results(lp, lens)
        if self.tlg is not None:
            hyps, _ = self.tlg.decode([(str(i), lp[i, : int(lens[i])].numpy()) for i in range(lp.shape[0])])
            return [Result(text=hyps[str(i)]) for i in range(lp.shape[0])]
        if self.beam > 1:
            hyps = [nbest[0] for nbest in prefix_beam_search(lp, lens, beam=self.beam)]
        else:
            hyps = greedy_decode(lp, lens)
        return [self._result(h) for h in hyps]

    def recognize(self, xs: list[torch.Tensor], waves: bool = True,
                  spk_stats: torch.Tensor | None = None) -> list[Result]:
        """Recognise a batch (see :meth:`log_probs` for the inputs); one result per input."""
        if not xs:
            return []
        return self.search(*self.log_probs(xs, waves, spk_stats))

    def _hybrid_results(self, lp: torch.Tensor, lens: torch.Tensor) -> list[Result]:
        items = [(str(i), lp[i, : int(lens[i])].numpy()) for i in range(lp.shape[0])]
        hyps = self.hybrid.decode(items)
        shift = self.output_frame_shift
        out = []
        for key, _ in items:
            h = hyps[key]
            words = [Word(w.word, round(w.start * shift, 3), round((w.start + w.frames) * shift, 3), w.confidence)
                     for w in h.timed]
            out.append(Result(text=" ".join(h.words), words=words))
        return out

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
