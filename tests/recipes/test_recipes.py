"""The recipes end to end on real speech: data prep, features, training, decoding, scoring, RESULTS.md.

Each recipe is copied to a temporary dir (steps/ and utils/ linked to the checkout's recipes/) and
run with its defaults, so the WERs asserted here are those the recipes' RESULTS.md report.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def wer(decode_dir: Path) -> float:
    """The %WER of a decode dir's ``wer`` file."""
    m = re.search(r"^%WER ([0-9.]+) ", (decode_dir / "wer").read_text(), flags=re.M)
    assert m, f"no %WER line in {decode_dir / 'wer'}"
    return float(m.group(1))


def test_yesno_recipe(corpora, copy_recipe, run_in_recipe):
    s5 = copy_recipe("yesno")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(corpora / "yesno"))
    decode = s5 / "exp" / "ctc" / "decode_test"
    assert wer(decode) == 0.0, (decode / "wer").read_text()
    results = (s5 / "RESULTS.md").read_text()
    assert "%WER 0.00" in results and "./run.sh" in results
    for f in ("text", "per_utt", "log/decode.log"):
        assert (decode / f).is_file(), f
    assert (s5 / "exp" / "ctc" / "decode_test_greedy" / "wer").is_file()
    # The monophone HMM-GMM baseline (Kaldi's yesno gets 0% on its 29 test files; ours 0.42-0.83% on
    # seeds 0-2, 1-2 insertions of 240 words, every setting of the grid <= 2.08%: RESULTS.md): lang
    # dir, graph and Kaldi's scoring layout
    mono = s5 / "exp" / "mono"
    assert wer(mono / "decode_test") <= 5.0, (mono / "decode_test" / "wer").read_text()
    for f in ("final.mdl", "tree", "ali.1.gz", "graph/HCLG.fst", "decode_test/scoring/best_wer",
              "decode_test/wer_10_0.5"):
        assert (mono / f).is_file(), f
    for f in ("L.fst", "L_disambig.fst", "topo", "phones.txt", "words.txt", "phones/disambig.int"):
        assert (s5 / "data" / "lang_gmm" / f).is_file(), f
    assert (s5 / "data" / "lang_gmm_test_tg" / "G.fst").is_file()
    assert "exp/mono/decode_test" in results
    # the CTC model's word times against the GMM's forced alignment (RESULTS.md: mean start error 0.08 s)
    times = (s5 / "exp" / "ctc" / "decode_test_greedy" / "word_times").read_text()
    start = float(re.search(r"mean \|start error\| ([0-9.]+) s", times).group(1))
    assert start <= 0.2, times
    assert "mean |start error|" in results
    # The hybrid LSTMP on exp/mono's alignments (seeds 0-2: 0.42%, the GMM's own insertion in one file),
    # decoded through HCLG; `asr transcribe` gives its words with times from the decoder's alignment
    ce = s5 / "exp" / "ce_lstmp"
    assert wer(ce / "decode_test") <= 2.5, (ce / "decode_test" / "wer").read_text()
    for f in ("final.pt", "final.mdl", "tree", "graph/HCLG.fst", "graph/phones/align_lexicon.txt",
              "decode_test/scoring/best_wer"):
        assert (ce / f).is_file(), f
    times = (ce / "decode_test" / "word_times").read_text()
    assert float(re.search(r"mean \|start error\| ([0-9.]+) s", times).group(1)) <= 0.1, times
    assert "exp/ce_lstmp/decode_test" in results


