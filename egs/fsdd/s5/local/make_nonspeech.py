#!/usr/bin/env python3
"""Recordings with no speech in them, for checking that a recogniser answers them with no words.

Four kinds, ``--num`` of each (0.3-2.0 s long, 8 kHz unless ``--sample-rate``), the same output
for the same arguments: digital silence; white noise at -70 to -30 dB below full scale; brown
(low-frequency) noise at -60 to -25 dB; mains hum (50 or 60 Hz and its harmonics) over white
noise at -60 dB. Writes <dest-data-dir>/wav/*.wav and wav.scp, utt2spk, spk2utt (one speaker per
kind); no text, as there are no words.

Usage: local/make_nonspeech.py [--num 10] [--seed 0] [--sample-rate 8000] <dest-data-dir>
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.datadir import DataDir, utt2spk_to_spk2utt


def _db(rng: np.random.Generator, lo: float, hi: float) -> float:
    return 10 ** (rng.uniform(lo, hi) / 20)


def unit_brown(white: np.ndarray) -> np.ndarray:
    """Brown (low-frequency) noise of RMS 1 from white noise: integrated, its slow drift (DC) taken out."""
    x = np.cumsum(white)
    x -= np.convolve(x, np.ones(201) / 201, mode="same")
    return x / (x.std() + 1e-12)


def make(kind: str, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    if kind == "silence":
        return np.zeros(n)
    if kind == "white":
        return rng.normal(0, _db(rng, -70, -30), n)
    if kind == "brown":
        return unit_brown(rng.normal(0, 1, n)) * _db(rng, -60, -25)
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / sr
    hum = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
    return hum * _db(rng, -50, -30) + rng.normal(0, 10 ** (-60 / 20), n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num", type=int, default=10, help="recordings of each kind (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--sample-rate", type=int, default=8000, help="Hz (default 8000)")
    p.add_argument("dest")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    wav_dir = Path(args.dest) / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    wav_scp, utt2spk = {}, {}
    for kind in ("silence", "white", "brown", "hum"):
        for i in range(args.num):
            utt = f"{kind}-{i:03d}"
            x = make(kind, rng, int(rng.uniform(0.3, 2.0) * args.sample_rate), args.sample_rate)
            path = (wav_dir / f"{utt}.wav").resolve()
            sf.write(path, np.clip(x, -1, 1), args.sample_rate, subtype="PCM_16")
            wav_scp[utt], utt2spk[utt] = str(path), kind
    DataDir(Path(args.dest), wav_scp=wav_scp, utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk)).save()
    print(f"{args.dest}: {len(wav_scp)} recordings without speech")


if __name__ == "__main__":
    main()
