"""``asr transcribe``: recognise audio files with a trained model.

Inputs: audio files (any format and sample rate that ``asr.audio`` reads; audio is
resampled to the model's rate), directories (searched recursively for audio
files), a Kaldi ``wav.scp`` (paths or ``cmd |`` pipes), or ``-`` to read a list
from stdin (one ``path`` or ``name path`` per line).

Output formats:
  text  ``<name> <words>`` per input
  json  one JSON object per input: ``{"name", "text", "words": [{"word", "start", "end",
        "confidence"}]}`` with times in seconds
  ctm   NIST CTM lines ``<name> 1 <start> <duration> <word> <confidence>``

Word times come from the frames where CTC emits each word's first and last
token, so they are approximate (CTC posteriors are peaky); a word's confidence
is the geometric mean of its tokens' posteriors. A *bidirectional* model may emit
a token anywhere its context allows, early or late (an FSDD BLSTM emitted digits
0.37 s early until it was trained with padded audio: egs/fsdd/s5/RESULTS.md), so
its json output says so in ``"times"``, and its times are a guide, not an alignment.
A *hybrid* model (frame-level training on HMM-state labels) decodes through its HCLG graph
(``graph/`` beside the model, or ``--graph``); its word times come from the decoder's alignment
(``"times": "hmm-alignment"``) and a word's confidence is the mean posterior of its aligned states.
A CTC model with ``--graph`` (a TLG graph dir of ``utils/mkgraph_ctc.sh``) decodes through that
WFST (the LM is in the graph; ``--acoustic-scale`` = 1 / LM weight): words without times, text
format only.

Bad inputs (missing, empty, unreadable or too short audio) are all named, one line each,
before anything is recognised, and the command exits with status 1 writing nothing; with
``--skip-bad`` the other inputs are transcribed, the bad ones are named in a summary, and the
exit status is 3 (0 when nothing was left out).

Example: ``asr transcribe --model egs/demo/s5/exp/ctc --format json recordings/``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import IO

from asr.cli.args import (
    add_beam_arg,
    add_bool_arg,
    add_lm_args,
    add_logging_args,
    add_model_arg,
    add_skip_bad_arg,
    beam_of,
    lexicon_decoder,
    lm_grid,
    skipped_status,
)
from asr.errors import AsrError
from asr.prepare import AUDIO_EXTENSIONS, safe_id

log = logging.getLogger("asr.transcribe")


def collect_inputs(items: list[str], stdin: IO[str] | None = None) -> list[tuple[str, str]]:
    """Expand command-line inputs into ``(name, source)`` pairs (source: a path or a ``cmd |`` pipe).

    Args:
        items: files, directories, ``*.scp`` files, or ``-`` (a list on ``stdin``).
        stdin: where ``-`` reads from (default ``sys.stdin``).

    Raises:
        AsrError: an input that does not exist, a directory without audio, or no input at all.
    """
    from asr.datadir import read_scp

    out: list[tuple[str, str]] = []
    files: list[int] = []  # indices of the entries named after their files (renamed if names clash)
    for item in items:
        if item == "-":
            for line in (stdin or sys.stdin).read().splitlines():
                line = line.strip()
                if not line:
                    continue
                parts = line.split(maxsplit=1)
                if len(parts) == 1 or Path(line).is_file():  # a path, spaces and all
                    files.append(len(out))
                    out.append((file_id(Path(Path(line).name)), line))
                else:
                    out.append((parts[0], parts[1]))
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise AsrError(f"{path}: no audio files found in this directory")
            for p in found:
                files.append(len(out))
                out.append((file_id(p.relative_to(path)), str(p)))
        elif path.is_file() and path.suffix == ".scp":
            out += list(read_scp(path).items())
        elif path.is_file():
            files.append(len(out))
            out.append((file_id(Path(path.name)), str(path)))
        else:
            raise AsrError(f"{path}: no such file or directory")
    if not out:
        raise AsrError("no audio to transcribe")
    # x.wav and x.flac side by side: both would be 'x'; they become 'x_wav' and 'x_flac'
    count: dict[str, int] = {}
    for i in files:
        count[out[i][0]] = count.get(out[i][0], 0) + 1
    for i in files:
        name, src = out[i]
        if count[name] > 1 and Path(src).suffix:
            out[i] = (file_id(Path(f"{name}_{Path(src).suffix[1:]}")), src)
    return out


def file_id(path: Path) -> str:
    """The utterance id of an audio file: its path without the extension as a Kaldi-safe id."""
    return safe_id(str(path.with_suffix("")))


TIMES_UNI = "ctc-emissions"  # the json "times" field: where the word times come from
TIMES_BI = "ctc-emissions, bidirectional model: may be early or late"
TIMES_HYBRID = "hmm-alignment"  # a hybrid model's words: the decoder's alignment through HCLG


def format_result(name: str, res: object, fmt: str, times: str | None = None) -> list[str]:
    """Output lines for one recognised input in ``fmt`` (text | json | ctm); ``times``: the json
    ``"times"`` field (how far to trust the word times), left out when None."""
    if fmt == "text":
        return [f"{name} {res.text}".rstrip()]
    if fmt == "json":
        obj = {"name": name, "text": res.text,
               "words": [{"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence}
                         for w in res.words]}
        if times:
            obj["times"] = times
        return [json.dumps(obj, ensure_ascii=False)]
    return [f"{name} 1 {w.start:.2f} {w.end - w.start:.2f} {w.word} {w.confidence:.4f}" for w in res.words]


def _pieces(rec, data, max_segment: float):  # noqa: ANN001, ANN202 - Recognizer, UtteranceData
    """The inputs as utterances to recognise: each one whole, or (longer than ``max_segment`` s) cut at
    pauses into pieces (segments of it, its own speaker). Returns ``(data, piece -> (input, offset s))``."""
    from asr.datadir import DataDir, Segment
    from asr.prepare import speech_regions

    long = [i for i, u in enumerate(data.utts) if max_segment > 0 and u.duration > max_segment]
    if not long:
        return data, {u.utt: (u.utt, 0.0) for u in data.utts}
    segments: dict[str, Segment] = {}
    where: dict[str, tuple[str, float]] = {}
    for i, u in enumerate(data.utts):
        regions = [(0.0, -1.0)]
        if i in long:
            _, xs = data.load([i])
            regions = [(s, e) for s, e in speech_regions(xs[0].numpy(), rec.sample_rate, max_segment) if e - s >= 0.1]
            log.info("%s: %.1f s, cut at pauses into %d pieces of at most %.0f s", u.utt, u.duration, len(regions),
                     max_segment)
        for k, (s, e) in enumerate(regions):
            piece = f"{u.utt}-{k:05d}" if i in long else u.utt
            segments[piece] = Segment(u.utt, round(s, 3), round(e, 3) if e >= 0 else -1.0)
            where[piece] = (u.utt, s)
    wav_scp = {u.utt: data.data.wav_scp[u.utt] for u in data.utts}
    cut = DataDir(Path("<inputs>"), wav_scp=wav_scp, segments=segments,
                  utt2spk={p: where[p][0] for p in segments})  # a file's pieces share its CMVN statistics
    return rec.open_audio(cut, channel=data.channel, skip_bad=data.skip_bad), where


def _joined(parts: list[tuple[float, object]]):  # noqa: ANN202 - a Result
    """One result from the results of a file's pieces (offset s, Result): texts joined, times shifted."""
    from asr.decode.recognizer import Result, Word

    if len(parts) == 1 and parts[0][0] == 0.0:
        return parts[0][1]
    words = [Word(w.word, round(w.start + off, 3), round(w.end + off, 3), w.confidence)
             for off, r in parts for w in r.words]
    return Result(text=" ".join(r.text for _, r in parts if r.text), words=words,
                  score=sum(r.score for _, r in parts))


