#!/usr/bin/env python3
"""Digit strings for FSDD: recordings of several digits of one speaker, with pauses around them.

Every FSDD file is one digit cut tight at its start and end, so a model trained on the files
alone never has to find where a digit is, or that a pause has none: it can answer every file
with one unit, at any frame. These recordings put 1 to 3 (``--min-digits``, ``--max-digits``)
files of one speaker in a row, each preceded and followed by a pause of 0.1-0.5 s (``--min-pause``,
``--max-pause``; low-level noise at -60 dB), with the transcript of the digits in order: training
data (from the training files), or a test set of digit strings (from the test files, e.g.
``--min-digits 3 --max-digits 7 --min-pause 0.2``). The output is the same for the same arguments.
The audio is written to <dest-data-dir>/wav/. ``--nonspeech N`` adds N recordings with no digit
at all (0.3-2.0 s of white or brown noise, -75 to -30 dB; empty transcript): training examples of
audio without words (``data.keep_empty``).

Usage: local/make_sequences.py [--num N] [--seed S] [--min-digits 1] [--max-digits 3]
                               [--min-pause 0.1] [--max-pause 0.5] [--nonspeech 0] <src-data-dir> <dest-data-dir>
Writes wav.scp, text, utt2spk, spk2utt, and word_times (``utt word start end`` in seconds: where
each digit's file lies in the recording; local/score_word_times.py compares a CTM with it).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from make_nonspeech import unit_brown  # local/, beside this script

from asr.audio import read_audio
from asr.datadir import DataDir, utt2spk_to_spk2utt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num", type=int, default=400, help="recordings to make (default 400)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--min-digits", type=int, default=1, help="digits per recording at least (default 1)")
    p.add_argument("--max-digits", type=int, default=3, help="digits per recording at most (default 3)")
    p.add_argument("--min-pause", type=float, default=0.1, help="shortest pause in seconds (default 0.1)")
    p.add_argument("--max-pause", type=float, default=0.5, help="longest pause in seconds (default 0.5)")
    p.add_argument("--nonspeech", type=int, default=0, help="recordings without digits to add (default 0)")
    p.add_argument("src")
    p.add_argument("dest")
    args = p.parse_args()
    src = DataDir.load(args.src)
    if src.wav_scp is None or src.text is None or src.utt2spk is None:
        raise SystemExit(f"{args.src}: needs wav.scp, text and utt2spk")
    rng = random.Random(args.seed)
    by_spk: dict[str, list[str]] = {}
    for u in src.utts:
        by_spk.setdefault(src.utt2spk[u], []).append(u)
    speakers = sorted(by_spk)
    wav_dir = Path(args.dest) / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    import soundfile as sf

    cache: dict[str, tuple[np.ndarray, int]] = {}
    wav_scp, text, utt2spk = {}, {}, {}
    times: list[str] = []
    for n in range(args.num):
        spk = speakers[n % len(speakers)]
        picks = [rng.choice(by_spk[spk]) for _ in range(rng.randint(args.min_digits, args.max_digits))]
        parts, rate, t = [], None, 0
        utt = f"{spk}-seq{n:04d}"
        for u in picks:
            if u not in cache:
                cache[u] = read_audio(src.wav_scp[u], name=u)
            wave, sr = cache[u]
            if rate is not None and sr != rate:
                raise SystemExit(f"{src.wav_scp[u]}: {sr} Hz, the others {rate} Hz")
            rate = sr
            parts += [_pause(rng, sr, args.min_pause, args.max_pause), wave]
            t += len(parts[-2])
            times.append(f"{utt} {src.text[u]} {t / sr:.3f} {(t + len(wave)) / sr:.3f}")
            t += len(wave)
        parts.append(_pause(rng, rate, args.min_pause, args.max_pause))
        path = (wav_dir / f"{utt}.wav").resolve()
        sf.write(path, np.clip(np.concatenate(parts), -1, 1), rate, subtype="PCM_16")
        wav_scp[utt] = str(path)
        text[utt] = " ".join(src.text[u] for u in picks)
        utt2spk[utt] = spk
    noise = np.random.default_rng(rng.randrange(2**32))
    for n in range(args.nonspeech):
        spk = speakers[n % len(speakers)]  # any speaker: CMVN per speaker sees his background
        utt = f"{spk}-noise{n:04d}"
        x = _noise(noise, rate or 8000)
        path = (wav_dir / f"{utt}.wav").resolve()
        sf.write(path, np.clip(x, -1, 1), rate or 8000, subtype="PCM_16")
        wav_scp[utt], text[utt], utt2spk[utt] = str(path), "", spk
    DataDir(Path(args.dest), wav_scp=wav_scp, text=text, utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk)).save()
    from asr.fileio import atomic_write

    with atomic_write(Path(args.dest) / "word_times") as f:
        f.write("".join(line + "\n" for line in times))
    print(f"{args.dest}: {args.num} recordings of {args.min_digits}-{args.max_digits} digits"
          + (f", {args.nonspeech} without" if args.nonspeech else ""))


def _pause(rng: random.Random, sr: int, shortest: float, longest: float) -> np.ndarray:
    """A pause of noise 60 dB below full scale (digital silence would be unlike any recording)."""
    n = int(rng.uniform(shortest, longest) * sr)
    return np.random.default_rng(rng.randrange(2**32)).normal(0, 10 ** (-60 / 20), n).astype(np.float32)


def _noise(rng: np.random.Generator, sr: int) -> np.ndarray:
    """0.3-2.0 s of white or brown noise at -75 to -30 dB below full scale."""
    n = int(rng.uniform(0.3, 2.0) * sr)
    x = rng.normal(0, 1, n)
    if rng.random() < 0.5:
        x = unit_brown(x)
    return x * 10 ** (rng.uniform(-75, -30) / 20)


if __name__ == "__main__":
    main()
