"""Streaming: chunked audio with carried state gives the whole-utterance log-posteriors and words."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tinydata import tiny_overrides, write_demo_dir

from asr.config import load_config
from asr.decode.recognizer import Recognizer
from asr.decode.streaming import Stream
from asr.errors import AsrError
from asr.train.config import ExperimentConfig
from asr.train.trainer import Trainer


@pytest.fixture(scope="module")
def uni_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stream")
    train = write_demo_dir(root / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(6)])
    out = {}
    for name, extra in (("lstm", {}), ("lstmp", {"model__proj": 12}), ("bi", {"model__bidirectional": "true"})):
        cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, model__layers=2, train__epochs=1,
                                                               frontend__sample_frequency=8000, **extra))
        Trainer(cfg, root / name).run()
        out[name] = root / name
    out["test"] = write_demo_dir(root / "test", "test", ["s11-010", "s12-011"])
    return out


@pytest.mark.parametrize("name", ["lstm", "lstmp"])
@pytest.mark.parametrize("chunk", [1, 160, 777, 4000])
def test_chunks_give_the_whole_utterance_posteriors(uni_models, name, chunk):
    rec = Recognizer(uni_models[name])
    data = rec.open_data(uni_models["test"])
    utts, xs = data.load(range(len(data)))
    for u, x in zip(utts, xs):
        whole, lens = rec.log_probs([x])
        stream = Stream(rec)
        wave = x.numpy()
        for start in range(0, len(wave), chunk):
            stream.accept(wave[start: start + chunk])
        result = stream.finish()
        got = stream.all_log_probs
        assert got.shape == whole[0, : int(lens[0])].shape
        assert torch.allclose(got, whole[0, : int(lens[0])], atol=1e-5), (u.utt, chunk)
        assert result.text == rec.search(whole, lens)[0].text


def test_bidirectional_models_do_not_stream(uni_models):
    with pytest.raises(AsrError, match="bidirectional"):
        Stream(Recognizer(uni_models["bi"]))


def test_transcribe_stream_cli_matches_and_logs_latency(uni_models, capsys):
    from asr.cli.main import main as asr_main

    wavs = [line.split()[1] for line in (uni_models["test"] / "wav.scp").read_text().splitlines()]
    assert asr_main(["transcribe", "--model", str(uni_models["lstm"]), *wavs]) == 0
    whole = capsys.readouterr().out
    assert asr_main(["transcribe", "--stream", "--chunk-ms", "120", "--model", str(uni_models["lstm"]), *wavs]) == 0
    captured = capsys.readouterr()
    assert captured.out == whole and "processing per chunk" in captured.err