@pytest.mark.slow  # about 10 minutes on 2 cores (40 epochs of a BLSTM 2x128 on 2,177 recordings)
def test_fsdd_recipe(corpora, copy_recipe, run_in_recipe):
    s5 = copy_recipe("fsdd")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(corpora / "fsdd"),
                  "--speechocean-dir", str(corpora / "speechocean762"), timeout=2400)
    exp = s5 / "exp" / "ctc"
    # Guards with margin over seeds 0-2 on the development machines (egs/fsdd/s5/RESULTS.md: test
    # 1.0-5.5%, strings 3.1-6.3%, theo 7.2-13.8% for the earlier defaults; the default without speed
    # perturbation 1.5-2.5%, 2.9-5.0%, 6.2-8.8%), not #11's targets (test <= 1%, strings <= 5%,
    # theo <= 5%), which are not met yet.
    assert wer(exp / "decode_test") <= 8.0, (exp / "decode_test" / "wer").read_text()
    assert wer(exp / "decode_test_concat") <= 9.0, (exp / "decode_test_concat" / "wer").read_text()
    heldout = wer(exp / "decode_test_theo")  # every one of theo's 500 files, a voice not in training
    assert heldout <= 20.0, (exp / "decode_test_theo" / "wer").read_text()
    assert len((exp / "decode_test_theo" / "text").read_text().splitlines()) == 500
    # Silence, noise and hum alone: no words (0 of 40 recordings on seeds 0-2, greedy and with the LM).
    words = (exp / "decode_test_nonspeech" / "words").read_text()
    counts = [int(n) for n in re.findall(r": (\d+) words on", words)]
    assert len(counts) == 2 and all(n <= 2 for n in counts), words
    # Where the words are: measured, not guarded. 80% of the strings' digits within 0.1 s on seeds 0-2
    # on the Intel development machine, 0.0% (median start offset +0.779 s) on an AMD EPYC one with the
    # same seed: a BLSTM's CTC peaks go wherever training put them (egs/fsdd/s5/RESULTS.md).
    times = (exp / "decode_test_concat_greedy" / "word_times").read_text()
    assert re.search(r"\(([0-9.]+)%\) within", times), times
    # The held-out speaker is in no training or dev utterance; speechocean762's voices are in training.
    for part in ("train_all", "dev"):
        assert "theo" not in (s5 / "data" / part / "utt2spk").read_text()
    assert "\nso0" in (s5 / "data" / "train_all" / "utt2spk").read_text()
    results = (s5 / "RESULTS.md").read_text()
    assert "decode_test_theo" in results and "decode_test`" in results and "speechocean762" in results


@pytest.mark.slow
def test_demo_recipe(copy_recipe, run_in_recipe):
    """The recipe `make demo` runs: needs only the corpus shipped in data/demo (no ../shared)."""
    s5 = copy_recipe("demo")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(REPO / "data" / "demo"))
    assert wer(s5 / "exp" / "ctc" / "decode_test") <= 5.0, (s5 / "exp" / "ctc" / "decode_test" / "wer").read_text()
    assert "%WER" in (s5 / "RESULTS.md").read_text()


def test_custom_template_recipe(copy_recipe, run_in_recipe, tmp_path):
    """egs/custom/s5 end to end on a folder of 'your recordings' (demo files with .txt transcripts):
    prepare -> decode with the init model -> fine-tune -> decode -> RESULTS.md."""
    import soundfile as sf
    from tinydata import tiny_overrides, write_demo_dir

    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    demo = REPO / "data" / "demo"
    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, train__epochs=2,
                                                           frontend__sample_frequency=8000,
                                                           frontend__cmvn="utterance"))
    Trainer(cfg, tmp_path / "init").run()
    rec = tmp_path / "my recordings"
    rec.mkdir()
    texts = dict(line.split(maxsplit=1) for line in (demo / "test" / "text").read_text().splitlines())
    for utt in sorted(texts)[:20]:
        x, sr = sf.read(str(demo / "test" / f"{utt}.flac"))
        sf.write(str(rec / f"take {utt}.wav"), x, sr)  # a space in the name, as users' files have
        (rec / f"take {utt}.txt").write_text(texts[utt])
    s5 = copy_recipe("custom")
    run_in_recipe(s5, "run.sh", "--init-model", str(tmp_path / "init"), "--train-src", str(rec),
                  "--finetune-opts", "--epochs 2")
    assert len((s5 / "data" / "train" / "utt2spk").read_text().splitlines()) == 18
    assert len((s5 / "data" / "test" / "utt2spk").read_text().splitlines()) == 2
    results = (s5 / "RESULTS.md").read_text()
    assert "exp/init/decode_test" in results and "exp/finetuned/decode_test" in results
    assert (s5 / "exp" / "finetuned" / "final.pt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "model-avg", "hogwild", "asgd"])
def test_yesno_recipe_two_workers(corpora, copy_recipe, run_in_recipe, mode):
    """yesno trained by 2 workers (torchrun, gloo) of each distributed mode reaches the single-process target."""
    s5 = copy_recipe("yesno")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(corpora / "yesno"), "--nproc", "2", "--dist", mode,
                  "--stop-stage", "4")  # the CTC model and its decoding
    log = "".join(p.read_text() for p in (s5 / "exp" / "ctc" / "log").glob("train.*.log"))
    assert f"distributed: {mode}, 2 workers" in log
    # #13's target is the single-process 0.00% (seeds 0-2). Measured with 2 workers (egs/yesno/s5/RESULTS.md
    # "Two workers"): ddp and model-avg 0.00 (seed 0; DDP 0.42 on another AMD EPYC machine), hogwild
    # 0.00 / 0.00 / 0.42 and asgd 0.83 / 0.00 / 0.00 (seeds 0 / 1 / 2), and asgd seed 0 1.25 on the CI
    # machine (stop 25). The synchronous modes are guarded at two words of 240; the asynchronous ones,
    # whose update order depends on process timing (no run repeats, whatever the seed), at five.
    limit = 0.84 if mode in ("ddp", "model-avg") else 2.09
    assert wer(s5 / "exp" / "ctc" / "decode_test") <= limit, (s5 / "exp" / "ctc" / "decode_test" / "wer").read_text()


