"""SpecAugment masks (lengths, determinism, padding) and sox-like speed perturbation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asr.features.augment import eq_perturb, spec_augment, speed_perturb


def _masked(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x != y)


def test_masks_stay_inside_lengths_and_widths():
    x = torch.randn(4, 50, 20) + 10.0  # no real zeros
    lens = torch.tensor([50, 30, 7, 1])
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        y = spec_augment(x, lens, num_freq_masks=2, freq_mask_width=5, num_time_masks=2, time_mask_width=8,
                         generator=g)
        m = _masked(x, y)
        for i, n in enumerate(lens.tolist()):
            assert not m[i, n:].any(), "padding was touched"
            frames = m[i, :n].all(dim=1)  # fully masked frames (time masks)
            bins = m[i, :n].all(dim=0)  # fully masked bins (freq masks)
            assert frames.sum() <= 2 * 8
            if frames.all():  # a short utterance can be masked entirely in time
                continue
            assert bins.sum() <= 2 * 5
            # every changed cell belongs to a full time or frequency mask
            assert torch.equal(m[i, :n], frames[:, None] | bins[None, :])
        assert torch.all(y[m] == 0)


def test_time_mask_ratio_limits_width():
    x = torch.randn(1, 100, 4) + 10.0
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        y = spec_augment(x, torch.tensor([20]), num_freq_masks=0, num_time_masks=1, time_mask_width=50,
                         time_mask_ratio=0.1, generator=g)
        assert _masked(x, y)[0].all(dim=1).sum() <= 2


def test_deterministic_with_generator_and_padding_invariant():
    x = torch.randn(3, 40, 10) + 10.0
    lens = torch.tensor([40, 25, 12])
    a = spec_augment(x, lens, generator=torch.Generator().manual_seed(5), freq_mask_width=4, time_mask_width=6)
    b = spec_augment(x, lens, generator=torch.Generator().manual_seed(5), freq_mask_width=4, time_mask_width=6)
    torch.testing.assert_close(a, b)
    padded = torch.cat([x, torch.randn(3, 9, 10)], dim=1)
    c = spec_augment(padded, lens, generator=torch.Generator().manual_seed(5), freq_mask_width=4, time_mask_width=6)
    for i, n in enumerate(lens.tolist()):
        torch.testing.assert_close(c[i, :n], a[i, :n])
    torch.testing.assert_close(c[:, 40:], padded[:, 40:])


def test_no_masks_is_identity():
    x = torch.randn(2, 5, 3)
    y = spec_augment(x, torch.tensor([5, 3]), num_freq_masks=0, num_time_masks=0)
    torch.testing.assert_close(y, x)


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1])
def test_speed_perturb_length_and_pitch(factor):
    sr = 8000
    n = 8001
    t = np.arange(n) / sr
    wave = torch.from_numpy((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    out = speed_perturb(wave, sr, factor)
    assert out.shape == (round(n / factor),) and out.dtype == torch.float32
    # sox speed changes the pitch by the same factor: the tone moves to 440 * factor Hz
    spec = np.abs(np.fft.rfft(out[1000:-1000].numpy() * np.hanning(len(out) - 2000)))
    peak = np.argmax(spec) * sr / (len(out) - 2000)
    assert abs(peak - 440 * factor) < 5
    assert speed_perturb(wave.numpy(), sr, factor).shape == out.shape


def test_speed_perturb_rejects_bad_input():
    with pytest.raises(ValueError):
        speed_perturb(torch.zeros(10), 8000, 0.0)
    with pytest.raises(ValueError):
        speed_perturb(torch.zeros(2, 10), 8000, 1.1)


def test_background_level_is_the_quietest_stretch():
    from asr.features.augment import background_level

    sr = 8000
    w = torch.cat([0.001 * torch.randn(800), 0.3 * torch.randn(4000), 0.01 * torch.randn(800)])
    level = float(background_level(w, sr))
    assert 0.0007 < level < 0.0013
    assert float(background_level(torch.zeros(0), sr)) == 0.0
    assert abs(float(background_level(torch.full((10,), 0.5), sr)) - 0.5) < 1e-6  # shorter than a window


def test_perturb_waveforms_pad_gain_noise():
    from asr.features.augment import background_level, perturb_waveforms

    sr = 8000
    g0 = torch.Generator().manual_seed(0)
    speech = 0.2 * torch.randn(4000, generator=g0)
    floor = 0.002 * torch.randn(400, generator=g0)
    w = torch.cat([floor, speech, floor])
    waves = torch.zeros(2, w.numel())
    waves[0] = w
    waves[1, :3000] = w[:3000]
    lens = torch.tensor([w.numel(), 3000])
    padded_ends = []
    for seed in range(8):
        out, out_lens = perturb_waveforms(waves, lens, sr, pad=0.5, generator=torch.Generator().manual_seed(seed))
        assert (out_lens >= lens).all() and (out_lens <= lens + sr).all()
        for b in range(2):  # the original is inside, unchanged; the padding is at its background level
            n, m = int(lens[b]), int(out_lens[b])
            o = out[b, :m]
            starts = [i for i in range(m - n + 1) if torch.equal(o[i:i + n], waves[b, :n])]
            assert len(starts) == 1
            padded_ends += [starts[0] > 0, starts[0] + n < m]
            pad = torch.cat([o[: starts[0]], o[starts[0] + n:]])
            if pad.numel() > 200:
                assert 0.5 < float(pad.pow(2).mean().sqrt() / background_level(waves[b, :n], sr)) < 2
            assert not out[b, m:].any()
    assert 0.2 < sum(padded_ends) / len(padded_ends) < 0.8  # half the ends get none
    out, _ = perturb_waveforms(waves, lens, sr, pad=0.5, generator=torch.Generator().manual_seed(1))
    same, _ = perturb_waveforms(waves, lens, sr, pad=0.5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(same, out)  # reproducible with the generator
    out, out_lens = perturb_waveforms(waves, lens, sr, gain_db=(-20.0, -20.0))
    assert torch.equal(out_lens, lens)
    torch.testing.assert_close(out, waves * 0.1)
    out, _ = perturb_waveforms(waves[:1], lens[:1], sr, snr_db=(10.0, 10.0), generator=torch.Generator().manual_seed(2))
    snr = 10 * torch.log10(w.pow(2).mean() / (out[0] - w).pow(2).mean())
    assert abs(float(snr) - 10.0) < 0.5


def test_synthetic_rir_has_its_reverberation_time_and_drr():
    """Schroeder's backward integral of the generated response falls 60 dB in rt60 seconds (T20,
    fitted from -5 to -25 dB, times 3), and the tail's energy is drr_db below the direct path."""
    from asr.features.augment import synthetic_rir

    sr = 16000
    for rt60, drr in ((0.3, 0.0), (0.8, 8.0)):
        h = synthetic_rir(rt60, drr, sr, torch.Generator().manual_seed(3)).double()
        assert h.shape == (int(rt60 * sr),) and float(h[0]) == 1.0
        assert abs(10 * math.log10(1.0 / float(h[1:].pow(2).sum())) - drr) < 1e-6
        tail = h[1:].pow(2)
        edc = 10 * torch.log10(tail.flip(0).cumsum(0).flip(0) / tail.sum())
        t5, t25 = int((edc > -5).sum()), int((edc > -25).sum())
        assert abs(3 * (t25 - t5) / sr - rt60) < 0.1 * rt60
    with pytest.raises(ValueError):
        synthetic_rir(0.0, 0.0, sr)


