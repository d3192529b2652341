"""Learning-rate schedules: warm-up, exponential decay and newbob halving."""

from __future__ import annotations

import pytest

from asr.train.schedule import LRScheduler


def test_warmup_is_linear_then_flat():
    s = LRScheduler(1.0, warmup_steps=4, kind="constant")
    assert [s.lr(i) for i in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_exp_decays_every_epoch_down_to_the_floor():
    s = LRScheduler(1.0, kind="exp", decay=0.5, min_lr=0.2)
    lrs = []
    for _ in range(4):
        s.epoch_end(None)
        lrs.append(s.lr(100))
    assert lrs == [0.5, 0.25, 0.2, 0.2]


def test_newbob_halves_once_dev_loss_stops_improving_then_every_epoch():
    s = LRScheduler(1.0, kind="newbob", decay=0.5, threshold=0.01)
    lrs = []
    for dev in [3.0, 2.0, 1.99, 1.5, 1.4]:  # 2.0 -> 1.99 is a 0.5% gain: below the threshold
        s.epoch_end(dev)
        lrs.append(s.lr(0))
    assert lrs == [1.0, 1.0, 0.5, 0.25, 0.125]
    state = s.state_dict()
    t = LRScheduler(1.0, kind="newbob")
    t.load_state_dict(state)
    assert t.lr(0) == s.lr(0) and t.halving


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="unknown schedule"):
        LRScheduler(1.0, kind="cosine")
