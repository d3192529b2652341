"""Frontend: wav and stored-feature paths agree, CMVN modes, stats in state_dict, augmentation in training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from asr.config import ConfigError, from_dict, to_dict
from asr.features.cmvn import accumulate_cmvn_stats, apply_cmvn, utterance_cmvn_stats, write_cmvn_stats
from asr.features.deltas import add_deltas
from asr.features.fbank import Fbank, FbankOptions
from asr.features.frontend import Frontend, FrontendConfig
from asr.features.io import FeatsReader, write_feats


def _waves(lens: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lens), max(lens))
    for i, n in enumerate(lens):
        t = torch.arange(n) / 8000
        x[i, :n] = 0.3 * torch.sin(2 * torch.pi * (300 + 100 * i) * t) + 0.05 * torch.randn(n, generator=g)
    return x, torch.tensor(lens)


def _conf(tmp_path, bins: int = 20) -> str:
    p = tmp_path / "fbank.conf"
    p.write_text(f"--sample-frequency=8000\n--num-mel-bins={bins}  # comment\n")
    return str(p)


def test_properties_and_overrides(tmp_path):
    fe = Frontend(FrontendConfig(fbank_conf=_conf(tmp_path), deltas=2, cmvn="none"))
    assert fe.sample_rate == 8000 and fe.frame_shift == pytest.approx(0.01)
    assert fe.feat_dim == 20 and fe.output_dim == 60
    fe = Frontend(FrontendConfig(fbank_conf=_conf(tmp_path), num_mel_bins=30, cmvn="none"))
    assert fe.output_dim == 30 and fe.sample_rate == 8000
    assert Frontend(FrontendConfig(cmvn="none")).sample_rate == 16000
    # the portable config rebuilds the same frontend without the option file
    portable = fe.portable_config()
    assert portable.fbank_conf == "" and Frontend(portable).fbank_opts == fe.fbank_opts
    assert from_dict(FrontendConfig, to_dict(portable)) == portable


@pytest.mark.parametrize("bad", [dict(feature_source="on-the-fly"), dict(cmvn="per-speaker"), dict(deltas=-1),
                                 dict(speed_perturb=[1.1], feature_source="feats"), dict(speed_perturb=[0.0])])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        Frontend(FrontendConfig(**bad))


@pytest.mark.parametrize("cmvn", ["none", "global", "utterance"])
def test_wav_and_stored_feats_give_the_same_output(tmp_path, cmvn):
    conf = _conf(tmp_path)
    waves, lens = _waves([8000, 5000, 3300])
    feats, f_lens = Fbank(FbankOptions.from_kaldi_conf(conf))(waves, lens)
    scp = write_feats(tmp_path / "raw.ark", tmp_path / "raw.scp",
                      ((f"u{i}", feats[i, : int(f_lens[i])].numpy()) for i in range(3)))
    reader = FeatsReader(scp)
    stored = torch.zeros_like(feats)
    for i in range(3):
        stored[i, : int(f_lens[i])] = torch.from_numpy(reader[f"u{i}"])
    on_wav = Frontend(FrontendConfig(fbank_conf=conf, cmvn=cmvn, deltas=2)).eval()
    on_feats = Frontend(FrontendConfig(fbank_conf=conf, cmvn=cmvn, deltas=2, feature_source="feats")).eval()
    if cmvn == "global":
        stats = accumulate_cmvn_stats(*on_wav.features(waves, lens))
        on_wav.set_global_stats(stats)
        on_feats.set_global_stats(stats)
    y1, l1 = on_wav(waves, lens)
    y2, l2 = on_feats(stored, f_lens)
    assert torch.equal(l1, l2) and y1.shape == (3, int(l1.max()), 60)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)


def test_pipeline_matches_the_pure_functions_and_is_batch_consistent():
    x = torch.randn(3, 30, 5) * 4 + 2
    lens = torch.tensor([30, 12, 7])
    fe = Frontend(FrontendConfig(feature_source="feats", num_mel_bins=5, cmvn="utterance", deltas=1)).eval()
    y, y_lens = fe(x, lens)
    d, _ = add_deltas(x, lens, 1)
    torch.testing.assert_close(y, apply_cmvn(d, lens, utterance_cmvn_stats(d, lens), norm_vars=True))
    for i, n in enumerate(lens.tolist()):
        single, _ = fe(x[i: i + 1, :n], lens[i: i + 1])
        torch.testing.assert_close(y[i, :n], single[0], rtol=1e-5, atol=1e-5)
        assert torch.all(y[i, n:] == 0)
    padded, _ = fe(torch.cat([x, torch.randn(3, 4, 5) * 99], dim=1), lens)
    torch.testing.assert_close(padded[:, :30], y)


def test_speaker_stats_static_or_full_dimension():
    x = torch.randn(2, 20, 4) * 3 + 1
    lens = torch.tensor([20, 15])
    fe = Frontend(FrontendConfig(feature_source="feats", num_mel_bins=4, cmvn="speaker", deltas=2)).eval()
    with pytest.raises(ValueError, match="spk_stats"):
        fe(x, lens)
    static = utterance_cmvn_stats(x, lens)  # (B, 2, 5): Kaldi order, apply-cmvn | add-deltas
    y, _ = fe(x, lens, spk_stats=static)
    ref, _ = add_deltas(apply_cmvn(x, lens, static, True), lens, 2)
    torch.testing.assert_close(y, ref)
    full = utterance_cmvn_stats(*add_deltas(x, lens, 2))  # (B, 2, 13): after the deltas
    y, _ = fe(x, lens, spk_stats=full)
    torch.testing.assert_close(y, apply_cmvn(add_deltas(x, lens, 2)[0], lens, full, True))
    with pytest.raises(ConfigError, match="do not fit"):
        fe(x, lens, spk_stats=torch.ones(2, 2, 7))


def test_global_stats_are_saved_with_the_state_dict(tmp_path):
    cfg = FrontendConfig(feature_source="feats", num_mel_bins=4, cmvn="global", deltas=1)
    fe = Frontend(cfg)
    assert fe.needs_global_stats
    x, lens = torch.randn(2, 9, 4) + 5, torch.tensor([9, 6])
    with pytest.raises(ConfigError, match="no global CMVN"):
        fe(x, lens)
    fe.set_global_stats(accumulate_cmvn_stats(*fe.features(x, lens)))
    assert not fe.needs_global_stats
    state = fe.state_dict()
    assert "global_stats" in state and state["global_stats"].shape == (2, 9)
    fe2 = Frontend(cfg)
    fe2.load_state_dict(state)
    torch.testing.assert_close(fe2(x, lens)[0], fe(x, lens)[0])
    # static-dimension stats (compute-cmvn-stats on feats.scp) from a file; the buffer takes their shape
    write_cmvn_stats(tmp_path / "global_cmvn.stats", accumulate_cmvn_stats(x, lens))
    fe3 = Frontend(FrontendConfig(feature_source="feats", num_mel_bins=4, cmvn="global", deltas=1,
                                  cmvn_stats=str(tmp_path / "global_cmvn.stats")))
    fe4 = Frontend(cfg)
    fe4.load_state_dict(fe3.state_dict())
    assert fe4.global_stats.shape == (2, 5)
    torch.testing.assert_close(fe4(x, lens)[0], fe3(x, lens)[0])


def test_specaugment_only_in_training():
    cfg = FrontendConfig(feature_source="feats", num_mel_bins=10, cmvn="utterance", num_freq_masks=2,
                         freq_mask_width=4, num_time_masks=2, time_mask_width=5)
    fe = Frontend(cfg)
    x, lens = torch.randn(2, 40, 10), torch.tensor([40, 30])
    fe.eval()
    clean, _ = fe(x, lens)
    fe.train()
    masked, _ = fe(x, lens, generator=torch.Generator().manual_seed(0))
    assert (masked != clean).any()
    again, _ = fe(x, lens, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(masked, again)
    torch.testing.assert_close(fe(x, lens, train=False)[0], clean)


def test_speed_perturbation_in_training_changes_lengths(tmp_path):
    cfg = FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none", speed_perturb=[0.9, 1.1])
    fe = Frontend(cfg)
    waves, lens = _waves([8000, 6000])
    fe.eval()
    _, eval_lens = fe(waves, lens)
    fe.train()
    _, train_lens = fe(waves, lens, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(train_lens, eval_lens)
    for n, (e, t) in enumerate(zip(eval_lens.tolist(), train_lens.tolist())):
        assert min(abs(t - e / f) for f in (0.9, 1.1)) <= 2, (n, e, t)


@pytest.mark.gpu
def test_cuda_matches_cpu(tmp_path):
    cfg = FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="utterance", deltas=2)
    fe = Frontend(cfg).eval()
    waves, lens = _waves([8000, 4000])
    y, y_lens = fe(waves, lens)
    fe_gpu = Frontend(cfg).cuda().eval()
    yg, yg_lens = fe_gpu(waves.cuda(), lens.cuda())
    assert torch.equal(yg_lens.cpu(), y_lens)
    np.testing.assert_allclose(yg.cpu().numpy(), y.numpy(), rtol=1e-3, atol=1e-3)
    fe_gpu.train()
    cfg_aug = FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="global", num_freq_masks=1, num_time_masks=1,
                             speed_perturb=[0.9, 1.0])
    fa = Frontend(cfg_aug).cuda().train()
    fa.set_global_stats(accumulate_cmvn_stats(*fa.features(waves.cuda(), lens.cuda())))
    out, out_lens = fa(waves.cuda(), lens.cuda())
    assert out.is_cuda and out_lens.is_cuda and torch.isfinite(out).all()


def test_dither_is_fixed_in_recognition_and_fresh_in_training():
    """Recognition adds one fixed noise sequence (batch == alone, reproducible); training draws new noise."""
    from asr.features.frontend import Frontend, FrontendConfig

    fe = Frontend(FrontendConfig(cmvn="none", dither=10.0)).eval()
    plain = Frontend(FrontendConfig(cmvn="none"))
    g = torch.Generator().manual_seed(0)
    waves = torch.zeros(2, 16000)
    waves[0, :8000] = 0.1 * torch.randn(8000, generator=g)  # utterance 0: half speech, then digital silence
    lens = torch.tensor([16000, 12000])
    a, a_lens = fe(waves, lens)
    b, _ = fe(waves[1:, :12000], lens[1:])
    torch.testing.assert_close(a[1, : int(a_lens[1])], b[0])  # batched == alone
    torch.testing.assert_close(fe(waves, lens)[0], a)  # reproducible
    quiet = plain(waves, lens)[0]
    # The digital silence (second half of utterance 0) gets a floor far above the epsilon floor.
    assert float(a[0, 60:, :].min()) > float(quiet[0, 60:, :].max()) + 5
    assert torch.allclose(a[0, :40], quiet[0, :40], atol=0.05)  # speech is barely touched
    t1, _ = fe(waves, lens, train=True)
    t2, _ = fe(waves, lens, train=True)
    assert not torch.equal(t1, t2)
    with pytest.raises(Exception, match="dither"):
        Frontend(FrontendConfig(feature_source="feats", dither=1.0))


def test_waveform_perturbations_only_in_training(tmp_path):
    from asr.config import ConfigError

    cfg = FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none", pad_perturb=0.3, gain_perturb=[-10.0, 10.0],
                         noise_snr=[20.0, 40.0], reverb_rt60=[0.2, 0.5])
    fe = Frontend(cfg)
    waves, lens = _waves([8000, 6000])
    clean, clean_lens = Frontend(FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none")).eval()(waves, lens)
    fe.eval()
    y, y_lens = fe(waves, lens)
    torch.testing.assert_close(y, clean)
    fe.train()
    t, t_lens = fe(waves, lens, generator=torch.Generator().manual_seed(0))
    assert (t_lens >= clean_lens).all() and (t_lens > clean_lens).any()
    for bad in (dict(gain_perturb=[3.0]), dict(noise_snr=[10.0, 0.0]), dict(pad_perturb=-1.0),
                dict(feature_source="feats", gain_perturb=[-1.0, 1.0]), dict(eq_perturb=-1.0),
                dict(eq_perturb=3.0, eq_order=0), dict(eq_perturb=3.0, fbank_args=["--use-log-fbank=false"]),
                dict(reverb_rt60=[0.5]), dict(reverb_rt60=[0.0, 0.5]), dict(reverb_rt60=[0.2, 0.5], reverb_prob=1.5),
                dict(reverb_drr=[10.0, 0.0]), dict(feature_source="feats", reverb_rt60=[0.2, 0.5])):
        with pytest.raises(ConfigError):
            Frontend(FrontendConfig(**bad))


def test_eq_perturb_only_in_training_on_stored_features_too(tmp_path):
    """frontend.eq_perturb adds a per-utterance curve over the bins before CMVN, in training only,
    for waveforms and stored fbank features alike; off, the draws of the other augmentations do not move."""
    waves, lens = _waves([8000, 6000])
    base = FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none")
    clean, clean_lens = Frontend(base).eval()(waves, lens)
    fe = Frontend(dataclasses.replace(base, eq_perturb=6.0))
    torch.testing.assert_close(fe.eval()(waves, lens)[0], clean)
    t, t_lens = fe.train()(waves, lens, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t_lens, clean_lens)
    d = (t - clean)[0, : int(clean_lens[0])]
    torch.testing.assert_close(d, d[:1].expand_as(d), atol=1e-4, rtol=0)
    assert 0.05 < float(d.abs().max()) <= 6.0 * np.log(10.0) / 10 + 1e-4
    feats = Frontend(dataclasses.replace(base, feature_source="feats", eq_perturb=6.0)).train()
    f, _ = feats(clean, clean_lens, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(f, t, atol=1e-4, rtol=0)  # the same draws on stored features


def test_speaker_cmvn_prior_from_global_stats(tmp_path):
    """cmvn=speaker adds the global statistics as a prior of cmvn_prior_frames frames, when they are set."""
    from asr.features.cmvn import utterance_cmvn_stats

    cfg = FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="speaker")
    fe = Frontend(cfg).eval()
    waves, lens = _waves([8000, 6000])
    own = utterance_cmvn_stats(*fe.features(waves, lens))
    before, _ = fe(waves, lens, spk_stats=own)  # no global statistics: the speaker's own
    glob = own.sum(0) * 3.0
    fe.set_global_stats(glob)
    after, _ = fe(waves, lens, spk_stats=own)
    assert not torch.allclose(before, after)
    w = cfg.cmvn_prior_frames / float(glob[0, -1])
    torch.testing.assert_close(fe.with_prior(own), own + w * glob[None])
    explicit = Frontend(dataclasses.replace(cfg, cmvn_prior_frames=0.0)).eval()  # the mixed statistics given
    torch.testing.assert_close(explicit(waves, lens, spk_stats=own + w * glob[None])[0], after)
    off = Frontend(dataclasses.replace(cfg, cmvn_prior_frames=0.0)).eval()
    off.set_global_stats(glob)
    torch.testing.assert_close(off(waves, lens, spk_stats=own)[0], before)


def test_vtlp_warps_each_training_utterance_and_not_recognition(tmp_path):
    """frontend.vtlp: in training each utterance's filterbank is that of one VTLN warp factor from
    [lo, hi] (steps of 0.01); recognition is unwarped; [1, 1] is the plain filterbank."""
    import dataclasses as dc

    from asr.features.fbank import KALDI_WAVE_SCALE, fbank

    waves, lens = _waves([8000, 6000, 7000, 5000])
    plain_fe = Frontend(FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none"))
    plain, plain_lens = plain_fe.eval()(waves, lens)
    fe = Frontend(FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none", vtlp=[0.9, 1.1]))
    y, y_lens = fe.eval()(waves, lens)
    torch.testing.assert_close(y, plain)
    t, t_lens = fe.train()(waves, lens, generator=torch.Generator().manual_seed(3))
    assert torch.equal(t_lens, plain_lens) and t.shape == plain.shape
    grid = [round(0.9 + 0.01 * k, 2) for k in range(21)]
    picked = []
    for b in range(4):
        n = int(lens[b])
        one = {a: fbank(waves[b:b + 1, :n] * KALDI_WAVE_SCALE, lens[b:b + 1],
                        dc.replace(fe.fbank_opts, vtln_warp=a))[0][0] for a in grid}
        err = {a: float((t[b, : int(t_lens[b])] - f).abs().max()) for a, f in one.items()}
        best = min(err, key=err.get)
        assert err[best] < 1e-3, err
        picked.append(best)
        assert not t[b, int(t_lens[b]):].any()  # padding stays zero
    assert len(set(picked)) > 1  # drawn per utterance
    same = Frontend(FrontendConfig(fbank_conf=_conf(tmp_path), cmvn="none", vtlp=[1.0, 1.0])).train()
    torch.testing.assert_close(same(waves, lens, generator=torch.Generator().manual_seed(0))[0], plain)
    for bad in (dict(vtlp=[1.1]), dict(vtlp=[1.1, 0.9]), dict(vtlp=[0.0, 1.0]),
                dict(vtlp=[0.9, 1.1], feature_source="feats"), dict(vtlp=[0.02, 1.0])):
        with pytest.raises(ConfigError):
            Frontend(FrontendConfig(**bad))
