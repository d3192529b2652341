#!/usr/bin/env python3
"""Data prep for speechocean762: Kaldi data dirs from the corpus as distributed or as kept in shared/.

Usage: local/prepare_data.py <corpus-dir> <data-dir>

Reads ``<corpus-dir>/{train,test}/{wav.scp,text,utt2spk}`` (whichever halves exist;
wav.scp paths are relative to the corpus root). The audio may be the original WAV
files or the lossless FLAC copies: a path that does not exist is retried with the
other extension. Writes ``<data-dir>/<half>/{wav.scp,text,utt2spk,spk2utt,spk2gender}``
with absolute paths. Utterance ids get their speaker id as a prefix
(``0001-000010011``) so that sorting by utterance also sorts by speaker (Kaldi's rule).
Transcripts are normalised by :func:`normalise`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from asr.datadir import read_scp, write_scp


def normalise(text: str) -> str:
    """Upper-case, keep letters, digits and apostrophes inside words, single spaces."""
    text = text.upper().replace("’", "'")
    text = re.sub(r"[^A-Z0-9' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def find_audio(root: Path, rel: str) -> Path | None:
    p = root / rel
    if p.is_file():
        return p
    for ext in (".flac", ".wav", ".WAV", ".FLAC"):
        q = p.with_suffix(ext)
        if q.is_file():
            return q
    return None


def prepare(corpus: Path, half: str, out: Path) -> int:
    src = corpus / half
    wav = read_scp(src / "wav.scp")
    text = read_scp(src / "text")
    utt2spk = read_scp(src / "utt2spk")
    genders = read_scp(src / "spk2gender") if (src / "spk2gender").is_file() else {}
    o_wav, o_text, o_utt2spk = {}, {}, {}
    missing = []
    for utt, spk in utt2spk.items():
        if utt not in wav or utt not in text:
            continue
        path = find_audio(corpus, wav[utt])
        if path is None:
            missing.append(f"{corpus / wav[utt]}")
            continue
        new = f"{spk}-{utt}"
        o_wav[new] = str(path.resolve())
        o_text[new] = normalise(text[utt])
        o_utt2spk[new] = spk
    if missing:
        sys.exit(f"prepare_data.py: {len(missing)} audio files of {src}/wav.scp not found, e.g. {missing[0]}")
    if not o_wav:
        sys.exit(f"prepare_data.py: no utterances in {src}")
    d = out / half
    d.mkdir(parents=True, exist_ok=True)
    write_scp(d / "wav.scp", o_wav)
    write_scp(d / "text", o_text)
    write_scp(d / "utt2spk", o_utt2spk)
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in sorted(o_utt2spk.items()):
        spk2utt.setdefault(spk, []).append(utt)
    write_scp(d / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    if genders:
        write_scp(d / "spk2gender", {s: genders[s] for s in spk2utt if s in genders})
    return len(o_wav)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    halves = [h for h in ("train", "test") if (corpus / h / "wav.scp").is_file()]
    if "train" not in halves:
        sys.exit(f"prepare_data.py: {corpus}/train/wav.scp not found (use --corpus-dir, or the download stage)")
    for h in halves:
        n = prepare(corpus, h, out)
        print(f"prepare_data.py: {out / h}: {n} utterances")


if __name__ == "__main__":
    main()
