"""``asr decode --lm`` and ``steps/decode_lm.sh`` on a tiny trained model: Kaldi's grid layout, errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from asr.cli.main import main as asr_main
from asr.lm import estimate_kneser_ney

REPO = Path(__file__).resolve().parents[2]
WER_LINE = re.compile(r"^%WER \d+\.\d\d \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \]")


@pytest.fixture(scope="module")
def lm(cli_data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bigram LM of the training text whose vocabulary also has the test words (as a lexicon would)."""
    train, test = cli_data
    sents = [line.split()[1:] for line in (train / "text").read_text().splitlines()]
    vocab = {w for line in (test / "text").read_text().splitlines() for w in line.split()[1:]}
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    estimate_kneser_ney(sents, order=2, vocab=vocab).write_arpa(path)
    return path


def test_grid_layout(cli_data, tiny_model, lm, tmp_path):
    _, test = cli_data
    out = tmp_path / "decode_test"
    out.mkdir()
    (out / "wer_9_9").write_text("stale\n")  # scores of an earlier grid are removed
    opts = ["--model", str(tiny_model), "--lm", str(lm), "--lm-weights", "0 1.5", "--word-ins-penalties", "0 1",
            "--beam", "8", "--num-threads", "1"]
    assert asr_main(["decode", *opts, "--nj", "2", str(test), str(out)]) == 0
    utts = sorted(line.split()[0] for line in (test / "text").read_text().splitlines())
    grid = [(a, b) for a in ("0", "1.5") for b in ("0", "1")]
    for a, b in grid:
        hyp = (out / "scoring" / f"{a}_{b}.txt").read_text().splitlines()
        assert [line.split()[0] for line in hyp] == utts
        assert WER_LINE.match((out / f"wer_{a}_{b}").read_text())
    assert not (out / "wer_9_9").exists()
    best = (out / "scoring" / "best_wer").read_text()
    m = re.fullmatch(r"(%WER .*\]) (\S+)/wer_(\S+)_(\S+)\n", best)
    assert m and Path(m.group(2)) == out and (m.group(3), m.group(4)) in grid
    assert min(float((out / f"wer_{a}_{b}").read_text().split()[1]) for a, b in grid) == float(best.split()[1])
    assert ((out / "scoring" / "lmwt").read_text().strip(), (out / "scoring" / "wip").read_text().strip()) == \
        (m.group(3), m.group(4))
    assert (out / "text").read_text() == (out / "scoring" / f"{m.group(3)}_{m.group(4)}.txt").read_text()
    assert (out / "wer").read_text().splitlines()[0] == m.group(1)
    assert "#csid" in (out / "per_utt").read_text()
    assert (out / "lang" / "lexicon.txt").is_file() and (out / "lang" / "tokens.txt").is_file()
    log = (out / "log" / "decode.log").read_text()
    assert "lmwt 1.5 wip 1: %WER" in log and "best:" in log
    # Worker processes give the same hypotheses as one process.
    assert asr_main(["decode", *opts, str(test), str(tmp_path / "seq")]) == 0
    for a, b in grid:
        assert (tmp_path / "seq" / "scoring" / f"{a}_{b}.txt").read_text() == \
            (out / "scoring" / f"{a}_{b}.txt").read_text()
    # Every hypothesis word is a word of the LM.
    vocab = set((out / "lang" / "lexicon.txt").read_text().split())
    for a, b in grid:
        for line in (out / "scoring" / f"{a}_{b}.txt").read_text().splitlines():
            assert set(line.split()[1:]) <= vocab


def test_single_setting_without_reference_text(cli_data, tiny_model, lm, tmp_path):
    _, test = cli_data
    data = tmp_path / "data"
    shutil.copytree(test, data)
    (data / "text").unlink()
    out = tmp_path / "decode"
    assert asr_main(["decode", "--model", str(tiny_model), "--lm", str(lm), "--lm-weight", "1",
                     "--word-ins-penalty", "0.5", "--nj", "2", str(data), str(out)]) == 0
    assert (out / "text").read_text() == (out / "scoring" / "1_0.5.txt").read_text()
    assert not list(out.glob("wer*")) and not (out / "scoring" / "best_wer").exists()