def test_perturb_waveforms_reverb():
    """reverb_prob of the utterances reverberated (their length and RMS kept, the rest untouched);
    an impulse comes out as the room's response; the same draws with the same seed."""
    from asr.features.augment import perturb_waveforms

    sr = 8000
    waves = 0.1 * torch.randn(16, 4000, generator=torch.Generator().manual_seed(0))
    lens = torch.full((16,), 4000)
    out, out_lens = perturb_waveforms(waves, lens, sr, rt60=(0.2, 0.6), reverb_prob=0.5,
                                      generator=torch.Generator().manual_seed(1))
    assert torch.equal(out_lens, lens)
    changed = [not torch.equal(out[b], waves[b]) for b in range(16)]
    assert 3 <= sum(changed) <= 13
    for b in range(16):
        torch.testing.assert_close(out[b].pow(2).mean(), waves[b].pow(2).mean(), rtol=1e-4, atol=0)
    same, _ = perturb_waveforms(waves, lens, sr, rt60=(0.2, 0.6), generator=torch.Generator().manual_seed(1))
    assert torch.equal(same, out)
    impulse = torch.zeros(1, 4000)
    impulse[0, 0] = 1.0
    out, _ = perturb_waveforms(impulse, torch.tensor([4000]), sr, rt60=(0.25, 0.25), drr_db=(3.0, 3.0),
                               reverb_prob=1.0, generator=torch.Generator().manual_seed(2))
    h = out[0].double() / float(out[0, 0])
    assert h[int(0.25 * sr):].abs().max() < 1e-6 and h[1:8].abs().max() < 1e-6  # the tail: 1 ms to rt60
    assert h[8:int(0.25 * sr)].abs().sum() > 0.1
    assert abs(10 * math.log10(1.0 / float(h[1:].pow(2).sum())) - 3.0) < 1e-3


def test_eq_perturb_is_a_bounded_smooth_curve_per_utterance():
    """Each utterance gets one curve, the same on every valid frame, within max_db; padding and
    the skipped first column are left alone; no constant term; the same draws with the same seed."""
    x = torch.randn(3, 20, 24, dtype=torch.float64)
    lens = torch.tensor([20, 12, 0])
    x[1, 12:] = 0
    x[2] = 0
    y = eq_perturb(x, lens, 6.0, order=4, first_bin=1, generator=torch.Generator().manual_seed(0))
    d = y - x
    assert torch.equal(d[..., 0], torch.zeros(3, 20, dtype=d.dtype))
    assert torch.equal(d[1, 12:], torch.zeros(8, 24, dtype=d.dtype)) and torch.equal(d[2], torch.zeros_like(d[2]))
    for b, n in ((0, 20), (1, 12)):
        curve = d[b, :n, 1:]
        torch.testing.assert_close(curve, curve[:1].expand_as(curve))  # one curve for every frame
        db = curve[0] * 10 / np.log(10.0)
        assert float(db.abs().max()) <= 6.0 + 1e-9 and float(db.abs().max()) > 0.1
        assert abs(float(db.mean())) < 1e-9  # cosines over the bin centres sum to zero: no gain
        assert float((db[1:] - db[:-1]).abs().max()) <= 6.0 / 4 * np.pi * 10 / 23  # smooth: sum_k a_k pi k / F
    assert not torch.allclose(d[0, 0, 1:], d[1, 0, 1:])
    again = eq_perturb(x, lens, 6.0, order=4, first_bin=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, again)
