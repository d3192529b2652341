"""Duration-bucketed batching, padding and raw-input loading of data dirs."""

from __future__ import annotations

import random

import pytest
import torch

from asr.batches import UtteranceData, make_batches, pad_sequences
from asr.errors import AsrError


def test_batches_cover_every_utterance_once_within_the_frame_limit():
    rng = random.Random(0)
    durs = [rng.uniform(0.2, 3.0) for _ in range(200)]
    batches = make_batches(durs, 0.01, max_frames=2000, max_utts=16, seed=1, epoch=3)
    assert sorted(i for b in batches for i in b) == list(range(200))
    for b in batches:
        assert len(b) <= 16
        assert len(b) == 1 or len(b) * max(round(durs[i] / 0.01) for i in b) <= 2000
    # Deterministic per (seed, epoch); another epoch has another order of the same batches.
    assert batches == make_batches(durs, 0.01, 2000, 16, seed=1, epoch=3)
    other = make_batches(durs, 0.01, 2000, 16, seed=1, epoch=4)
    assert other != batches and sorted(map(tuple, other)) == sorted(map(tuple, batches))
    # Unshuffled batches go from short to long.
    plain = make_batches(durs, 0.01, 2000, 16, shuffle=False)
    assert [durs[b[0]] for b in plain] == sorted(durs[b[0]] for b in plain)


def test_an_overlong_utterance_is_a_batch_of_its_own():
    assert make_batches([0.5, 50.0, 0.4], 0.01, max_frames=1000, max_utts=8, shuffle=False) == [[2, 0], [1]]


def test_pad_sequences():
    x, lens = pad_sequences([torch.ones(3, 2), torch.ones(1, 2) * 2])
    assert x.shape == (2, 3, 2) and lens.tolist() == [3, 1]
    assert x[1, 1:].abs().sum() == 0 and x[1, 0].tolist() == [2.0, 2.0]


def test_utterance_data_loads_waves_and_skips_bad_audio(tiny_data, tmp_path):
    train, _ = tiny_data
    d = UtteranceData(str(train), "wav", 8000, 0.01)
    assert len(d) == 16 and all(u.duration > 0 and u.text for u in d.utts)
    utts, xs = d.load([0, 1])
    assert [u.utt for u in utts] == [d.utts[0].utt, d.utts[1].utt]
    assert xs[0].dim() == 1 and abs(xs[0].shape[0] / 8000 - d.utts[0].duration) < 0.01
    # A broken file: an error naming it, or (skip_bad) a warning and the utterance left out.
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("text", "utt2spk", "spk2utt"):
        (bad / f).write_text((train / f).read_text())
    lines = (train / "wav.scp").read_text().splitlines()
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    (bad / "wav.scp").write_text("\n".join([lines[0].split()[0] + f" {broken}"] + lines[1:]) + "\n")
    (bad / "utt2dur").write_text("".join(f"{line.split()[0]} 1.0\n" for line in lines))
    first = lines[0].split()[0]
    with pytest.raises(AsrError, match="broken.wav"):
        UtteranceData(str(bad), "wav", 8000, 0.01).load(range(16))
    d = UtteranceData(str(bad), "wav", 8000, 0.01, skip_bad=True)
    utts, xs = d.load(range(16))
    assert len(utts) == 15 and first not in {u.utt for u in utts} and first in d.bad


def test_missing_files_are_named(tmp_path):
    (tmp_path / "utt2spk").write_text("u1 s1\n")
    (tmp_path / "spk2utt").write_text("s1 u1\n")
    (tmp_path / "wav.scp").write_text("u1 /nonexistent.wav\n")
    with pytest.raises(AsrError, match="text"):
        UtteranceData(str(tmp_path), "wav", 8000, 0.01)
    (tmp_path / "text").write_text("u1 HELLO\n")
    with pytest.raises(AsrError, match="feats.scp"):
        UtteranceData(str(tmp_path), "feats", 8000, 0.01)


def test_empty_transcripts_dropped_or_kept(tiny_data, tmp_path):
    """An empty transcript is dropped with a warning, or kept (keep_empty: CTC trains on it as no words)."""
    from asr.text import build_tokenizer
    from asr.train.criteria import CTCCriterion

    train, _ = tiny_data
    d = tmp_path / "empty"
    d.mkdir()
    for f in ("wav.scp", "utt2spk", "spk2utt"):
        (d / f).write_text((train / f).read_text())
    lines = (train / "text").read_text().splitlines()
    first = lines[0].split()[0]
    (d / "text").write_text("\n".join([first] + lines[1:]) + "\n")
    assert len(UtteranceData(str(d), "wav", 8000, 0.01)) == 15
    kept = UtteranceData(str(d), "wav", 8000, 0.01, keep_empty=True)
    assert len(kept) == 16 and kept.utts[0].utt == first and kept.utts[0].text == ""
    crit = CTCCriterion(build_tokenizer("char", [u.text for u in kept.utts[1:]]))
    targets = crit.targets(kept.utts[:2])
    assert targets[0].numel() == 0 and targets[1].numel() > 0
    tgt, tgt_lens = pad_sequences(targets, value=0)
    logits = torch.zeros(2, 30, crit.tokenizer.vocab_size, requires_grad=True)
    loss, count = crit.loss(logits, torch.tensor([30, 30]), tgt.long(), tgt_lens)
    assert torch.isfinite(loss) and count == int(tgt_lens[1])
    loss.backward()
    assert logits.grad[0].abs().sum() > 0  # the empty one is trained (towards blank)