def test_errors_are_one_line(cli_data, tiny_model, lm, tmp_path, capsys):
    _, test = cli_data
    out = str(tmp_path / "d")
    cases = [
        (["--model", str(tiny_model), "--lm", str(tmp_path / "no.arpa")], "no.arpa: no such LM file"),
        (["--model", str(tmp_path / "nomodel"), "--lm", str(lm)], "nomodel"),
        (["--model", str(tiny_model), "--lm", str(lm), "--lexicon", str(tmp_path / "no.txt")], "no.txt"),
        (["--model", str(tiny_model), "--lm", str(lm), "--lm-weights", "1 x"], "'x' is not a number"),
        (["--model", str(tiny_model), "--lm", str(lm), "--lm-weights", "1", "--lm-weight", "2"], "not both"),
        (["--model", str(tiny_model), "--lm", str(lm), "--word-ins-penalties", "1 1.0"], "given twice"),
    ]
    for opts, message in cases:
        assert asr_main(["decode", "-q", *opts, str(test), out]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("asr decode: error:") and message in err[0], err


def test_lexicon_option_restricts_words(cli_data, tiny_model, lm, tmp_path):
    _, test = cli_data
    words = tmp_path / "words.txt"
    keep = sorted({w for line in (test / "text").read_text().splitlines() for w in line.split()[1:]})[:3]
    words.write_text("".join(f"{w} {i}\n" for i, w in enumerate(keep, 1)))
    out = tmp_path / "decode"
    assert asr_main(["decode", "--model", str(tiny_model), "--lm", str(lm), "--lexicon", str(words),
                     "--lm-weight", "1", "--word-ins-penalty", "0", str(test), str(out)]) == 0
    for line in (out / "text").read_text().splitlines():
        assert set(line.split()[1:]) <= set(keep)


@pytest.mark.skipif(shutil.which("perl") is None, reason="run.pl needs perl")
def test_recipe_script(cli_data, tiny_model, lm, tmp_path):
    _, test = cli_data
    out = tmp_path / "decode_lm"
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    r = subprocess.run(["steps/decode_lm.sh", "--lm-weights", "0.5 1", "--word-ins-penalties", "0", "--beam", "4",
                        str(tiny_model), str(lm), str(test), str(out)], cwd=REPO / "recipes", env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    assert WER_LINE.match(r.stdout.splitlines()[-1])
    assert (out / "wer_0.5_0").is_file() and (out / "wer_1_0").is_file() and (out / "scoring" / "best_wer").is_file()
    assert "# Ended (code 0)" in (out / "log" / "lm_decode.log").read_text()


def test_lm_decode_is_a_deprecated_alias(cli_data, tiny_model, lm, tmp_path, capsys):
    """``asr lm-decode`` warns, then decodes lm-decode's default grid into the same layout."""
    _, test = cli_data
    out = tmp_path / "alias"
    assert asr_main(["lm-decode", "--model", str(tiny_model), "--lm", str(lm), str(test), str(out)]) == 0
    assert "deprecated" in capsys.readouterr().err
    assert len(list(out.glob("wer_*_*"))) == 12 and (out / "log" / "lm_decode.log").is_file()
    direct = tmp_path / "direct"
    assert asr_main(["decode", "--model", str(tiny_model), "--lm", str(lm), "--lm-weights", "0.5 1 1.5 2",
                     "--word-ins-penalties", "0 0.5 1", str(test), str(direct)]) == 0
    assert (direct / "scoring" / "best_wer").read_text().split("]")[0] == \
        (out / "scoring" / "best_wer").read_text().split("]")[0]


def test_word_ins_penalty_convention(cli_data, tiny_model, lm, tmp_path, capsys):
    """Kaldi's sign everywhere: a large positive penalty removes words; --word-score S is --word-ins-penalty -S."""
    _, test = cli_data
    base = ["--model", str(tiny_model), "--lm", str(lm), "--lm-weight", "0"]
    assert asr_main(["decode", *base, "--word-ins-penalty", "-5", str(test), str(tmp_path / "cheap")]) == 0
    assert asr_main(["decode", *base, "--word-ins-penalty", "50", str(test), str(tmp_path / "dear")]) == 0
    assert asr_main(["decode", *base, "--word-score", "5", str(test), str(tmp_path / "alias")]) == 0
    assert "deprecated" in capsys.readouterr().err
    words = {d: sum(len(line.split()) - 1 for line in (tmp_path / d / "text").read_text().splitlines())
             for d in ("cheap", "dear", "alias")}
    assert words["dear"] < words["cheap"]
    assert (tmp_path / "alias" / "text").read_text() == (tmp_path / "cheap" / "text").read_text()
    wavs = [line.split()[1] for line in (test / "wav.scp").read_text().splitlines()]
    assert asr_main(["transcribe", *base, "--word-ins-penalty", "-5", *wavs]) == 0
    got = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    ids = {Path(w).stem: u for u, w in (line.split() for line in (test / "wav.scp").read_text().splitlines())}
    want = {u: line for line in (tmp_path / "cheap" / "text").read_text().splitlines() for u in [line.split()[0]]}
    assert {ids[k]: v.split()[1:] for k, v in got.items()} == {u: v.split()[1:] for u, v in want.items()}


def test_beam_means_the_same_with_an_lm(cli_data, tiny_model, lm, tmp_path):
    """--beam 1 with --lm is a beam of 1 (no silent 50); the default with --lm is 50."""
    _, test = cli_data
    opts = ["--model", str(tiny_model), "--lm", str(lm), str(test)]
    assert asr_main(["decode", "--beam", "1", *opts, str(tmp_path / "b1")]) == 0
    assert asr_main(["decode", *opts, str(tmp_path / "b50")]) == 0
    assert "lexicon search with" in (tmp_path / "b1" / "log" / "decode.log").read_text()
    assert "(beam 1)" in (tmp_path / "b1" / "log" / "decode.log").read_text()
    assert "(beam 50)" in (tmp_path / "b50" / "log" / "decode.log").read_text()


def test_tlg_graph_decode_and_transcribe(cli_data, tiny_model, lm, tmp_path, capsys):
    """The WFST path for a CTC model: mkgraph-ctc, decode-tlg's grid layout, transcribe --graph
    (words of the graph's vocabulary, text only), and one-line refusals."""
    _, test = cli_data
    graph = tmp_path / "graph_tlg"
    assert asr_main(["mkgraph-ctc", "-q", str(tiny_model), str(lm), str(graph)]) == 0
    out = tmp_path / "decode_tlg"
    assert asr_main(["decode-tlg", "-q", "--model", str(tiny_model), "--lm-weights", "0.5 1.0",
                     "--word-ins-penalties", "0.0", str(graph), str(test), str(out)]) == 0
    for name in ("wer_0.5_0.0", "wer_1.0_0.0", "scoring/best_wer", "text", "per_utt"):
        assert (out / name).is_file(), name
    vocab = {line.split()[0] for line in (graph / "words.txt").read_text().splitlines()}
    for line in (out / "text").read_text().splitlines():
        assert set(line.split()[1:]) <= vocab
    wavs = [line.split(maxsplit=1)[1] for line in (test / "wav.scp").read_text().splitlines()][:2]
    capsys.readouterr()
    assert asr_main(["transcribe", "-q", "--model", str(tiny_model), "--graph", str(graph), *wavs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(set(ln.split()[1:]) <= vocab for ln in lines)
    for opts, message in ((["--format", "json"], "without times"), (["--graph", str(tmp_path)], "TLG.fst")):
        assert asr_main(["transcribe", "-q", "--model", str(tiny_model), "--graph", str(graph), *opts, wavs[0]]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
