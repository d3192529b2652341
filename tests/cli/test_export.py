"""asr export: ONNX and TorchScript files give the checkpoint's log-posteriors (1e-4) and words."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")

from asr.cli.main import main as asr_main  # noqa: E402
from asr.decode.recognizer import Recognizer  # noqa: E402


def _log_probs(model: str | Path, data: Path) -> dict[str, torch.Tensor]:
    rec = Recognizer(model)
    out = {}
    for utts, lp, lens in rec.data_log_probs(rec.open_data(data)):
        out.update({u.utt: lp[i, : int(n)] for i, (u, n) in enumerate(zip(utts, lens))})
    return out


@pytest.mark.parametrize("fmt,suffix", [("onnx", ".onnx"), ("torchscript", ".ts")])
def test_exported_files_match_the_checkpoint(tiny_model, cli_data, tmp_path, capsys, fmt, suffix):
    _, test = cli_data
    out = tmp_path / f"model{suffix}"
    assert asr_main(["export", "--model", str(tiny_model), "--format", fmt, str(out)]) == 0
    ref, got = _log_probs(tiny_model, test), _log_probs(out, test)
    assert sorted(ref) == sorted(got)
    for u in ref:
        assert ref[u].shape == got[u].shape
        assert torch.allclose(ref[u], got[u], atol=1e-4), (u, (ref[u] - got[u]).abs().max())
    wavs = [line.split()[1] for line in (test / "wav.scp").read_text().splitlines()]
    capsys.readouterr()
    assert asr_main(["transcribe", "--model", str(tiny_model), *wavs]) == 0
    words = capsys.readouterr().out
    assert asr_main(["transcribe", "--model", str(out), *wavs]) == 0
    assert capsys.readouterr().out == words


def test_int8_onnx_is_smaller_and_close(tiny_model, cli_data, tmp_path):
    _, test = cli_data
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    assert asr_main(["export", "--model", str(tiny_model), str(fp32)]) == 0
    assert asr_main(["export", "--model", str(tiny_model), "--quantize", str(int8)]) == 0
    assert int8.stat().st_size < fp32.stat().st_size
    ref, got = _log_probs(fp32, test), _log_probs(int8, test)
    for u in ref:  # int8 weights: the posteriors move, but not far
        assert (ref[u].exp() - got[u].exp()).abs().max() < 0.2


def test_a_fused_lstmp_exports_through_torch_layout(cli_data, tmp_path):
    from tinydata import tiny_overrides

    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, test = cli_data
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, model__proj=12, model__layers=2,
                                                           train__epochs=1, frontend__cmvn="utterance",
                                                           frontend__sample_frequency=8000))
    Trainer(cfg, tmp_path / "exp").run()
    ts = tmp_path / "m.ts"
    assert asr_main(["export", "--model", str(tmp_path / "exp"), "--format", "torchscript", str(ts)]) == 0
    ref, got = _log_probs(tmp_path / "exp", test), _log_probs(tmp_path / "m.ts", test)
    for u in ref:
        assert torch.allclose(ref[u], got[u], atol=1e-4)
    assert asr_main(["export", "--model", str(tmp_path / "exp"), str(tmp_path / "m.onnx")]) == 1  # no ONNX LSTMP


def test_unexportable_models_and_bad_files_are_one_line(cli_data, tmp_path, capsys):
    from tinydata import tiny_overrides

    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train, _ = cli_data
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, model__gate_norm="true", train__epochs=1))
    Trainer(cfg, tmp_path / "exp").run()
    assert asr_main(["export", "--model", str(tmp_path / "exp"), str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gate_norm" in err[0]
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert asr_main(["transcribe", "--model", str(junk), str(junk)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.onnx" in err[0]