def _transcribe_streaming(rec, data, args: argparse.Namespace, lines: dict[str, list[str]]) -> None:  # noqa: ANN001
    """Recognise each input chunk by chunk (:class:`asr.decode.streaming.Stream`); log the per-chunk latency."""
    from asr.decode.streaming import Stream

    if args.chunk_ms <= 0:
        raise AsrError(f"--chunk-ms must be > 0, got {args.chunk_ms}")
    chunk = max(1, int(rec.sample_rate * args.chunk_ms / 1000))
    latencies: list[float] = []
    audio_s = 0.0
    for i in range(len(data)):
        utts, xs = data.load([i])
        if not utts:
            continue
        stream = Stream(rec)
        wave = xs[0].numpy()
        for start in range(0, len(wave), chunk):
            stream.accept(wave[start: start + chunk])
        lines[utts[0].utt] = format_result(utts[0].utt, stream.finish(), args.format, TIMES_UNI)
        latencies += stream.latencies
        audio_s += len(wave) / rec.sample_rate
    if latencies:
        ms = sorted(1000 * t for t in latencies)
        log.info("streaming: %d chunks of %.0f ms; processing per chunk: mean %.1f ms, 95th percentile %.1f ms, "
                 "max %.1f ms (real-time factor %.4f)", len(ms), args.chunk_ms, sum(ms) / len(ms),
                 ms[int(0.95 * (len(ms) - 1))], ms[-1], sum(latencies) / max(audio_s, 1e-9))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``asr transcribe``."""
    p = argparse.ArgumentParser(prog="asr transcribe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arg(p)
    p.add_argument("--format", choices=("text", "json", "ctm"), default="text", help="output format (default text)")
    add_beam_arg(p)
    add_lm_args(p)  # text format only
    p.add_argument("--graph", default=None, help="a hybrid model's decoding graph dir (HCLG.fst; default: graph/ "
                                                 "beside the model), or a CTC model's TLG graph dir "
                                                 "(utils/mkgraph_ctc.sh; words without times, text format)")
    p.add_argument("--acoustic-scale", type=float, default=None,
                   help="the graph search's acoustic scale, 1 / LM weight (default 0.1 for a hybrid model, "
                        "1.0 for TLG)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    p.add_argument("--batch-size", type=int, default=16, help="inputs per batch at most (default 16)")
    p.add_argument("--max-frames", type=int, default=40000,
                   help="batch limit: inputs x longest input, in feature frames (default 40000)")
    p.add_argument("--channel", type=int, default=0, help="channel of multi-channel audio (default 0); -1 = average")
    p.add_argument("--output", "-o", default="-", help="output file (default - : stdout)")
    add_bool_arg(p, "--progress", True, "a progress bar on a terminal (default: yes)")
    add_skip_bad_arg(p, "inputs")
    add_bool_arg(p, "--stream", False, "unidirectional models: feed each file in chunks of --chunk-ms with the "
                                       "recurrent state carried (the same words as a whole-file pass); logs the "
                                       "processing time per chunk")
    p.add_argument("--chunk-ms", type=float, default=200.0, help="--stream: chunk length in ms (default 200)")
    p.add_argument("--max-segment", type=float, default=30.0,
                   help="inputs longer than this many seconds are cut at pauses (energy VAD) and recognised "
                        "piece by piece, with bounded memory; words and times are joined (default 30; 0 = never)")
    p.add_argument("audio", nargs="+", help="audio files, directories, a wav.scp, or - (a list on stdin)")
    add_logging_args(p)
    return p


def main(argv: list[str]) -> int:
    """Run ``asr transcribe``; returns the exit code."""
    args = build_parser().parse_args(argv)

    from asr.log import setup_logging

    setup_logging(args.verbose, args.quiet, args.log_file)
    if args.batch_size < 1:
        raise AsrError(f"--batch-size must be >= 1, got {args.batch_size}")
    beam = beam_of(args)
    if not Path(args.model).exists():
        raise AsrError(f"{args.model}: model not found (a checkpoint file or an experiment dir)")
    if args.lm and args.format != "text":
        raise AsrError("--lm gives words without times: use --format text (or drop --lm for json/ctm)")
    settings = lm_grid(args) if args.lm else []
    if len(settings) > 1:
        raise AsrError("asr transcribe decodes with one --lm-weight and one --word-ins-penalty")
    inputs = collect_inputs(args.audio)

    from asr.decode.recognizer import Recognizer
    from asr.fileio import atomic_write

    rec = Recognizer(args.model, device=args.device, beam=beam, graph=args.graph, acoustic_scale=args.acoustic_scale)
    if rec.hybrid is not None and (args.lm or args.stream):
        raise AsrError(f"{rec.path} is a hybrid model: its graph holds the LM and it decodes whole files; "
                       f"drop {'--lm' if args.lm else '--stream'}")
    if rec.tlg is not None and (args.lm or args.stream or args.format != "text"):
        raise AsrError(f"--graph {args.graph}: the TLG graph holds the LM, decodes whole files and gives words "
                       f"without times: use --format text, without --lm and --stream")
    lexdec = lexicon_decoder(rec.system.tokenizer, args, settings[0]) if args.lm else None
    data = rec.open_files(inputs, channel=None if args.channel < 0 else args.channel, skip_bad=args.skip_bad)
    lines: dict[str, list[str]] = {}
    times = TIMES_BI if getattr(rec.system.cfg.model, "bidirectional", False) else TIMES_UNI
    if rec.hybrid is not None:
        times = TIMES_HYBRID
    if args.stream:
        if lexdec is not None:
            raise AsrError("--stream decodes greedily (or with --beam): drop --lm")
        _transcribe_streaming(rec, data, args, lines)
    else:
        pieces, where = _pieces(rec, data, args.max_segment)
        bar = None
        if args.progress and not args.quiet and sys.stderr.isatty() and len(pieces) > args.batch_size:
            from tqdm import tqdm

            bar = tqdm(total=len(pieces), unit="segment" if len(pieces) > len(data) else "file", desc="transcribe")
        found: dict[str, list[tuple[float, object]]] = {}
        for utts, lp, lens in rec.data_log_probs(pieces, args.max_frames, args.batch_size):
            outs = lexdec.decode(lp, lens) if lexdec is not None else rec.search(lp, lens)
            for u, out in zip(utts, outs):
                name, offset = where[u.utt]
                found.setdefault(name, []).append((offset, out))
            if bar is not None:
                bar.update(len(utts))
            elif len(pieces) > 10 * args.batch_size:
                log.info("transcribed %d/%d", sum(len(v) for v in found.values()), len(pieces))
        if bar is not None:
            bar.close()
        for name, parts in found.items():
            parts.sort(key=lambda p: p[0])
            if lexdec is not None:
                lines[name] = [f"{name} {' '.join(w for _, words in parts for w in words)}".rstrip()]
            else:
                lines[name] = format_result(name, _joined(parts), args.format, times)
    text = "".join(line + "\n" for name, _ in inputs for line in lines.get(name, []))
    if args.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        with atomic_write(args.output) as f:
            f.write(text)
    return skipped_status(data, log)
