"""Greedy, beam and LM decoding of a speaker-CMVN model all see the same, speaker-normalised posteriors.

The bug this guards against: ``asr lm-decode`` computed its posteriors with each
utterance normalised on its own while ``asr decode`` used speaker statistics.
"""

from __future__ import annotations

import pytest
import torch

from asr.checkpoint import save_checkpoint
from asr.cli.main import main as asr_main
from asr.datadir import DataDir
from asr.features.cmvn import utterance_cmvn_stats
from asr.lm import estimate_kneser_ney
from asr.system import SystemConfig, build_system
from asr.text import build_tokenizer


@pytest.fixture(scope="module")
def speaker_model(cli_data, tmp_path_factory):
    """A randomly initialised char system with ``cmvn: speaker`` (posteriors depend on the statistics)."""
    train, _ = cli_data
    texts = list(DataDir.load(train).text.values())
    cfg = SystemConfig()
    cfg.frontend.cmvn = "speaker"
    cfg.frontend.sample_frequency = 8000
    cfg.frontend.num_mel_bins = 20
    cfg.model.hidden, cfg.model.layers, cfg.model.bidirectional = 16, 1, True
    torch.manual_seed(0)
    system = build_system(cfg, build_tokenizer("char", texts))
    path = tmp_path_factory.mktemp("spk_model") / "final.pt"
    save_checkpoint(path, system.state())
    return path, system.eval()


def _expected(system, data_dir) -> dict[str, torch.Tensor]:
    """Log-posteriors computed here, independently: statistics summed over each speaker's utterances."""
    from asr.audio import load_utterance

    d = DataDir.load(data_dir)
    waves = {u: torch.from_numpy(load_utterance(d.wav_scp, None, u, sample_rate=system.sample_rate)[0])
             for u in d.utts}
    stats: dict[str, torch.Tensor] = {}
    for u, w in waves.items():
        feats, lens = system.frontend.features(w[None], torch.tensor([len(w)]))
        st = utterance_cmvn_stats(feats.double(), lens)[0]
        spk = d.utt2spk[u]
        stats[spk] = stats[spk] + st if spk in stats else st
    out = {}
    with torch.no_grad():
        for u, w in waves.items():
            logits, n = system(w[None], torch.tensor([len(w)]), spk_stats=stats[d.utt2spk[u]][None])
            out[u] = torch.log_softmax(logits[0, : int(n[0])], -1)
    return out


def test_every_search_sees_the_speaker_normalised_posteriors(cli_data, speaker_model, tmp_path, monkeypatch):
    train, test = cli_data
    path, system = speaker_model
    want = _expected(system, test)
    # The test can fail: per-utterance statistics give other posteriors for this model.
    with torch.no_grad():
        w = next(iter(DataDir.load(test).wav_scp.values()))
        from asr.audio import read_audio

        x = torch.from_numpy(read_audio(w, sample_rate=system.sample_rate)[0])[None]
        alone = torch.log_softmax(system.recognize_logits(x, torch.tensor([x.shape[1]]))[0][0], -1)
    first = DataDir.load(test).utts[0]
    assert not torch.allclose(alone, want[first], atol=1e-4)

    import asr.decode.lexicon as lexicon
    import asr.decode.recognizer as recognizer

    seen: dict[str, list[torch.Tensor]] = {}

    def record(name, fn):
        def wrapped(lp, lens, *a, **k):
            seen.setdefault(name, []).extend(lp[i, : int(lens[i])].clone() for i in range(lp.shape[0]))
            return fn(lp, lens, *a, **k)
        return wrapped

    monkeypatch.setattr(recognizer, "greedy_decode", record("greedy", recognizer.greedy_decode))
    monkeypatch.setattr(recognizer, "prefix_beam_search", record("beam", recognizer.prefix_beam_search))
    prepare = lexicon.LexiconDecoder.prepare
    monkeypatch.setattr(lexicon.LexiconDecoder, "prepare",
                        lambda self, lp, lens=None: record("lm", lambda a, b: prepare(self, a, b))(lp, lens))
    sents = [line.split()[1:] for line in (train / "text").read_text().splitlines()]
    vocab = {w for line in (test / "text").read_text().splitlines() for w in line.split()[1:]}
    lm = tmp_path / "lm.arpa"
    estimate_kneser_ney(sents, order=2, vocab=vocab).write_arpa(lm)
    common = ["--model", str(path), "--max-frames", "900", str(test)]  # several batches
    assert asr_main(["decode", *common, str(tmp_path / "greedy")]) == 0
    assert asr_main(["decode", "--beam", "4", *common, str(tmp_path / "beam")]) == 0
    assert asr_main(["decode", "--lm", str(lm), "--lm-weights", "0 1", "--word-ins-penalties", "0 1",
                     *common, str(tmp_path / "lm")]) == 0
    for name in ("greedy", "beam", "lm"):
        # Batches are ordered by duration: match each row to the utterance whose posteriors it equals.
        matched = [u for lp in seen[name] for u, ref in want.items()
                   if lp.shape == ref.shape and torch.allclose(lp, ref, atol=1e-5)]
        assert sorted(matched) == sorted(want), name