@pytest.mark.slow  # about 7 minutes: run.sh's data prep, features, mono and tri1 GMMs, a hybrid LSTM, nine decodes
def test_fsdd_gmm_recipe(corpora, copy_recipe, run_in_recipe):
    """run_gmm.sh, the whole-word HMM-GMM baselines (egs/fsdd/s5/RESULTS.md: mono test 3.50, strings
    4.59, theo 20.60; tri1 4.00, 3.63, 20.00; seed 0; guarded with margin), then run_hybrid.sh on the
    monophone alignments."""
    s5 = copy_recipe("fsdd")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(corpora / "fsdd"), "--speechocean-dir", "", "--stop-stage", "2",
                  timeout=1200)
    run_in_recipe(s5, "run_gmm.sh", timeout=1200)
    mono = s5 / "exp" / "mono"
    assert wer(mono / "decode_test") <= 6.0, (mono / "decode_test" / "wer").read_text()
    assert wer(mono / "decode_test_concat") <= 8.0, (mono / "decode_test_concat" / "wer").read_text()
    assert wer(mono / "decode_test_theo") <= 30.0, (mono / "decode_test_theo" / "wer").read_text()
    assert "./run_gmm.sh" in (mono / "RESULTS.md").read_text()
    tri = s5 / "exp" / "tri1"
    assert tri.joinpath("tree").read_text().startswith("ContextDependency 3 1")
    assert wer(tri / "decode_test") <= 7.0, (tri / "decode_test" / "wer").read_text()
    assert wer(tri / "decode_test_concat") <= 7.0, (tri / "decode_test_concat" / "wer").read_text()
    assert wer(tri / "decode_test_theo") <= 30.0, (tri / "decode_test_theo" / "wer").read_text()
    # the hybrid LSTM on exp/mono's alignments (RESULTS.md: test 1.00-3.50, strings 1.15-5.16, theo 28-35%)
    run_in_recipe(s5, "run_hybrid.sh", timeout=1200)
    ce = s5 / "exp" / "ce_lstm"
    assert wer(ce / "decode_test") <= 8.0, (ce / "decode_test" / "wer").read_text()
    assert wer(ce / "decode_test_concat") <= 10.0, (ce / "decode_test_concat" / "wer").read_text()
    assert wer(ce / "decode_test_theo") <= 50.0, (ce / "decode_test_theo" / "wer").read_text()
    assert "./run_hybrid.sh" in (ce / "RESULTS.md").read_text()


@pytest.mark.slow  # about 2 minutes: fsdd data prep, three 1-epoch trainings, nine decodes
def test_fsdd_transfer_recipe(corpora, copy_recipe, run_in_recipe, tmp_path):
    """run_transfer.sh end to end with a small init model of another corpus (the demo's), on a subset."""
    from tinydata import tiny_overrides, write_demo_dir

    from asr.config import load_config
    from asr.train.config import ExperimentConfig
    from asr.train.trainer import Trainer

    train = write_demo_dir(tmp_path / "train", "train", [f"s0{s}-00{i}" for s in (3, 4) for i in range(8)])
    cfg = load_config(ExperimentConfig, [], tiny_overrides(train, None, train__epochs=1, frontend__cmvn="speaker"))
    Trainer(cfg, tmp_path / "init").run()
    s5 = copy_recipe("fsdd")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(corpora / "fsdd"), "--speechocean-dir", "", "--stop-stage", "2")
    run_in_recipe(s5, "run_transfer.sh", "--init-model", str(tmp_path / "init"), "--subset", "40", "--epochs", "1",
                  "--units", "extend")
    assert len((s5 / "data" / "train_all_n40" / "utt2spk").read_text().splitlines()) == 40
    results = (s5 / "exp" / "RESULTS_transfer_n40_e1_s0.md").read_text()
    for m in ("finetuned_extend", "scratch", "scratch_init_arch"):
        for s in ("test", "test_theo", "test_concat"):
            assert f"exp/transfer_n40_e1_s0_{m}/decode_{s}" in results, results
    assert "%WER" in results
