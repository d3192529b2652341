#!/usr/bin/env python3
"""Data augmentation for yesno: copies of each training file with its first words cut off, and its words alone.

Sorted by name, every training file of yesno starts with NO and every test file with YES, so a
model trained on the files alone learns that utterances start with NO. The words of a yesno file
are separated by clear pauses: an energy detector finds them, and when it finds exactly as many
words as the transcript has, we add segments that start in the pause after word k (k = 1..K)
with the transcript's remaining words, and (``--single-words``) one segment per word, from the
middle of the pause before it to the middle of the pause after it. A bidirectional model then
hears either word at the start and at the end of an utterance. ``--shuffled N`` adds N recordings
made of 8 words (each cut 50 ms either side of its speech) drawn at random (``--seed``), so that
no word order is more likely than another, with pauses of 0-0.6 s between them and noise over the
whole recording at a level drawn per
recording from -95 to -35 dB (written to <dest-data-dir>/wav/). Files where the count differs are used whole only.

Usage: local/crop_leading_words.py [--max-cut K] [--single-words] [--shuffled N] [--seed S]
                                   <src-data-dir> <dest-data-dir>
Writes wav.scp, segments, text, utt2spk, spk2utt (the whole files are segments too).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from asr.audio import read_audio
from asr.datadir import DataDir, Segment, utt2spk_to_spk2utt


def word_regions(wave: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """Speech regions (first, last frame) of 10 ms frames: energy within 20 dB of the loudest frame."""
    hop = sr // 100
    n = len(wave) // hop
    energy = (wave[: n * hop].reshape(n, hop) ** 2).sum(1)
    db = 10 * np.log10(energy + 1e-10)
    speech = db > db.max() - 20
    regions: list[list[int]] = []
    for i, s in enumerate(speech):
        if s and (not regions or regions[-1][1] != i):
            if regions and i - regions[-1][1] < 8:  # a short dip inside a word
                regions[-1][1] = i + 1
                continue
            regions.append([i, i + 1])
        elif s:
            regions[-1][1] = i + 1
    return [(a, b) for a, b in regions if b - a >= 10]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-cut", type=int, default=5, help="cut at most this many leading words (default 5)")
    p.add_argument("--single-words", action="store_true", help="also add each word alone")
    p.add_argument("--shuffled", type=int, default=0, help="add this many recordings of random word sequences")
    p.add_argument("--seed", type=int, default=0, help="random seed of --shuffled (default 0)")
    p.add_argument("src")
    p.add_argument("dest")
    args = p.parse_args()
    src = DataDir.load(args.src)
    if src.wav_scp is None or src.text is None:
        raise SystemExit(f"{args.src}: needs wav.scp and text")
    segments: dict[str, Segment] = {}
    text: dict[str, str] = {}
    words_audio: list[tuple[str, np.ndarray]] = []  # (word, samples) of every word segment
    rate = 0
    used = 0
    for utt, spec in src.wav_scp.items():
        words = src.text[utt].split()
        segments[utt] = Segment(utt, 0.0, -1)
        text[utt] = " ".join(words)
        wave, sr = read_audio(spec, name=utt)
        regions = word_regions(wave, sr)
        if len(regions) != len(words):
            continue
        used += 1
        for k in range(1, min(args.max_cut, len(words) - 1) + 1):
            start = round((regions[k - 1][1] + regions[k][0]) / 2 / 100, 2)
            cut = f"{utt}-cut{k}"
            segments[cut] = Segment(utt, start, -1)
            text[cut] = " ".join(words[k:])
        bounds = [0.0] + [round((regions[k - 1][1] + regions[k][0]) / 2 / 100, 2)
                          for k in range(1, len(words))] + [-1]
        for k, w in enumerate(words):
            if args.single_words:
                segments[f"{utt}-word{k}"] = Segment(utt, bounds[k], bounds[k + 1])
                text[f"{utt}-word{k}"] = w
            # For the shuffled recordings: the word alone, 50 ms either side of its speech region.
            first, last = regions[k][0] * sr // 100, regions[k][1] * sr // 100
            words_audio.append((w, wave[max(0, first - sr // 20): last + sr // 20]))
        rate = sr
    wav_scp = dict(src.wav_scp)
    if args.shuffled:
        import soundfile as sf

        if not words_audio:
            raise SystemExit(f"{args.src}: no file was cut into words; nothing to shuffle")
        wav_dir = Path(args.dest) / "wav"
        wav_dir.mkdir(parents=True, exist_ok=True)
        rng = random.Random(args.seed)
        for n in range(args.shuffled):
            picks = [rng.choice(words_audio) for _ in range(8)]
            # Pauses between the words, and noise over the whole recording at one random level, from
            # none to a noisy room: the test files' background ranges from digital silence (-90 dB,
            # the start of 1_1_0_0_1_0_1_0) to -37 dB, the training files' is about -50 dB.
            # Pauses from none (words run together, as the first two of 1_1_0_0_1_0_1_0) to 0.6 s.
            parts = []
            for _, a in picks:
                parts += [np.zeros(int(rng.uniform(0.0, 0.6) * rate), np.float32), a]
            parts.append(np.zeros(int(rng.uniform(0.05, 0.6) * rate), np.float32))
            audio = np.concatenate(parts)
            noise = np.random.default_rng(rng.randrange(2**32))
            level = 10 ** (rng.uniform(-95, -35) / 20)
            audio = audio + level * noise.standard_normal(len(audio))
            rec = f"shuffled{n:04d}"
            path = (wav_dir / f"{rec}.wav").resolve()
            sf.write(path, np.clip(audio, -1, 1).astype(np.float32), rate, subtype="PCM_16")
            wav_scp[rec] = str(path)
            segments[rec] = Segment(rec, 0.0, -1)
            text[rec] = " ".join(w for w, _ in picks)
    # Each utterance is its own speaker (per-utterance CMVN; no speaker statistics are shared).
    utt2spk = {u: u for u in segments}
    DataDir(Path(args.dest), wav_scp=wav_scp, segments=segments, text=text, utt2spk=utt2spk,
            spk2utt=utt2spk_to_spk2utt(utt2spk)).save()
    print(f"{args.dest}: {len(segments)} utterances ({used} of {len(src.wav_scp)} files cut into words)")


if __name__ == "__main__":
    main()
