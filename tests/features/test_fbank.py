"""Tests for asr.features.fbank: Kaldi option files, frame counts, equality with kaldi-native-fbank
on real speech, batch consistency, padding invariance, dither, devices."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from asr.errors import AsrError
from asr.features.fbank import (
    KALDI_WAVE_SCALE,
    Fbank,
    FbankError,
    FbankOptions,
    fbank,
    num_frames,
)

knf = pytest.importorskip("kaldi_native_fbank")
sf = pytest.importorskip("soundfile")

@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the block-wise CPU path is many small ops, and on a loaded machine
    waiting for a second OpenMP thread at each one costs far more than the parallelism gains."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# Option combinations checked against kaldi-native-fbank on real audio (sample rate set per corpus).
OPTION_SETS: list[dict] = [
    {},
    {"snip_edges": False},
    {"window_type": "hamming", "use_energy": True},
    {"window_type": "hanning", "snip_edges": False, "use_energy": True, "raw_energy": False},
    {"window_type": "rectangular", "preemphasis_coefficient": 0.0},
    {"window_type": "blackman", "remove_dc_offset": False, "num_mel_bins": 40},
    {"window_type": "sine", "round_to_power_of_two": False},
    {"low_freq": 64.0, "high_freq": -400.0, "num_mel_bins": 80},
    {"low_freq": 0.0, "high_freq": 3000.0, "preemphasis_coefficient": 0.5, "frame_length": 20.0,
     "frame_shift": 12.5},
    {"use_power": False, "use_energy": True, "energy_floor": 1.0, "htk_compat": True},
    {"round_to_power_of_two": False, "snip_edges": False, "num_mel_bins": 64, "frame_length": 32.0},
]


def knf_fbank(samples: np.ndarray, opts: FbankOptions) -> np.ndarray:
    """kaldi-native-fbank features of one wave in int16 scale: (T, F) float32."""
    k = knf.FbankOptions()
    fo = k.frame_opts
    fo.samp_freq = opts.sample_frequency
    fo.frame_length_ms = opts.frame_length
    fo.frame_shift_ms = opts.frame_shift
    fo.dither = 0.0
    fo.preemph_coeff = opts.preemphasis_coefficient
    fo.remove_dc_offset = opts.remove_dc_offset
    fo.window_type = opts.window_type
    fo.round_to_power_of_two = opts.round_to_power_of_two
    fo.blackman_coeff = opts.blackman_coeff
    fo.snip_edges = opts.snip_edges
    k.mel_opts.num_bins = opts.num_mel_bins
    k.mel_opts.low_freq = opts.low_freq
    k.mel_opts.high_freq = opts.high_freq
    k.use_energy = opts.use_energy
    k.raw_energy = opts.raw_energy
    k.energy_floor = opts.energy_floor
    k.use_log_fbank = opts.use_log_fbank
    k.use_power = opts.use_power
    k.htk_compat = opts.htk_compat
    f = knf.OnlineFbank(k)
    f.accept_waveform(opts.sample_frequency, samples.astype(np.float32))
    f.input_finished()
    n = f.num_frames_ready
    if n == 0:
        return np.zeros((0, opts.num_features), np.float32)
    return np.stack([np.asarray(f.get_frame(i)) for i in range(n)])


def read_int16(path: Path) -> np.ndarray:
    samples, _ = sf.read(str(path), dtype="int16")
    return samples.astype(np.float32)


@functools.cache
def fsdd_waves(corpora: Path, n: int) -> list[np.ndarray]:
    files = sorted((corpora / "fsdd" / "recordings").glob("*.wav"))
    step = max(1, len(files) // n)
    return [read_int16(p) for p in files[::step][:n]]


@functools.cache
def speechocean_waves(corpora: Path, n: int) -> list[np.ndarray]:
    root = corpora / "speechocean762"
    lines = (root / "train" / "wav.scp").read_text().splitlines()
    step = max(1, len(lines) // n)
    return [read_int16(root / line.split(maxsplit=1)[1]) for line in lines[::step][:n]]


def pad_batch(waves: list[np.ndarray], fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    lens = torch.tensor([len(w) for w in waves])
    x = torch.full((len(waves), int(lens.max())), fill)
    for i, w in enumerate(waves):
        x[i, : len(w)] = torch.from_numpy(w)
    return x, lens


# ----- options -----

def test_defaults_are_kaldi_but_no_dither() -> None:
    o = FbankOptions()
    assert o.dither == 0.0
    assert (o.sample_frequency, o.frame_length, o.frame_shift, o.num_mel_bins) == (16000.0, 25.0, 10.0, 23)
    assert (o.window_type, o.snip_edges, o.round_to_power_of_two) == ("povey", True, True)
    assert o.num_features == 23 and FbankOptions(use_energy=True).num_features == 24
    assert (o.window_size, o.window_shift, o.padded_window_size) == (400, 160, 512)


def test_from_kaldi_conf(tmp_path: Path) -> None:
    conf = tmp_path / "fbank.conf"
    conf.write_text("# filterbank for 8k\n--sample-frequency=8000  # narrowband\n\n--num-mel-bins=40\n"
                    "--snip_edges=false\n--use-energy\n--window-type=hamming\n--high-freq=-200\n"
                    "--debug-mel=false\n--vtln-warp=1.0\n")
    o = FbankOptions.from_kaldi_conf(conf)
    assert o == FbankOptions(sample_frequency=8000.0, num_mel_bins=40, snip_edges=False, use_energy=True,
                             window_type="hamming", high_freq=-200.0)
    assert FbankOptions.from_kaldi_args(["--num-mel-bins=40", "--dither=1", "--use-power=F"]) == \
        FbankOptions(num_mel_bins=40, dither=1.0, use_power=False)


@pytest.mark.parametrize("line, message", [
    ("--num-ceps=13", "unknown fbank option '--num-ceps'"),
    ("--vtln-warp=0", "vtln-warp must be > 0"),
    ("--subtract-mean=true", "not supported"),
    ("--num-mel-bins=forty", "expects an int"),
    ("--use-energy=yes", "expects true or false"),
    ("num-mel-bins=40", "expected '--name=value'"),
    ("--window-type=kaiser", "window-type 'kaiser'"),
    ("--num-mel-bins=2", "num-mel-bins must be >= 3"),
    ("--high-freq=9000", "high-freq"),
])
def test_bad_conf_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    conf = tmp_path / "fbank.conf"
    conf.write_text(f"# comment\n--num-mel-bins=40\n{line}\n")
    with pytest.raises(FbankError, match=message) as e:
        FbankOptions.from_kaldi_conf(conf)
    assert str(conf) in str(e.value)
    assert isinstance(e.value, AsrError)
    if "window-type" not in line and "=2" not in line and "9000" not in line and "vtln" not in line:
        assert f"{conf}:3" in str(e.value)


@pytest.mark.parametrize("rate, bins, warp", [(8000, 40, 0.85), (8000, 40, 1.1), (16000, 23, 0.92), (16000, 80, 1.2)])
def test_vtln_warped_mel_banks_equal_kaldi_native_fbank(rate: int, bins: int, warp: float) -> None:
    """VTLN (``--vtln-warp``): the filters' corners move by Kaldi's piecewise-linear warp."""
    from asr.features.fbank import mel_banks

    mo = knf.MelBanksOptions()
    mo.num_bins = bins
    fo = knf.FrameExtractionOptions()
    fo.samp_freq = rate
    ref = np.array(knf.MelBanks(mo, fo, warp).get_matrix()).T  # (K - 1, bins): no Nyquist bin
    ours = mel_banks(FbankOptions(sample_frequency=rate, num_mel_bins=bins, vtln_warp=warp)).numpy()
    np.testing.assert_allclose(ours[: ref.shape[0]], ref, atol=1e-4)
    plain = mel_banks(FbankOptions(sample_frequency=rate, num_mel_bins=bins)).numpy()
    assert np.abs(ours - plain).max() > 0.1  # the warp does move the filters
    # the corners go from f to f / warp: warp < 1 moves the filters' centres up in frequency, > 1 down
    centre = (np.arange(ours.shape[0])[:, None] * ours).sum(0) / ours.sum(0)
    centre0 = (np.arange(plain.shape[0])[:, None] * plain).sum(0) / plain.sum(0)
    mid = slice(bins // 4, 3 * bins // 4)
    assert (np.sign(centre[mid] - centre0[mid]) == (1 if warp < 1 else -1)).all()


def test_vtln_cutoffs_outside_the_band_are_an_error() -> None:
    with pytest.raises(FbankError, match="vtln-low"):
        FbankOptions(sample_frequency=8000, vtln_warp=0.9, vtln_low=10.0).validate()


def test_missing_conf_is_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FbankError, match="cannot read"):
        FbankOptions.from_kaldi_conf(tmp_path / "nope.conf")


# ----- frame counts -----

@pytest.mark.parametrize("snip", [True, False])
def test_num_frames_matches_knf(snip: bool) -> None:
    o = FbankOptions(snip_edges=snip)
    ns = [0, 1, 79, 80, 81, 159, 160, 399, 400, 401, 559, 560, 561, 16000, 16001]
    expected = [knf_fbank(np.zeros(n, np.float32) + 1.0, o).shape[0] for n in ns]
    assert [num_frames(n, o) for n in ns] == expected
    assert num_frames(torch.tensor(ns), o).tolist() == expected


# ----- equality with kaldi-native-fbank on real audio -----

def _check_close(ours: torch.Tensor, lens: torch.Tensor, waves: list[np.ndarray], opts: FbankOptions) -> None:
    errs = []
    for i, w in enumerate(waves):
        ref = knf_fbank(w, opts)
        got = ours[i, : int(lens[i])].double().cpu().numpy()
        assert got.shape == ref.shape
        errs.append(np.abs(got - ref).ravel())
    err = np.concatenate(errs)
    assert err.size > 0
    assert np.mean(err <= 1e-3) >= 0.999, f"{np.mean(err > 1e-3):.2%} values off by > 1e-3"
    assert err.max() <= 2e-2, f"max abs error {err.max()}"


@pytest.mark.parametrize("kw", OPTION_SETS, ids=[",".join(f"{k}={v}" for k, v in d.items()) or "default"
                                                   for d in OPTION_SETS])
def test_equals_knf_on_fsdd_8k(corpora: Path, kw: dict) -> None:
    opts = FbankOptions(sample_frequency=8000.0, **kw)
    waves = fsdd_waves(corpora, 24)
    x, lens = pad_batch(waves)
    feats, frame_lens = fbank(x, lens, opts)
    _check_close(feats, frame_lens, waves, opts)


@pytest.mark.parametrize("kw", OPTION_SETS, ids=[",".join(f"{k}={v}" for k, v in d.items()) or "default"
                                                   for d in OPTION_SETS])
def test_equals_knf_on_speechocean_16k(corpora: Path, kw: dict) -> None:
    opts = FbankOptions(**kw)
    waves = speechocean_waves(corpora, 6)
    x, lens = pad_batch(waves)
    feats, frame_lens = fbank(x, lens, opts)
    _check_close(feats, frame_lens, waves, opts)


@pytest.mark.parametrize("snip", [True, False])
def test_equals_knf_on_short_cuts(corpora: Path, snip: bool) -> None:
    """Cuts shorter than a window or a shift: Kaldi mirrors the edges several times over."""
    opts = FbankOptions(sample_frequency=8000.0, snip_edges=snip, use_energy=True)
    w = fsdd_waves(corpora, 1)[0]
    waves = [w[1000:1000 + n] for n in (1, 7, 60, 99, 150, 200, 201, 333, 700)]
    x, lens = pad_batch(waves, fill=1000.0)
    feats, frame_lens = fbank(x, lens, opts)
    for i, cut in enumerate(waves):
        ref = knf_fbank(cut, opts)
        assert ref.shape == (int(frame_lens[i]), opts.num_features)
        assert np.allclose(feats[i, : int(frame_lens[i])].numpy(), ref, atol=2e-3)


def test_linear_fbank_relative_to_knf(corpora: Path) -> None:
    opts = FbankOptions(sample_frequency=8000.0, use_log_fbank=False)
    waves = fsdd_waves(corpora, 6)
    x, lens = pad_batch(waves)
    feats, frame_lens = fbank(x, lens, opts)
    for i, w in enumerate(waves):
        ref = knf_fbank(w, opts)
        got = feats[i, : int(frame_lens[i])].double().numpy()
        assert np.allclose(got, ref, rtol=1e-3, atol=1e-2)


# ----- batching, padding, lengths -----

def _random_waves(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    g = np.random.default_rng(seed)
    return [(g.standard_normal(n) * 3000).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("snip", [True, False])
@pytest.mark.parametrize("energy", [False, True])
def test_batch_equals_single_and_padding_never_leaks(snip: bool, energy: bool) -> None:
    opts = FbankOptions(snip_edges=snip, use_energy=energy)
    waves = _random_waves([16000, 401, 3333, 90, 0, 7000])
    x0, lens = pad_batch(waves, fill=0.0)
    x1, _ = pad_batch(waves, fill=30000.0)
    f0, fl = fbank(x0, lens, opts)
    f1, _ = fbank(x1, lens, opts)
    assert torch.equal(fl, num_frames(lens, opts))
    assert f0.shape == (6, int(fl.max()), opts.num_features)
    assert torch.allclose(f0, f1, atol=1e-4)
    for i, w in enumerate(waves):
        single, sl = fbank(torch.from_numpy(w)[None], torch.tensor([len(w)]), opts)
        n = int(fl[i])
        assert int(sl[0]) == n
        assert torch.allclose(f0[i, :n], single[0, :n], atol=1e-4)
        assert torch.all(f0[i, n:] == 0)


@pytest.mark.parametrize("snip", [True, False])
def test_gathered_path_equals_blocked_path(snip: bool) -> None:
    """The one-pass path used on GPUs, run on CPU, equals the blocked CPU path."""
    from asr.features import fbank as fb

    opts = FbankOptions(snip_edges=snip, use_energy=True, num_mel_bins=40)
    x, lens = pad_batch(_random_waves([9000, 401, 30000, 0, 2000]))
    frame_lens = num_frames(lens, opts)
    frames = fb._frames(x, lens, opts, int(frame_lens.max()))
    tab = fb._tables(fb._options_key(opts), x.device, x.dtype)
    blocked = fb._features_blocked(frames, frame_lens, opts, tab, None)
    gathered = fb._features_gathered(frames, frame_lens, opts, tab, None)
    assert torch.allclose(blocked, gathered, atol=1e-4)
    assert torch.equal(blocked, fbank(x, lens, opts)[0])


def test_short_and_empty_inputs() -> None:
    opts = FbankOptions()
    feats, fl = fbank(torch.zeros(2, 100), torch.tensor([100, 50]), opts)
    assert feats.shape == (2, 0, 23) and fl.tolist() == [0, 0]
    feats, fl = fbank(torch.zeros(1, 100), torch.tensor([100]), FbankOptions(snip_edges=False))
    assert fl.tolist() == [1] and feats.shape == (1, 1, 23)


def test_float64_and_int16_inputs() -> None:
    w = _random_waves([8000])[0]
    x, lens = pad_batch([w])
    f32, _ = fbank(x, lens)
    f64, _ = fbank(x.double(), lens)
    fint, _ = fbank(x.round().to(torch.int16), lens)
    assert f64.dtype == torch.float64 and f32.dtype == torch.float32 and fint.dtype == torch.float32
    assert torch.allclose(f32.double(), f64, atol=1e-3)


def test_weak_bands_are_accurate_in_float32() -> None:
    """A loud high tone over a near-silent low band: float32 must still match float64."""
    t = torch.arange(16000, dtype=torch.float64) / 16000
    w = (20000 * torch.sin(2 * math.pi * 5000 * t) + 3 * torch.sin(2 * math.pi * 300 * t)).round()
    opts = FbankOptions(preemphasis_coefficient=0.97, window_type="blackman")
    lens = torch.tensor([16000])
    f32, _ = fbank(w.float()[None], lens, opts)
    f64, _ = fbank(w[None], lens, opts)
    assert (f32.double() - f64).abs().max() < 1e-4


def test_dither_reproducible_with_generator() -> None:
    opts = FbankOptions(dither=1.0)
    x, lens = pad_batch(_random_waves([5000, 3000]))
    a, _ = fbank(x, lens, opts, generator=torch.Generator().manual_seed(3))
    b, _ = fbank(x, lens, opts, generator=torch.Generator().manual_seed(3))
    c, _ = fbank(x, lens, opts, generator=torch.Generator().manual_seed(4))
    plain, _ = fbank(x, lens)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, plain)
    assert torch.allclose(a, plain, atol=0.5)


def test_deterministic_without_dither() -> None:
    x, lens = pad_batch(_random_waves([5000, 3000]))
    assert torch.equal(fbank(x, lens)[0], fbank(x, lens)[0])


def test_module_scales_audio() -> None:
    x, lens = pad_batch(_random_waves([4000, 2500]))
    module = Fbank(FbankOptions(num_mel_bins=40))
    assert module.num_features == 40
    feats, fl = module(x / KALDI_WAVE_SCALE, lens)
    ref, rl = fbank(x, lens, FbankOptions(num_mel_bins=40))
    assert torch.equal(fl, rl)
    assert torch.allclose(feats, ref, atol=1e-3)


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    waves = _random_waves([16000, 5000, 777])
    x, lens = pad_batch(waves)
    for kw in ({}, {"snip_edges": False, "use_energy": True}):
        opts = FbankOptions(**kw)
        cpu, cl = fbank(x, lens, opts)
        gpu, gl = fbank(x.cuda(), lens.cuda(), opts)
        assert gpu.device.type == "cuda" and gl.device.type == "cuda"
        assert torch.equal(cl, gl.cpu())
        assert torch.allclose(cpu, gpu.cpu(), atol=2e-3)
