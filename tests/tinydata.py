"""Helpers for tests that train: tiny Kaldi data dirs cut from the demo corpus, and a tiny config."""

from __future__ import annotations

from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def write_demo_dir(dest: Path, part: str, utts: list[str]) -> Path:
    """A Kaldi data dir (wav.scp, text, utt2spk, spk2utt) of some demo-corpus utterances."""
    texts = dict(line.split(maxsplit=1) for line in (DEMO / part / "text").read_text().splitlines())
    dest.mkdir(parents=True, exist_ok=True)
    utts = sorted(utts)
    (dest / "wav.scp").write_text("".join(f"{u} {DEMO / part / u}.flac\n" for u in utts))
    (dest / "text").write_text("".join(f"{u} {texts[u]}" + ("" if texts[u].endswith("\n") else "\n")
                                       for u in utts))
    (dest / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    spk: dict[str, list[str]] = {}
    for u in utts:
        spk.setdefault(u.split("-")[0], []).append(u)
    (dest / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk.items())))
    return dest


def tiny_overrides(train: Path, dev: Path | None, **extra: object) -> list[str]:
    """Config overrides for a very small, fast model."""
    out = [f"data.train={train}", f"data.dev={dev or ''}", "data.max_frames=2000",
           "frontend.num_mel_bins=20", "frontend.fbank_conf=",
           "model.hidden=24", "model.layers=1", "model.stack=3", "model.subsample=3",
           "optim.lr=0.003", "train.epochs=2", "train.seed=3", "train.device=cpu", "train.tensorboard=false",
           "train.log_interval=0", "train.num_threads=1"]
    out += [f"{k.replace('__', '.')}={v}" for k, v in extra.items()]
    return out


def write_large_dir(dest: Path, n: int) -> list[str]:
    """A data dir of ``n`` utterances (50 per speaker) with wav.scp, text, utt2spk, spk2utt, utt2dur; its ids."""
    utts = [f"spk{u // 50:05d}-utt{u:07d}" for u in range(n)]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "wav.scp").write_text("".join(f"{u} /data/{u}.flac\n" for u in utts))
    (dest / "text").write_text("".join(f"{u} SOME WORDS OF A TRANSCRIPT\n" for u in utts))
    (dest / "utt2spk").write_text("".join(f"{u} {u[:8]}\n" for u in utts))
    (dest / "spk2utt").write_text("".join(f"spk{s:05d} " + " ".join(utts[s * 50:(s + 1) * 50]) + "\n"
                                          for s in range(n // 50)))
    (dest / "utt2dur").write_text("".join(f"{u} 3.25\n" for u in utts))
    return utts
