"""Synthetic data for HMM tests: feature matrices of two "words" and silence, a lang dir and an LM.

Three phones (silence and two words) that are well-separated Gaussians, so a monophone GMM system
(and a hybrid model trained on its alignments) must recognise every word.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asr.graph.lang import prepare_lang

ARPA = """\\data\\
ngram 1=4
ngram 2=6

\\1-grams:
-1.0\t</s>
-99\t<s>\t0
-0.30103\tONE\t0
-0.30103\tTWO\t0

\\2-grams:
-0.30103\t<s> ONE
-0.30103\t<s> TWO
-0.4771\tONE ONE
-0.4771\tONE TWO
-0.4771\tTWO ONE
-0.4771\tTWO TWO

\\end\\
"""


def synthetic_dir(d: Path, n: int, seed: int) -> dict[str, str]:
    """A data dir of ``n`` utterances of 2-5 words (ONE, TWO) with silence around and between them:
    4-dim features, silence near 0, ONE near +4 on dim 0, TWO near +4 on dim 1; between words
    a pause of 10-14 frames, or none between different words."""

    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    feats, text = {}, {}
    for i in range(n):
        words = list(rng.choice(["ONE", "TWO"], size=int(rng.integers(2, 6))))
        frames = [np.zeros((int(rng.integers(10, 20)), 4))]
        for k, w in enumerate(words):
            x = np.zeros((int(rng.integers(12, 25)), 4))
            x[:, 0 if w == "ONE" else 1] = 4.0
            # silence has 5 HMM states; the same word twice needs a pause to be told from one long word
            same = k + 1 < len(words) and words[k + 1] == w
            pause = int(rng.integers(10, 15)) if same or rng.random() < 0.5 else 0
            frames += [x, np.zeros((pause, 4))]
        frames.append(np.zeros((int(rng.integers(10, 20)), 4)))
        x = np.concatenate(frames) + rng.normal(0.0, 0.6, size=(sum(len(f) for f in frames), 4))
        utt = f"u{seed}_{i:03d}"
        feats[utt], text[utt] = x.astype(np.float32), " ".join(words)
    return _write_dir(d, feats, text)


def _write_dir(d: Path, feats: dict[str, np.ndarray], text: dict[str, str]) -> dict[str, str]:
    """feats.ark/scp, text, utt2spk and spk2utt (one speaker per utterance); returns ``text``."""
    import kaldiio

    kaldiio.save_ark(str(d / "feats.ark"), feats, scp=str(d / "feats.scp"))
    (d / "text").write_text("".join(f"{u} {t}\n" for u, t in text.items()))
    (d / "utt2spk").write_text("".join(f"{u} {u}\n" for u in text))
    (d / "spk2utt").write_text("".join(f"{u} {u}\n" for u in text))
    return text


def _lang(tmp: Path, name: str, lexicon: str, nonsil: list[str]) -> Path:
    """A lang dir ``tmp/<name>`` from a lexicon (SIL the silence, <SIL> the OOV word)."""
    d = tmp / f"dict{name.removeprefix('lang')}"
    d.mkdir()
    (d / "lexicon.txt").write_text(lexicon)
    (d / "silence_phones.txt").write_text("SIL\n")
    (d / "optional_silence.txt").write_text("SIL\n")
    (d / "nonsilence_phones.txt").write_text("".join(f"{p}\n" for p in nonsil))
    return prepare_lang(d, "<SIL>", tmp / name)


def synthetic_lang(tmp: Path) -> Path:
    return _lang(tmp, "lang", "<SIL> SIL\nONE W\nTWO T\n", ["W", "T"])


def context_dir(d: Path, n: int, seed: int) -> dict[str, str]:
    """A data dir whose phone B sounds different after W than after T (a context effect a triphone
    tree must find): ONE = W B, TWO = T B; W near +4 on dim 0, T on dim 1, B after W on dim 2, B
    after T on dim 3; silence near 0 around the words and, half the time, between them."""

    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    feats, text = {}, {}
    for i in range(n):
        words = list(rng.choice(["ONE", "TWO"], size=int(rng.integers(2, 5))))
        frames = [np.zeros((int(rng.integers(10, 20)), 4))]
        for w in words:
            first = np.zeros((int(rng.integers(9, 16)), 4))
            second = np.zeros((int(rng.integers(9, 16)), 4))
            first[:, 0 if w == "ONE" else 1] = 4.0
            second[:, 2 if w == "ONE" else 3] = 4.0
            frames += [first, second, np.zeros((int(rng.integers(10, 15)) if rng.random() < 0.5 else 0, 4))]
        frames.append(np.zeros((int(rng.integers(10, 20)), 4)))
        x = np.concatenate(frames) + rng.normal(0.0, 0.6, size=(sum(len(f) for f in frames), 4))
        utt = f"c{seed}_{i:03d}"
        feats[utt], text[utt] = x.astype(np.float32), " ".join(words)
    return _write_dir(d, feats, text)


def context_lang(tmp: Path) -> Path:
    return _lang(tmp, "lang_ctx", "<SIL> SIL\nONE W B\nTWO T B\n", ["W", "T", "B"])
