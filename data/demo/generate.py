#!/usr/bin/env python3
"""Regenerate the demo corpus shipped in ``data/demo`` with the espeak-ng synthesiser.

The corpus is a toy "command and digit" task: each utterance is 2-5 words drawn
from a 20-word vocabulary, spoken by one of 12 synthetic speakers (an espeak-ng
accent, a voice variant, a pitch and a rate). Speakers ``s01``-``s10`` form the
training set and ``s11``-``s12`` the test set, so the test is speaker-disjoint.
Audio is 8 kHz 16-bit mono FLAC (small enough to keep in git).

Usage (needs the Debian packages ``espeak-ng`` and ``sox``)::

    python3 data/demo/generate.py [--out data/demo] [--utts-per-speaker 25] [--seed 1]

The output is deterministic for a given espeak-ng version and seed. Files
written: ``<out>/{train,test}/<utt>.flac`` and ``<out>/{train,test}/text``
(``<utt> <WORDS>``, sorted, utterance ids start with the speaker id).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

VOCAB = ("ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE "
         "YES NO UP DOWN LEFT RIGHT ON OFF STOP GO").split()

# (speaker id, espeak-ng voice "<language>+<variant>", pitch 0-99, words per minute)
SPEAKERS = [
    ("s01", "en-us+m1", 45, 165),
    ("s02", "en-gb+f2", 60, 150),
    ("s03", "en-gb-scotland+m3", 40, 170),
    ("s04", "en-029+f3", 70, 155),
    ("s05", "en-gb-x-rp+m4", 35, 160),
    ("s06", "en-us+f4", 65, 175),
    ("s07", "en-gb-x-gbclan+m5", 50, 145),
    ("s08", "en-gb-x-gbcwmd+f1", 75, 160),
    ("s09", "en-us+m6", 30, 150),
    ("s10", "en-gb+f5", 55, 170),
    ("s11", "en-us+m2", 42, 158),  # test
    ("s12", "en-gb+f1", 68, 162),  # test
]
TEST_SPEAKERS = {"s11", "s12"}


def synthesise(voice: str, pitch: int, rate: int, words: str, out: Path) -> None:
    """Speak ``words`` with espeak-ng and store it as 8 kHz 16-bit FLAC at ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(rate), "-w", str(wav),
                        words.lower()], check=True)
        subprocess.run(["sox", str(wav), "-r", "8000", "-b", "16", "-c", "1", str(out), "gain", "-n", "-3"], check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parent), help="output folder")
    p.add_argument("--utts-per-speaker", type=int, default=25, help="utterances per speaker")
    p.add_argument("--seed", type=int, default=1, help="random seed for the word sequences")
    args = p.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"generate.py: '{tool}' not found (apt-get install espeak-ng sox)")
    rng = random.Random(args.seed)
    out = Path(args.out)
    texts: dict[str, dict[str, str]] = {"train": {}, "test": {}}
    for spk, voice, pitch, rate in SPEAKERS:
        part = "test" if spk in TEST_SPEAKERS else "train"
        (out / part).mkdir(parents=True, exist_ok=True)
        for i in range(args.utts_per_speaker):
            words = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 5)))
            utt = f"{spk}-{i:03d}"
            synthesise(voice, pitch, rate, words, out / part / f"{utt}.flac")
            texts[part][utt] = words
    for part, lines in texts.items():
        with open(out / part / "text", "w", encoding="utf-8") as f:
            for utt in sorted(lines):
                f.write(f"{utt} {lines[utt]}\n")
    print(f"wrote {sum(len(t) for t in texts.values())} utterances under {out}")


if __name__ == "__main__":
    main()
