"""The trainer: exact resume, self-contained checkpoints, averaging, non-finite losses, outputs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tinydata import tiny_overrides

from asr.checkpoint import load_checkpoint
from asr.config import load_config
from asr.system import System
from asr.train.config import ExperimentConfig
from asr.train.trainer import Trainer, TrainingError


def make_cfg(train: Path, dev: Path | None, **extra: object) -> ExperimentConfig:
    return load_config(ExperimentConfig, [], tiny_overrides(train, dev, **extra))


def model_params(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


# Dropout, speed perturbation and SpecAugment all draw random numbers: resuming must restore them.
RANDOM = {"model__layers": 2, "model__dropout": 0.2, "frontend__speed_perturb": "[0.9,1.0,1.1]",
          "frontend__num_time_masks": 1, "frontend__num_freq_masks": 1}


@pytest.fixture(scope="module")
def two_epochs(tiny_data, tmp_path_factory) -> Path:
    train, dev = tiny_data
    exp = tmp_path_factory.mktemp("exp2")
    Trainer(make_cfg(train, dev, train__average_last=2, **RANDOM), exp).run()
    return exp


def test_resume_continues_exactly(tiny_data, two_epochs, tmp_path):
    train, dev = tiny_data
    Trainer(make_cfg(train, dev, train__epochs=1, **RANDOM), tmp_path).run()
    assert (tmp_path / "final.pt").is_file() and not (tmp_path / "epoch-2.pt").exists()
    Trainer(make_cfg(train, dev, train__epochs=2, **RANDOM), tmp_path, resume=True).run()
    a, b = model_params(two_epochs / "epoch-2.pt"), model_params(tmp_path / "epoch-2.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    h1 = json.loads((two_epochs / "history.json").read_text())
    h2 = json.loads((tmp_path / "history.json").read_text())
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]


def test_outputs_of_a_run(two_epochs):
    exp = two_epochs
    for name in ("config.yaml", "history.json", "epoch-1.pt", "epoch-2.pt", "final.pt"):
        assert (exp / name).is_file(), name
    assert "speed_perturb" in (exp / "config.yaml").read_text()
    hist = json.loads((exp / "history.json").read_text())
    assert [r["epoch"] for r in hist] == [1, 2]
    assert all(r["train_loss"] > 0 and r["dev_loss"] > 0 and 0 <= r["dev_token_acc"] <= 1 for r in hist)
    assert not list(exp.glob(".*.tmp"))


def test_final_is_the_average_of_the_last_epochs(two_epochs):
    e1, e2, final = (model_params(two_epochs / n) for n in ("epoch-1.pt", "epoch-2.pt", "final.pt"))
    for k, v in final.items():
        if torch.is_floating_point(v):
            torch.testing.assert_close(v, (e1[k].double() + e2[k].double()).div(2).to(v.dtype))


def test_checkpoint_alone_rebuilds_the_system(tiny_data, tmp_path):
    train, dev = tiny_data
    conf = tmp_path / "fbank.conf"
    conf.write_text("--num-mel-bins=17\n--sample-frequency=8000\n")
    trainer = Trainer(make_cfg(train, None, train__epochs=1, frontend__fbank_conf=str(conf),
                               frontend__cmvn="global"), tmp_path / "exp")
    trainer.run()
    conf.unlink()  # the checkpoint must not need the files the config names
    state = load_checkpoint(tmp_path / "exp" / "epoch-1.pt")
    for key in ("config", "model", "tokenizer", "frontend", "optimizer", "rng"):
        assert key in state, key
    rebuilt = System.from_state(state).eval()
    assert rebuilt.sample_rate == 8000
    assert rebuilt.tokenizer.tokens == trainer.system.tokenizer.tokens
    trainer.system.eval()
    waves = torch.randn(2, 8000) * 0.1
    lens = torch.tensor([8000, 6000])
    with torch.no_grad():
        a, a_lens = trainer.system(waves, lens)
        b, b_lens = rebuilt(waves, lens)
    assert torch.equal(a_lens, b_lens)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sgd_with_newbob_trains(tiny_data, tmp_path):
    train, dev = tiny_data
    # A threshold of 0.5 (halve unless the dev loss falls by half) makes the halving start early.
    t = Trainer(make_cfg(train, dev, optim__optimizer="sgd", optim__lr=0.05, optim__schedule="newbob",
                         optim__newbob_threshold=0.5, optim__warmup_steps=2, train__epochs=4), tmp_path)
    t.run()
    assert t.step > 0 and len(t.history) == 4
    # The learning rate after each epoch follows newbob on the dev losses the trainer measured.
    scale, halving, best, want = 1.0, False, float("inf"), []
    for h in t.history:
        d = h["dev_loss"]
        if halving or (best < float("inf") and (best - d) / abs(best) < 0.5):
            halving, scale = True, scale * 0.5
        best = min(best, d)
        want.append(0.05 * scale)
    assert [h["lr"] for h in t.history] == pytest.approx(want)
    assert want[-1] < 0.05  # the test saw at least one halving


def test_non_finite_batches_are_skipped_then_stop(tiny_data, tmp_path, caplog):
    train, dev = tiny_data
    exp = tmp_path / "exp"
    Trainer(make_cfg(train, dev, train__epochs=1), exp).run()
    before = {p.name: p.read_bytes() for p in exp.glob("*.pt")}

    # One poisoned utterance: its batches are skipped with a warning naming it; training goes on.
    t = Trainer(make_cfg(train, dev, train__epochs=2), exp, resume=True)
    loss_fn = t.criterion.loss
    poisoned = t.train_data.utts[0].utt

    def poisoned_loss(logits, lens, targets, target_lens):
        loss, n = loss_fn(logits, lens, targets, target_lens)
        return (loss * float("nan"), n) if poison["on"] else (loss, n)

    poison = {"on": False}
    orig_batch = t.make_batch

    def batch(data, idx, train):
        b = orig_batch(data, idx, train)
        poison["on"] = train and any(u.utt == poisoned for u in b.utts)
        return b

    t.make_batch = batch
    t.criterion.loss = poisoned_loss
    with caplog.at_level(logging.WARNING):
        t.run()
    assert any(poisoned in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
    assert (exp / "epoch-2.pt").is_file()

    # Every batch non-finite: a clear error after max_bad_batches; checkpoints untouched.
    before = {p.name: p.read_bytes() for p in exp.glob("*.pt")}
    t = Trainer(make_cfg(train, dev, train__epochs=3, train__max_bad_batches=2), exp, resume=True)
    t.criterion.loss = lambda *a: (torch.tensor(float("inf")), 5)
    with pytest.raises(TrainingError, match="2 batches with a non-finite loss"):
        t.run()
    assert {p.name: p.read_bytes() for p in exp.glob("*.pt")} == before


class _NanGrad(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss whose gradient is not."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("nan")


def test_non_finite_gradient_of_a_finite_loss_is_skipped(tiny_data, tmp_path, caplog):
    train, dev = tiny_data
    exp = tmp_path / "exp"
    t = Trainer(make_cfg(train, dev, train__epochs=1, train__max_bad_batches=2), exp)
    loss_fn = t.criterion.loss
    t.criterion.loss = lambda *a: (lambda loss, n: (_NanGrad.apply(loss), n))(*loss_fn(*a))
    before = {name: p.detach().clone() for name, p in t.system.named_parameters()}
    with caplog.at_level(logging.WARNING), \
            pytest.raises(TrainingError, match="2 batches with a non-finite loss or gradient"):
        t.run()
    # The warnings say it was the gradient (the loss itself was finite), and no step was taken.
    msgs = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(msgs) == 2 and all("non-finite gradient (norm nan; loss " in m for m in msgs), msgs
    assert all(torch.equal(p, before[name]) for name, p in t.system.named_parameters())
    assert not list(exp.glob("*.pt"))


@pytest.mark.gpu
def test_mixed_precision_training_on_gpu(tiny_data, tmp_path):
    train, dev = tiny_data
    t = Trainer(make_cfg(train, dev, train__device="cuda", train__amp="true", **RANDOM), tmp_path)
    assert t.amp
    t.run()
    assert all(r["train_loss"] == r["train_loss"] for r in t.history)  # finite, not NaN
    rebuilt = System.from_state(load_checkpoint(tmp_path / "final.pt"))  # loads on CPU
    assert next(rebuilt.parameters()).device.type == "cpu"


def test_sortagrad_visits_short_batches_first_then_shuffles(tiny_data, tmp_path):
    train, dev = tiny_data
    t = Trainer(make_cfg(train, dev, data__sortagrad=1, data__max_frames=300), tmp_path)
    durs = t.train_data.durations
    first = t.epoch_batches(1)
    longest = [max(durs[i] for i in b) for b in first]
    assert longest == sorted(longest) and len(first) > 2
    later = t.epoch_batches(2)
    assert sorted(map(sorted, later)) == sorted(map(sorted, first)) and later != first


def test_resume_refuses_a_config_that_contradicts_the_checkpoint(tiny_data, tmp_path):
    """--resume keeps the model, its features, units and optimizer; an override that changes them is refused."""
    from asr.config import ConfigError

    train, dev = tiny_data
    Trainer(make_cfg(train, dev, train__epochs=1), tmp_path).run()
    before = (tmp_path / "epoch-1.pt").read_bytes()
    for extra, names in (({"model__hidden": 32}, ["model.hidden=32", "24"]),
                         ({"optim__lr": 0.5}, ["optim.lr=0.5"]),
                         ({"model__layers": 2, "frontend__num_mel_bins": 23},
                          ["model.layers=2", "frontend.fbank_args"])):
        with pytest.raises(ConfigError) as e:
            Trainer(make_cfg(train, dev, train__epochs=2, **extra), tmp_path, resume=True)
        assert all(n in str(e.value) for n in names), str(e.value)
    # The command line gives the same as one line, and nothing in the experiment dir changes.
    args = [f"--{o.split('=', 1)[0]}={o.split('=', 1)[1]}" for o in tiny_overrides(train, dev, train__epochs=2)]
    r = subprocess.run([sys.executable, "-m", "asr.cli.main", "train", "-q", "--resume", *args, "--model.hidden", "64",
                        str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "model.hidden=64" in err[0] and "contradicts the checkpoint" in err[0], err
    assert (tmp_path / "epoch-1.pt").read_bytes() == before and not (tmp_path / "epoch-2.pt").exists()
    # Loop options may change: more epochs train on, and config.yaml says what was trained.
    t = Trainer(make_cfg(train, dev, train__epochs=2), tmp_path, resume=True)
    t.run()
    assert t.epoch == 2 and "hidden: 24" in (tmp_path / "config.yaml").read_text()


def test_resume_without_the_epochs_to_average_fails_before_training(tiny_data, tmp_path):
    train, dev = tiny_data
    Trainer(make_cfg(train, dev, train__epochs=2), tmp_path).run()
    (tmp_path / "epoch-1.pt").unlink()
    with pytest.raises(Exception, match="epoch-1.pt is missing"):
        Trainer(make_cfg(train, dev, train__epochs=3, train__average_last=3), tmp_path, resume=True)
    assert not (tmp_path / "epoch-3.pt").exists()


def test_backend_and_train_step_are_the_seams_of_the_loop(tiny_data, tmp_path):
    """Sharding, reduction and the update go through the back-end; every batch goes through TrainStep."""
    from asr.train.backend import SingleProcess
    from asr.train.step import TrainStep

    calls: dict[str, int] = {"shard": 0, "reduce": 0, "apply": 0, "wrap": 0, "step": 0}

    class Recording(SingleProcess):
        def wrap(self, step):
            calls["wrap"] += 1
            assert isinstance(step, TrainStep)
            inner = step.forward

            def counted(*a, **k):
                calls["step"] += 1
                return inner(*a, **k)

            step.forward = counted
            return step

        def shard(self, batches, complete=False):
            calls["shard"] += 1
            return batches[::2]  # this "worker" takes every other batch

        def reduce(self, values):
            calls["reduce"] += 1
            return super().reduce(values)

        def apply(self, *a, **k):
            calls["apply"] += 1
            return super().apply(*a, **k)

    train, dev = tiny_data
    t = Trainer(make_cfg(train, dev, train__epochs=1), tmp_path, backend=Recording())
    all_batches = t.train_data.batches(t.cfg.data.max_frames, t.cfg.data.max_utts)
    t.run()
    dev_batches = len(t.dev_data.batches(t.cfg.data.max_frames, t.cfg.data.max_utts)[::2])
    assert calls["wrap"] == 1 and calls["shard"] == 2  # training and dev batches
    assert calls["apply"] == t.step == len(all_batches[::2])
    assert calls["step"] == t.step + dev_batches
    assert calls["reduce"] == 2  # the epoch's training sums and the dev sums


def test_speaker_cmvn_training_stores_the_prior(tiny_data, tmp_path):
    """A cmvn=speaker system stores the training speakers' summed statistics: the prior of a lone file."""
    train, _ = tiny_data
    t = Trainer(make_cfg(train, None, frontend__cmvn="speaker", train__epochs=1), tmp_path)
    spk = t.train_data.speaker_stats(t.system.utterance_stats)
    torch.testing.assert_close(t.system.frontend.global_stats, torch.stack(list(spk.values())).sum(0))
    t.run()
    state = load_checkpoint(tmp_path / "final.pt")
    assert float(state["frontend"]["global_stats"][0, -1]) > 0
