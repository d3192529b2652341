"""Fine-tuning (train.init_from): what comes from the init model, units kept/extended/new, frozen layers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from tinydata import tiny_overrides, write_demo_dir

from asr.checkpoint import load_checkpoint
from asr.config import ConfigError, load_config
from asr.train.config import ExperimentConfig
from asr.train.trainer import Trainer


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path]:
    """(train dir, exp dir of a 2-layer model trained on it for 2 epochs)."""
    root = tmp_path_factory.mktemp("ft")
    train = write_demo_dir(root / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(6)])
    exp = root / "base"
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, model__layers=2,
                                                           frontend__cmvn="utterance"))
    Trainer(cfg, exp).run()
    return train, exp


def _new_dir(tmp_path: Path, extra_word: str | None = None) -> Path:
    d = write_demo_dir(tmp_path / "new", "test", [f"s{s}-01{i}" for s in (11, 12) for i in range(3)])
    if extra_word:
        lines = (d / "text").read_text().splitlines()
        lines[0] += f" {extra_word}"
        (d / "text").write_text("\n".join(lines) + "\n")
    return d


def _trainer(new: Path, exp: Path, **extra) -> Trainer:
    overrides = tiny_overrides(new, None, model__hidden=8, model__layers=1, optim__lr=0.01, **extra)
    return Trainer(load_config(ExperimentConfig, [], overrides), exp)


def test_keep_takes_model_units_and_frontend_from_the_init_model(base, tmp_path):
    _, exp = base
    init = load_checkpoint(exp)
    t = _trainer(_new_dir(tmp_path), tmp_path / "ft", train__init_from=str(exp))
    # the user's model section (hidden 8, 1 layer) gives way to the init model's
    assert t.cfg.model.hidden == 24 and t.cfg.model.layers == 2 and t.cfg.frontend.cmvn == "utterance"
    assert t.system.tokenizer.tokens == init["tokenizer"]["tokens"]
    for k, v in t.system.model.state_dict().items():
        assert torch.equal(v, init["model"][k]), k
    assert t.step == 0 and t.epoch == 0  # a fresh optimizer and schedule
    t.run()
    saved = load_checkpoint(tmp_path / "ft")
    assert saved["system"]["model"]["hidden"] == 24


def test_the_run_s_own_augmentation_applies_to_the_init_model(base, tmp_path):
    """Training-only frontend fields (augmentation) come from the fine-tuning run, the rest from the init model."""
    _, exp = base
    t = _trainer(_new_dir(tmp_path), tmp_path / "ft", train__init_from=str(exp), frontend__cmvn="global",
                 frontend__vtlp="[0.9,1.1]", frontend__eq_perturb=6.0, frontend__gain_perturb="[-5,5]")
    fe = t.cfg.frontend
    assert fe.cmvn == "utterance"  # the init model's features
    assert fe.vtlp == [0.9, 1.1] and fe.eq_perturb == 6.0 and fe.gain_perturb == [-5.0, 5.0]


def test_keep_rejects_an_unknown_unit_naming_the_utterance(base, tmp_path):
    _, exp = base
    new = _new_dir(tmp_path, "QUIZ")  # Q is in no demo word
    with pytest.raises(Exception, match="s11-010.*'Q'"):
        _trainer(new, tmp_path / "ft", train__init_from=str(exp))


def test_extend_adds_units_and_keeps_the_rows_it_shares(base, tmp_path):
    _, exp = base
    init = load_checkpoint(exp)
    t = _trainer(_new_dir(tmp_path, "QUIZ"), tmp_path / "ft", train__init_from=str(exp),
                 train__init_units="extend")
    old, new = init["tokenizer"]["tokens"], t.system.tokenizer.tokens
    assert set(old) < set(new) and "Q" in new
    w, b = t.system.model.output.weight, t.system.model.output.bias
    for i, tok in enumerate(old):
        j = new.index(tok)
        assert torch.equal(w[j], init["model"]["output.weight"][i])
        assert torch.equal(b[j], init["model"]["output.bias"][i])
    for k, v in t.system.model.state_dict().items():
        if not k.startswith("output."):
            assert torch.equal(v, init["model"][k]), k


def test_new_units_get_a_fresh_output_layer(base, tmp_path):
    _, exp = base
    init = load_checkpoint(exp)
    t = _trainer(_new_dir(tmp_path), tmp_path / "ft", train__init_from=str(exp), train__init_units="new",
                 data__units="bpe", data__bpe_vocab_size=20)
    assert t.system.tokenizer.kind == "bpe" and t.cfg.data.units == "bpe"
    assert t.system.model.output.weight.shape[0] == t.system.tokenizer.vocab_size
    assert torch.equal(t.system.model.state_dict()["encoder.layers.0.lstm.weight_ih_l0"],
                       init["model"]["encoder.layers.0.lstm.weight_ih_l0"])


def test_frozen_layers_do_not_move_and_resume_keeps_them_frozen(base, tmp_path):
    _, exp = base
    init = load_checkpoint(exp)
    new = _new_dir(tmp_path)
    t = _trainer(new, tmp_path / "ft", train__init_from=str(exp), train__freeze_layers=1, train__epochs=1)
    t.run()
    after = load_checkpoint(tmp_path / "ft" / "epoch-1.pt")["model"]
    moved = {k for k in after if not torch.equal(after[k], init["model"][k])}
    assert moved and not any(k.endswith(("_l0", "_l0_reverse")) for k in moved)
    assert any(k.endswith("_l1") for k in moved) and "output.weight" in moved
    # resume (a crash loop) re-freezes the same layers and does not refuse the fine-tuning config
    overrides = tiny_overrides(new, None, train__init_from=str(exp), train__freeze_layers=1, train__epochs=2)
    t2 = Trainer(load_config(ExperimentConfig, [], overrides), tmp_path / "ft", resume=True)
    assert t2.epoch == 1
    assert not any(p.requires_grad for n, p in t2.system.model.named_parameters() if n.endswith("_l0"))


def test_freeze_needs_init_from_and_a_layer_count_that_fits(base, tmp_path):
    _, exp = base
    new = _new_dir(tmp_path)
    with pytest.raises(ConfigError, match="init_from"):
        _trainer(new, tmp_path / "a", train__freeze_layers=1)
    with pytest.raises(ConfigError, match="2 recurrent layers"):
        _trainer(new, tmp_path / "b", train__init_from=str(exp), train__freeze_layers=3)


def test_a_feats_model_fine_tunes_on_waveforms(tmp_path):
    """A model trained on feats.scp, fine-tuned on a dir with only wav.scp: same features, on the fly."""
    from asr.cli.main import main as asr_main

    train = write_demo_dir(tmp_path / "train", "train", [f"s03-00{i}" for i in range(6)])
    feats = tmp_path / "train_feats"
    shutil.copytree(train, feats)
    assert asr_main(["compute-fbank", "--sample-frequency=8000", "--num-mel-bins=20", "-q", str(feats),
                     str(tmp_path / "f.ark"), str(feats / "feats.scp")]) == 0
    cfg = load_config(ExperimentConfig, [], tiny_overrides(feats, None, frontend__feature_source="feats",
                                                           frontend__sample_frequency=8000,
                                                           frontend__cmvn="utterance", train__epochs=1))
    Trainer(cfg, tmp_path / "base").run()
    t = _trainer(_new_dir(tmp_path), tmp_path / "ft", train__init_from=str(tmp_path / "base"))
    assert t.system.feature_source == "wav" and t.system.sample_rate == 8000
    t.run()
