"""Frame-level cross-entropy training and hybrid decoding (Sak et al. 2014's system, in small).

Unit tests of the criterion (lengths, subsampling, the output delay), truncated BPTT (equal to
whole-utterance gradients when a chunk covers the utterance), frame labels and priors, hybrid
decoding of hand-made posteriors; and an end to end run on the synthetic HMM data: a monophone
GMM, its alignments, a CE-trained LSTMP with delay and chunks, HCLG decoding of unseen utterances.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from hmmdata import ARPA, synthetic_dir, synthetic_lang

from asr.align.labels import UNSEEN_LOG_PRIOR, LabelError, load_frame_labels, log_priors, pdf_counts, read_pdf_archive
from asr.batches import Utterance
from asr.config import ConfigError
from asr.models import EncoderConfig, build_model
from asr.text import PdfUnits, Tokenizer, TokenizerError
from asr.train.criteria import FrameCECriterion


def _utt(name: str) -> Utterance:
    return Utterance(utt=name, spk=name, duration=1.0, text="")


# -- the criterion ---------------------------------------------------------------------------------
def test_ce_loss_is_the_summed_cross_entropy_over_the_shorter_length():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 4)
    targets = torch.tensor([[1, 2, 3, 0, 1, 2], [3, 3, 1, 0, 0, 0]])
    lens, target_lens = torch.tensor([6, 3]), torch.tensor([5, 4])  # utterance 0: one label short
    crit = FrameCECriterion({})
    loss, count = crit.loss(logits, lens, targets, target_lens)
    lp = torch.log_softmax(logits, -1)
    want = -sum(lp[0, t, targets[0, t]] for t in range(5)) - sum(lp[1, t, targets[1, t]] for t in range(3))
    assert count == 8 and loss.item() == pytest.approx(float(want), rel=1e-6)
    errs, n = crit.errors(logits, lens, targets, target_lens)
    best = logits.argmax(-1)
    assert n == 8 and errs == int((best[0, :5] != targets[0, :5]).sum() + (best[1, :3] != targets[1, :3]).sum())


def test_ce_targets_follow_the_models_subsampling_and_unalignable_utterances_are_named():
    labels = {"a": np.arange(10), "b": np.arange(7)}
    crit = FrameCECriterion(labels, subsample=3, source="exp/x_ali")
    ta, tb, tc = crit.targets([_utt("a"), _utt("b"), _utt("c")])
    assert ta.tolist() == [0, 3, 6, 9] and tb.tolist() == [0, 3, 6] and tc.numel() == 0
    assert crit.unusable("c", tc, 4, 0.03) == "no alignment in exp/x_ali"
    assert crit.unusable("a", ta, 4, 0.03) is None
    assert "alignment has 4 output frames" in crit.unusable("a", ta, 20, 0.03)


def test_output_delay_lets_output_t_see_input_t_plus_delay_and_no_further():
    """With ``model.delay`` d the loss at output t (label t) depends on inputs 0..t+d only."""
    torch.manual_seed(0)
    d, t = 3, 4
    model = build_model(EncoderConfig(cell="lstm", hidden=8, proj=4, layers=2, delay=d), 5, 6)
    x = torch.randn(1, 12, 5, requires_grad=True)
    logits, _ = model(x, torch.tensor([12]))
    torch.log_softmax(logits, -1)[0, t, 2].backward()
    moved = x.grad[0].abs().sum(-1) > 0
    assert moved[: t + d + 1].all() and not moved[t + d + 1:].any()


# -- truncated BPTT --------------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [0, 2])
def test_truncated_bptt_equals_whole_utterance_gradients_when_a_chunk_covers_the_utterance(delay):
    torch.manual_seed(1)
    model = build_model(EncoderConfig(cell="lstm", hidden=8, proj=4, layers=2, delay=delay), 5, 6)
    x, lens = torch.randn(3, 11, 5), torch.tensor([11, 7, 4])
    targets = torch.randint(0, 6, (3, 11))
    crit = FrameCECriterion({})

    def grads(fn):
        model.zero_grad()
        logits, out_lens, _ = fn()
        loss, _ = crit.loss(logits, out_lens, targets, lens)
        loss.backward()
        return logits.detach(), [p.grad.clone() for p in model.parameters()]

    whole, g_whole = grads(lambda: model.forward_state(x, lens))
    covered, g_covered = grads(lambda: model.forward_truncated(x, lens, 11 + delay))
    cut, g_cut = grads(lambda: model.forward_truncated(x, lens, 3))
    assert torch.allclose(whole, covered, atol=1e-6) and torch.allclose(whole, cut, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_whole, g_covered))
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_whole, g_cut))  # truncated


def test_truncated_bptt_refuses_a_bidirectional_model():
    model = build_model(EncoderConfig(cell="lstm", hidden=8, layers=1, bidirectional=True), 5, 6)
    with pytest.raises(ValueError, match="unidirectional"):
        model.forward_truncated(torch.randn(1, 4, 5), torch.tensor([4]), 2)


# -- frame labels and priors ---------------------------------------------------------------------
def test_pdf_units_keep_their_priors_through_a_checkpoint_state(tmp_path):
    units = PdfUnits(3, [3.0, 1.0, 0.0])
    again = Tokenizer.from_state(units.state())
    assert isinstance(again, PdfUnits) and again.vocab_size == 3 and again.counts == [3.0, 1.0, 0.0]
    assert again.log_priors() == pytest.approx([np.log(0.75), np.log(0.25), UNSEEN_LOG_PRIOR])
    assert log_priors([3, 1, 0]) == pytest.approx(again.log_priors())
    with pytest.raises(TokenizerError, match="no spelling"):
        units.encode("YES", utt="u1")
    units.save(tmp_path)
    assert (tmp_path / "prior_counts").read_text() == "[ 3 1 0 ]\n"


def test_pdf_archives_text_binary_and_gzipped(tmp_path):
    import kaldiio

    (tmp_path / "pdf.txt").write_text("u1 0 0 1 2\nu2 2 2\n")
    buf = io.BytesIO()
    kaldiio.save_ark(buf, {"u1": np.array([0, 0, 1, 2], dtype=np.int32), "u2": np.array([2, 2], dtype=np.int32)})
    (tmp_path / "pdf.ark.gz").write_bytes(gzip.compress(buf.getvalue()))
    for name in ("pdf.txt", "pdf.ark.gz"):
        lab = load_frame_labels(tmp_path / name, num_pdfs=3)
        assert {u: p.tolist() for u, p in lab.pdfs.items()} == {"u1": [0, 0, 1, 2], "u2": [2, 2]}
        assert pdf_counts(lab).tolist() == [2, 1, 3] and pdf_counts(lab, ["u2"]).tolist() == [0, 0, 2]
    (tmp_path / "bad.txt").write_text("u1 0 1\nu2 0 x\n")
    with pytest.raises(LabelError, match=r"bad.txt:2: expected"):
        read_pdf_archive(tmp_path / "bad.txt")
    with pytest.raises(LabelError, match="needs the number of pdfs"):
        load_frame_labels(tmp_path / "pdf.txt")
    with pytest.raises(LabelError, match="pdf id 2 outside"):
        load_frame_labels(tmp_path / "pdf.txt", num_pdfs=2)
    with pytest.raises(LabelError, match="no such alignment dir"):
        load_frame_labels(tmp_path / "missing")


# -- hybrid: GMM alignments -> CE training -> HCLG decoding ------------------------------------------
@pytest.fixture(scope="module")
def hmm(tmp_path_factory):
    from asr.gmm.feats import FeatOpts
    from asr.gmm.train import MonoConfig, align, train_mono
    from asr.graph.hclg import format_lm, make_graph

    tmp = tmp_path_factory.mktemp("hybrid")
    synthetic_dir(tmp / "train", 30, seed=0)
    synthetic_dir(tmp / "test", 10, seed=1)
    lang = synthetic_lang(tmp)
    (tmp / "lm.arpa").write_text(ARPA)
    format_lm(lang, tmp / "lm.arpa", tmp / "lang_test")
    mono = tmp / "exp" / "mono"
    train_mono(tmp / "train", lang, mono, MonoConfig(num_iters=10, max_iter_inc=6, totgauss=30,
                                                     realign_iters="1 2 3 5 7"), FeatOpts(num_ceps=0, delta_order=1))
    make_graph(tmp / "lang_test", mono, mono / "graph")
    align(tmp / "train", lang, mono, tmp / "exp" / "mono_ali")
    align(tmp / "test", lang, mono, tmp / "exp" / "mono_ali_test")
    return tmp


def test_hybrid_decoding_of_hand_made_posteriors_gives_the_words_and_their_frames(hmm):
    """Posteriors that put 0.9 on the pdf of a forced alignment decode to its words, at its frames."""
    from asr.decode.hybrid import HybridDecoder, HybridGraph
    from asr.gmm.ali import ali_to_phones, ali_to_words
    from asr.gmm.train import read_alignments
    from asr.graph.lang import read_align_lexicon

    mono = hmm / "exp" / "mono"
    graph = HybridGraph(mono / "graph", mono)
    alis = read_alignments(hmm / "exp" / "mono_ali_test" / "ali.1.gz")
    text = dict(line.split(" ", 1) for line in (hmm / "test" / "text").read_text().splitlines())
    P = graph.num_pdfs
    items = []
    for utt, ali in alis.items():
        pdfs = graph.tid2pdf[ali]
        post = np.full((len(ali), P), 0.1 / (P - 1))
        post[np.arange(len(ali)), pdfs] = 0.9
        items.append((utt, np.log(post)))
    dec = HybridDecoder(graph, np.full(P, -np.log(P)))
    hyps = dec.decode(items)
    prons, sil = read_align_lexicon(mono / "graph")
    for utt, ali in alis.items():
        assert hyps[utt].words == text[utt].split() and hyps[utt].reached_final
        want = ali_to_words(ali_to_phones(graph.model, ali), text[utt].split(), prons, sil)
        got = [(w.word, w.start, w.frames) for w in hyps[utt].timed]
        assert got == [(w.word, w.start, w.frames) for w in want]
        assert all(w.confidence == pytest.approx(0.9) for w in hyps[utt].timed)
    with pytest.raises(Exception, match="another model"):
        HybridDecoder(graph, np.zeros(P + 1))


def _ce_config(hmm: Path, exp_seed: int = 0, **train):
    from asr.features.frontend import FrontendConfig
    from asr.train.config import DataConfig, ExperimentConfig, OptimConfig, TrainConfig

    return ExperimentConfig(
        data=DataConfig(train=str(hmm / "train"), units="pdf", alignments=str(hmm / "exp" / "mono_ali"),
                        dev=str(hmm / "test"), dev_alignments=str(hmm / "exp" / "mono_ali_test"), max_frames=2000),
        frontend=FrontendConfig(feature_source="feats", num_mel_bins=4, cmvn="global"),
        model=EncoderConfig(cell="lstm", hidden=24, proj=12, layers=1, delay=2),
        optim=OptimConfig(lr=0.02, schedule="constant"),
        train=TrainConfig(criterion="ce", chunk_width=10, epochs=12, seed=exp_seed, num_threads=1, log_interval=0,
                          tensorboard=False, **train))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hybrid_lstmp_trained_on_gmm_alignments_recognises_unseen_utterances(hmm, tmp_path, seed):
    from asr.decode.hybrid import decode_data_dir
    from asr.train.trainer import Trainer

    exp = tmp_path / "ce"
    trainer = Trainer(_ce_config(hmm, seed), exp)
    trainer.run()
    hist = trainer.history
    assert hist[-1]["dev_token_acc"] > 0.8, hist  # frame accuracy against the dev alignments
    for name in ("final.mdl", "tree"):  # the alignment model, for mkgraph and the decoder
        assert (exp / name).read_bytes() == (hmm / "exp" / "mono_ali" / name).read_bytes()
    from asr.cli.main import main
    from asr.decode.recognizer import Recognizer
    from asr.errors import AsrError
    from asr.graph.hclg import make_graph

    with pytest.raises(AsrError, match="decodes through a graph"):
        Recognizer(exp)  # no graph/ yet
    # seed 0: graph/ beside the model, through the command line; the others: a graph elsewhere, the library
    graph = exp / "graph" if seed == 0 else tmp_path / "graph_elsewhere"
    make_graph(hmm / "lang_test", exp, graph)
    if seed == 0:
        assert main(["decode-hybrid", "-q", "--lm-weights", "8 12", "--word-ins-penalties", "0.0",
                     str(exp / "graph"), str(hmm / "test"), str(exp / "decode_test")]) == 0
        hyps = dict(line.split(" ", 1) for line in (exp / "decode_test" / "text").read_text().splitlines())
        assert main(["decode", "-q", "--model", str(exp), "--lm", str(hmm / "lm.arpa"), str(hmm / "test"),
                     str(tmp_path / "d")]) == 1  # refused in one line: the graph holds the LM
    else:
        hyps = decode_data_dir(graph, hmm / "test", exp / "decode_test", lm_weights=["8", "12"],
                               word_ins_penalties=["0.0"])
    best = (exp / "decode_test" / "scoring" / "best_wer").read_text()
    wer = float(best.split()[1])
    assert wer <= 10.0, best  # the GMM that made the alignments recognises every word of this data
    assert len(hyps) == 10 and (exp / "decode_test" / "wer_8_0.0").is_file()


def test_ce_options_that_do_not_fit_are_refused(hmm, tmp_path):
    import dataclasses

    from asr.train.trainer import check_config

    cfg = _ce_config(hmm)
    check_config(cfg)
    bad = [
        (dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, units="char")), "only those"),
        (dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dev_alignments="")), "dev_alignments"),
        (dataclasses.replace(cfg, frontend=dataclasses.replace(cfg.frontend, speed_perturb=[0.9, 1.1])), "speed"),
        (dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, bidirectional=True, delay=0)), "unidirectional"),
    ]
    for c, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            check_config(c)
