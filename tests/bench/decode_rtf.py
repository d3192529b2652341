"""Real-time factor of greedy CTC decoding on CPU, against a plain torchaudio + torch.nn.LSTM pipeline.

What is timed, per utterance (batch 1, as ``asr transcribe`` of one file): features
from the waveform (Kaldi fbank, CMVN, frame stacking), the model forward pass and the
greedy CTC search, through :class:`asr.decode.recognizer.Recognizer` (what ``asr
decode`` and ``asr transcribe`` run). Reading and decoding the audio files is done
once beforehand and not timed. RTF = processing seconds / audio seconds.

In the same run, interleaved repetition by repetition:

- ``baseline``: the same computation from off-the-shelf parts:
  ``torchaudio.compliance.kaldi.fbank`` -> CMVN (global, or per utterance for speaker-CMVN
  systems) -> stacking by ``unfold`` ->
  ``torch.nn.LSTM`` + ``nn.Linear`` with the model's own weights (cell ``lstm`` models,
  which is what the default speechocean762 model is; other cells get an ``nn.LSTM`` of the
  same width and depth) -> per-frame argmax with repeats and blanks removed;
- ``beam8``: our pipeline with CTC prefix beam search, beam 8 (the search's own cost).

``ratio`` = baseline seconds / ours, measured in the same repetition (median over
repetitions): above 1 means ours is faster. The issue's target is RTF <= 0.01.

Without ``--model`` the default model of ``--config`` (conf/train.yaml of
speechocean762) is built with random weights and CMVN statistics estimated on the
audio being decoded: the weights do not change the amount of computation (dense
matrices, the same frames, greedy search linear in frames), so the RTF holds for the
trained model of the same configuration.

Usage::

    .venv/bin/python tests/bench/decode_rtf.py [--json FILE] [--model CKPT | --config YAML]
        [--data-dir DIR] [--max-utts N] [--reps 3] [--num-threads 1]

Default data: egs/speechocean762/s5/data/dev when it exists (13 held-out speakers),
else 40 utterances spread over ../shared/corpora/speechocean762/train. Results of a run
on the 2-core development machine: ``decode_rtf_cpu.json`` next to this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from asr.decode.recognizer import Recognizer  # noqa: E402
from asr.system import System  # noqa: E402

RECIPE = REPO / "egs" / "speechocean762" / "s5"
CORPUS = (REPO / ".." / "shared" / "corpora" / "speechocean762").resolve()
TARGET_RTF = 0.01


def load_waves(data_dir: Path | None, sample_rate: int, max_utts: int) -> tuple[list[str], list[torch.Tensor]]:
    """Utterance ids and (N,) float32 waves of a data dir, or of the shared corpus' train list.

    Args:
        data_dir: Kaldi data dir (``wav.scp`` [+ ``segments``]); None = the shared corpus.
        sample_rate: resample to this rate (Hz).
        max_utts: keep at most this many utterances, spread evenly over the list (0 = all).
    """
    from asr.audio import load_utterance, read_audio

    if data_dir is not None:
        from asr.datadir import DataDir

        d = DataDir.load(data_dir)
        if d.wav_scp is None:
            raise SystemExit(f"decode_rtf.py: {data_dir}/wav.scp not found")
        utts = sorted(d.segments) if d.segments is not None else sorted(d.wav_scp)
        utts = _spread(utts, max_utts)
        return utts, [torch.from_numpy(load_utterance(d.wav_scp, d.segments, u, sample_rate)[0]) for u in utts]
    scp = CORPUS / "train" / "wav.scp"
    if not scp.is_file():
        raise SystemExit(f"decode_rtf.py: no --data-dir and no corpus at {CORPUS}")
    lines = _spread(scp.read_text().splitlines(), max_utts or 40)
    utts = [ln.split(maxsplit=1)[0] for ln in lines]
    waves = []
    for ln in lines:
        path = CORPUS / ln.split(maxsplit=1)[1]
        if not path.exists():  # the shared copy holds FLAC files
            path = path.with_suffix(".flac")
        waves.append(torch.from_numpy(read_audio(str(path), sample_rate)[0]))
    return utts, waves


def _spread(items: list, n: int) -> list:
    """``n`` items spread evenly over ``items`` (all when ``n`` is 0 or too large)."""
    if n <= 0 or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


def random_checkpoint(config: Path, texts: list[str], waves: list[torch.Tensor], dest: Path) -> Path:
    """Save a checkpoint of ``config``'s model with random weights (seed 0) and CMVN from ``waves``.

    Relative paths in the config (``fbank_conf``) are taken relative to the recipe dir
    (the config file's parent's parent) when they do not exist relative to the current dir.
    """
    from asr.batches import pad_sequences
    from asr.checkpoint import save_checkpoint
    from asr.config import load_config
    from asr.text import build_tokenizer
    from asr.train.config import ExperimentConfig

    cfg = load_config(ExperimentConfig, [config])
    conf = cfg.frontend.fbank_conf
    if conf and not Path(conf).exists() and (config.parent.parent / conf).exists():
        cfg.frontend.fbank_conf = str(config.parent.parent / conf)
    torch.manual_seed(0)
    from asr.system import build_system

    system = build_system(cfg.system(), build_tokenizer(cfg.data.units, texts or ["A B C"]))
    system.eval()
    if system.needs_global_cmvn:
        x, x_lens = pad_sequences(waves[:50])
        if system.feature_source == "feats":  # the statistics of what feats.scp would hold
            x, x_lens = system.static_features(x, x_lens)
        system.set_global_cmvn(system.cmvn_stats(x, x_lens))
    save_checkpoint(dest, system.state())
    return dest


class Baseline(nn.Module):
    """torchaudio Kaldi fbank -> CMVN (global or per utterance) -> stacking -> torch.nn.LSTM -> linear -> greedy CTC."""

    def __init__(self, system: System) -> None:
        super().__init__()
        # torchaudio's fbank takes Kaldi's option names, as FbankOptions' fields are.
        self.fbank_kwargs = {**dataclasses.asdict(system.fbank_options), "dither": 0.0}
        m = system.model.cfg
        self.stack, self.subsample = m.stack, m.subsample
        dim = system.frontend.output_dim
        mean, var = torch.zeros(dim, dtype=torch.float64), torch.ones(dim, dtype=torch.float64)
        if system.frontend.cfg.cmvn == "global":
            stats = system.frontend.global_stats.double()
            mean = stats[0, :-1] / stats[0, -1]
            var = (stats[1, :-1] / stats[0, -1] - mean ** 2).clamp(min=1e-10)
        # One file has no speaker: speaker-CMVN systems normalise it by its own statistics (as
        # asr transcribe and Recognizer do without spk_stats).
        self.per_utterance = system.frontend.cfg.cmvn in ("speaker", "utterance")
        self.norm_vars = system.frontend.cfg.norm_vars
        self.register_buffer("mean", mean.float())
        self.register_buffer("inv_std", var.rsqrt().float() if system.frontend.cfg.norm_vars
                             else torch.ones_like(mean).float())
        f = system.frontend.output_dim * m.stack
        self.lstm = nn.LSTM(f, m.hidden, num_layers=m.layers, proj_size=m.proj, bidirectional=m.bidirectional)
        self.output = nn.Linear((2 if m.bidirectional else 1) * (m.proj or m.hidden), system.tokenizer.vocab_size)
        # The default model runs its whole stack as one nn.LSTM: take its weights, so both compute the same.
        ours = system.model.encoder.layers[0]
        self.same_weights = getattr(ours, "use_nn_lstm", False) and len(system.model.encoder.layers) == 1
        if self.same_weights:
            self.lstm.load_state_dict(ours.lstm.state_dict())
            self.output.load_state_dict(system.model.output.state_dict())

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> list[int]:
        """(N,) wave in [-1, 1] -> token ids of the greedy CTC labelling."""
        import torchaudio.compliance.kaldi as kaldi

        feats = kaldi.fbank(wave[None] * 32768.0, **self.fbank_kwargs)  # Kaldi's int16 sample scale
        if self.per_utterance:
            feats = feats - feats.mean(0)
            if self.norm_vars:
                feats = feats * feats.var(0, unbiased=False).clamp(min=1e-10).rsqrt()
        else:
            feats = (feats - self.mean) * self.inv_std  # (T, F)
        if self.stack > 1:  # future frames, the last one repeated (as asr.features.splice)
            feats = torch.cat([feats, feats[-1:].expand(self.stack - 1, -1)])
            feats = feats.unfold(0, self.stack, 1).transpose(1, 2).reshape(-1, self.stack * feats.shape[1])
        feats = feats[:: self.subsample]
        ids = self.output(self.lstm(feats[:, None])[0][:, 0]).argmax(-1)  # (T',)
        ids = torch.unique_consecutive(ids)
        return ids[ids != 0].tolist()


def time_runs(runs: dict[str, Callable[[torch.Tensor], object]], waves: list[torch.Tensor],
              reps: int) -> dict[str, list[float]]:
    """Seconds of each run over all ``waves``, per repetition, the runs interleaved (after one warm-up call each)."""
    for fn in runs.values():
        fn(waves[0])
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            for w in waves:
                fn(w)
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write the records to this file")
    p.add_argument("--model", help="trained checkpoint or exp dir (default: random weights, --config's model)")
    p.add_argument("--config", default=str(RECIPE / "conf" / "train.yaml"), help="experiment config without --model")
    p.add_argument("--data-dir", default=None,
                   help="Kaldi data dir to decode (default egs/speechocean762/s5/data/dev, else the shared corpus)")
    p.add_argument("--max-utts", type=int, default=0, help="utterances, spread over the set (default 0 = all)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (median used; default 3)")
    p.add_argument("--num-threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--beam", type=int, default=8, help="width of the prefix beam search row (default 8)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.num_threads)
    data_dir = Path(args.data_dir) if args.data_dir else (RECIPE / "data" / "dev")
    if args.data_dir is None and not (data_dir / "wav.scp").is_file():
        data_dir = None

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from asr.config import load_config
            from asr.train.config import ExperimentConfig

            sr = int(load_config(ExperimentConfig, [args.config]).frontend.sample_frequency or 16000)
            utts, waves = load_waves(data_dir, sr, args.max_utts)
            # The units from the recipe's training transcripts, as training would make them.
            texts = []
            for text in (Path(args.config).resolve().parent.parent / "data" / "train" / "text",
                         *([data_dir / "text"] if data_dir is not None else [])):
                if text.is_file():
                    texts = [ln.split(maxsplit=1)[1] for ln in text.read_text().splitlines()
                             if len(ln.split(maxsplit=1)) == 2]
                    break
            model = random_checkpoint(Path(args.config), texts, waves, Path(tmp) / "random.pt")
            weights = f"random (seed 0) from {args.config}"
        greedy = Recognizer(model, beam=1)
        beam = Recognizer(model, beam=args.beam)
        if args.model is not None:
            utts, waves = load_waves(data_dir, greedy.sample_rate, args.max_utts)
            weights = f"trained: {greedy.path}"
    system = greedy.system
    base = Baseline(system).eval()
    audio_s = sum(len(w) for w in waves) / greedy.sample_rate
    runs: dict[str, Callable[[torch.Tensor], object]] = {
        "ours_greedy": lambda w: greedy.recognize([w]),
        "baseline": base,
        f"ours_beam{args.beam}": lambda w: beam.recognize([w]),
    }
    # Both greedy pipelines should give the same words (same weights, fbank within float rounding).
    ours_ids = [h.tokens for h in (greedy_tokens(greedy, w) for w in waves[:20])]
    agree = sum(a == base(w) for a, w in zip(ours_ids, waves[:20]))
    times = time_runs(runs, waves, args.reps)
    rtf = {k: statistics.median(v) / audio_s for k, v in times.items()}
    m = system.model.cfg
    common = {
        "device": "cpu", "threads": args.num_threads, "utterances": len(waves), "audio_s": round(audio_s, 1),
        "data": str(data_dir) if data_dir else str(CORPUS / "train"), "weights": weights,
        "model": f"{m.cell} {'bi' if m.bidirectional else 'uni'} {m.layers}x{m.hidden}"
                 + (f" p{m.proj}" if m.proj else "") + f", stack {m.stack}/{m.subsample}",
        "params": system.model.num_parameters(), "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "baseline": "torchaudio.compliance.kaldi.fbank + CMVN + unfold + torch.nn.LSTM + argmax"
                    + (" (same weights)" if base.same_weights else " (same size)"),
        "baseline_same_output": f"{agree}/{len(ours_ids)}",
        "target_rtf": TARGET_RTF,
    }
    records = []
    for name in runs:
        if name == "baseline":
            continue
        ratio = statistics.median(b / o for o, b in zip(times[name], times["baseline"]))
        records.append({"name": name, **common, "rtf": round(rtf[name], 5), "baseline_rtf": round(rtf["baseline"], 5),
                        "ratio": round(ratio, 3), "meets_target": rtf[name] <= TARGET_RTF})
    print(f"{common['model']}, {common['params']} parameters; weights: {weights}")
    if args.model is None:
        print("(random weights: the computation, and so the RTF, is that of the trained model)")
    print(f"{len(waves)} utterances, {audio_s:.1f} s of audio from {common['data']}; {args.num_threads} thread(s)")
    print(f"baseline: {common['baseline']}; same hypotheses as ours on {agree}/{len(ours_ids)}")
    print(f"{'name':14s} {'RTF':>8s} {'baseline RTF':>13s} {'ratio':>6s}  target {TARGET_RTF}")
    for r in records:
        print(f"{r['name']:14s} {r['rtf']:8.4f} {r['baseline_rtf']:13.4f} {r['ratio']:6.2f}  "
              f"{'met' if r['meets_target'] else 'not met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


def greedy_tokens(rec: Recognizer, wave: torch.Tensor):  # noqa: ANN201 (asr.decode.ctc.Hypothesis)
    """The greedy hypothesis (token ids) of one wave."""
    from asr.decode.ctc import greedy_decode

    lp, lens = rec.log_probs([wave])
    return greedy_decode(lp, lens)[0]


if __name__ == "__main__":
    sys.exit(main())
