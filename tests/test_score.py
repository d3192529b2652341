"""asr.score, `asr score`, steps/score.sh and utils/best_wer.sh; agreement with NIST sclite."""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from asr.cli.main import main as asr_main
from asr.score import (
    ErrorCounts,
    ScoreError,
    format_per_utt,
    format_report,
    format_ser,
    format_wer,
    read_text,
    score_texts,
    tokenize,
)

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- formatting


def test_format_wer_and_ser_as_compute_wer():
    c = ErrorCounts(ref_words=454, errors=56, ins=7, dels=8, subs=41, sents=40, sent_errors=5)
    assert format_wer(c) == "%WER 12.33 [ 56 / 454, 7 ins, 8 del, 41 sub ]"
    assert format_wer(c, "CER") == "%CER 12.33 [ 56 / 454, 7 ins, 8 del, 41 sub ]"
    assert format_ser(c) == "%SER 12.50 [ 5 / 40 ]"
    assert format_report(c).splitlines() == [
        "%WER 12.33 [ 56 / 454, 7 ins, 8 del, 41 sub ]",
        "%SER 12.50 [ 5 / 40 ]",
        "Scored 40 sentences, 0 not present in hyp.",
    ]


def test_rates_without_reference_words():
    assert ErrorCounts().wer == 0.0 and ErrorCounts().ser == 0.0
    c = ErrorCounts(ref_words=0, errors=2, ins=2, sents=1, sent_errors=1)
    assert format_wer(c) == "%WER inf [ 2 / 0, 2 ins, 0 del, 0 sub ]"


def test_error_counts_add_and_correct():
    a = ErrorCounts(ref_words=3, errors=2, ins=1, dels=0, subs=1, sents=1, sent_errors=1)
    b = ErrorCounts(ref_words=4, errors=1, ins=0, dels=1, subs=0, sents=1, sent_errors=1, not_in_hyp=1)
    s = a + b
    assert s == ErrorCounts(7, 3, 1, 1, 1, 2, 2, 1)
    assert s.correct == 5
    assert s.wer == pytest.approx(100 * 3 / 7)


# ---------------------------------------------------------------- scoring


def test_score_texts_counts_and_per_utt_layout():
    ref = {"u1": "the cat sat", "u2": "a b c", "u3": "x y"}
    hyp = {"u1": "the cat sat", "u2": "a x c d", "u3": ""}
    totals, per_utt = score_texts(ref, hyp)
    assert (totals.ref_words, totals.errors, totals.ins, totals.dels, totals.subs) == (8, 4, 1, 2, 1)
    assert (totals.sents, totals.sent_errors, totals.not_in_hyp) == (3, 2, 0)
    assert [s.utt for s in per_utt] == ["u1", "u2", "u3"]
    assert format_per_utt(per_utt) == (
        "u1 ref  the cat sat\n"
        "u1 hyp  the cat sat\n"
        "u1 op   C   C   C\n"
        "u1 #csid 3 0 0 0\n"
        "u2 ref  a b c ***\n"
        "u2 hyp  a x c d\n"
        "u2 op   C S C I\n"
        "u2 #csid 2 1 1 0\n"
        "u3 ref  x   y\n"
        "u3 hyp  *** ***\n"
        "u3 op   D   D\n"
        "u3 #csid 0 0 0 2\n"
    )


def test_tokens_split_at_any_ascii_white_space():
    totals, _ = score_texts({"u": "a\tb  c "}, {"u": " a b\tc"})
    assert totals.errors == 0 and totals.ref_words == 3


def _edit_distance(r: list[str], h: list[str]) -> int:
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
    return d[len(h)]


def test_errors_are_the_minimum_edit_distance_and_columns_are_consistent():
    rng = random.Random(1)
    vocab = ["a", "b", "c", "d"]
    ref = {f"u{i}": " ".join(rng.choices(vocab, k=rng.randint(0, 9))) for i in range(300)}
    hyp = {u: " ".join(rng.choices(vocab, k=rng.randint(0, 9))) for u in ref}
    totals, per_utt = score_texts(ref, hyp)
    for s in per_utt:
        assert s.counts.errors == _edit_distance(s.ref, s.hyp)
        assert [r for r, _, op in s.columns if op != "I"] == s.ref
        assert [h for _, h, op in s.columns if op != "D"] == s.hyp
        assert all((r == h) == (op == "C") for r, h, op in s.columns)
    assert totals.errors == sum(_edit_distance(tokenize(ref[u]), tokenize(hyp[u])) for u in ref)
    assert totals.ref_words == sum(len(tokenize(t)) for t in ref.values())


def test_cer_counts_characters_of_words_not_spaces():
    totals, per_utt = score_texts({"u": "hello world", "v": "ab c"}, {"u": "helo world", "v": "a bc"}, unit="char")
    assert (totals.ref_words, totals.errors, totals.dels) == (13, 1, 1)
    assert per_utt[1].counts.errors == 0  # only the word boundary moved
    assert tokenize("ab c", "char") == ["a", "b", "c"]
    assert tokenize("añb", "char") == ["a", "ñ", "b"]


def test_mode_all_scores_missing_hypotheses_as_deletions_and_logs_it(caplog):
    ref = {"u1": "a b", "u2": "c d e"}
    with caplog.at_level(logging.WARNING, logger="asr.score"):
        totals, per_utt = score_texts(ref, {"u1": "a b"}, mode="all", hyp_name="exp/text")
    assert (totals.ref_words, totals.errors, totals.dels, totals.sents, totals.not_in_hyp) == (5, 3, 3, 2, 1)
    assert per_utt[1].missing and per_utt[1].counts.dels == 3
    assert "u2" in caplog.text and "deletions" in caplog.text and "exp/text" in caplog.text
    assert format_report(totals).splitlines()[2] == "Scored 2 sentences, 1 not present in hyp."


def test_mode_present_skips_missing_hypotheses():
    totals, per_utt = score_texts({"u1": "a b", "u2": "c d e"}, {"u1": "a x"}, mode="present")
    assert (totals.ref_words, totals.errors, totals.sents, totals.not_in_hyp) == (2, 1, 1, 1)
    assert [s.utt for s in per_utt] == ["u1"]


def test_mode_strict_fails_on_missing_hypotheses():
    with pytest.raises(ScoreError, match=r"hyp.txt: no hypothesis for 1 utterance.*ref.txt.*u2"):
        score_texts({"u1": "a", "u2": "b"}, {"u1": "a"}, mode="strict", ref_name="ref.txt", hyp_name="hyp.txt")
    totals, _ = score_texts({"u1": "a"}, {"u1": "a"}, mode="strict")
    assert totals.errors == 0


@pytest.mark.parametrize("mode", ["all", "present", "strict"])
def test_hypothesis_not_in_reference_is_an_error_naming_it(mode):
    with pytest.raises(ScoreError, match=r"hyp.txt: 1 utterance\(s\) not in ref.txt: zz"):
        score_texts({"u1": "a"}, {"u1": "a", "zz": "b"}, mode=mode, ref_name="ref.txt", hyp_name="hyp.txt")


def test_read_text(tmp_path):
    f = tmp_path / "text"
    f.write_text("u1 hello  world\nu2\nu3 \tx\n")
    assert read_text(f) == {"u1": "hello  world", "u2": "", "u3": "x"}
    f.write_text("u1 a\nu2 b\nu1 c\n")
    with pytest.raises(ScoreError, match=r"text:3: duplicate key 'u1' \(first on line 1\)"):
        read_text(f)
    f.write_text("u1 a\n\nu2 b\n")
    with pytest.raises(ScoreError, match=r"text:2: empty line"):
        read_text(f)
    with pytest.raises(ScoreError, match="missing: no such file"):
        read_text(tmp_path / "missing")


# ---------------------------------------------------------------- asr score


def test_cli_prints_report_and_writes_per_utt(tmp_path, capsys):
    (tmp_path / "ref").write_text("u1 a b c\nu2 x y\n")
    (tmp_path / "hyp").write_text("u1 a c\nu2 x y z\n")
    rc = asr_main(["score", str(tmp_path / "ref"), str(tmp_path / "hyp"), "--per-utt", str(tmp_path / "pu"),
                   "--output", str(tmp_path / "wer")])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["%WER 40.00 [ 2 / 5, 1 ins, 1 del, 0 sub ]", "%SER 100.00 [ 2 / 2 ]",
                                "Scored 2 sentences, 0 not present in hyp."]
    assert (tmp_path / "wer").read_text() == out
    assert (tmp_path / "pu").read_text().splitlines()[3] == "u1 #csid 2 0 0 1"


def test_cli_cer_and_mode(tmp_path, capsys):
    (tmp_path / "ref").write_text("u1 abc\nu2 de\n")
    (tmp_path / "hyp").write_text("u1 abd\n")
    assert asr_main(["score", "--cer", "--mode", "present", str(tmp_path / "ref"), str(tmp_path / "hyp")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "%CER 33.33 [ 1 / 3, 0 ins, 0 del, 1 sub ]"
    assert asr_main(["score", "--mode", "strict", str(tmp_path / "ref"), str(tmp_path / "hyp")]) == 1
    assert "no hypothesis for 1 utterance" in capsys.readouterr().err


def test_cli_help_documents_the_alignment_convention(capsys):
    with pytest.raises(SystemExit):
        asr_main(["score", "--help"])
    out = capsys.readouterr().out
    assert "unit costs" in out and "sclite" in out and "--mode" in out


# ---------------------------------------------------------------- recipe scripts


def _recipe_dir(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "utils").symlink_to(REPO / "recipes" / "utils")
    (tmp_path / "steps").symlink_to(REPO / "recipes" / "steps")
    env = dict(os.environ)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def test_score_sh_writes_wer_cer_per_utt_and_log(tmp_path):
    env = _recipe_dir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "text").write_text("u1 a b c\nu2 the cat\nu3 x\n")
    (tmp_path / "exp" / "decode").mkdir(parents=True)
    (tmp_path / "exp" / "decode" / "text").write_text("u1 a b\nu2 the bat\n")
    r = subprocess.run(["steps/score.sh", "--cer", "true", "data", "exp/decode"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    d = tmp_path / "exp" / "decode"
    assert (d / "wer").read_text().splitlines() == [
        "%WER 50.00 [ 3 / 6, 0 ins, 2 del, 1 sub ]", "%SER 100.00 [ 3 / 3 ]",
        "Scored 3 sentences, 1 not present in hyp."]
    assert (d / "cer").read_text().splitlines()[0] == "%CER 30.00 [ 3 / 10, 0 ins, 2 del, 1 sub ]"
    assert "u3 #csid 0 0 0 1" in (d / "per_utt").read_text()
    log = (d / "log" / "score.log").read_text()
    assert "scored as all deletions: u3" in log and "# Ended (code 0)" in log
    assert r.stdout.splitlines() == ["%WER 50.00 [ 3 / 6, 0 ins, 2 del, 1 sub ] exp/decode/wer",
                                     "%CER 30.00 [ 3 / 10, 0 ins, 2 del, 1 sub ] exp/decode/cer"]
    # A failed scoring leaves no stale result behind.
    r = subprocess.run(["steps/score.sh", "--mode", "strict", "data", "exp/decode"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "score.log" in r.stderr
    assert not (d / "wer").exists()
    r = subprocess.run(["steps/score.sh", "data", "exp/nothing"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "no such file exp/nothing/text" in r.stderr


def test_best_wer_picks_lowest_and_moves_file_name_to_the_end():
    lines = ("exp/a/wer_10:%WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]\n"
             "exp/a/wer_11:%WER 9.50 [ 43 / 454, 7 ins, 8 del, 28 sub ]\n"
             "exp/a/wer_11:%SER 1.00 [ 1 / 40 ]\n"
             "exp/b/wer:%WER 9.50 [ 43 / 454, 1 ins, 8 del, 34 sub ]\n"
             "exp/c/wer:%WER 10.01 [ 45 / 454, 1 ins, 8 del, 36 sub ]\n")
    r = subprocess.run([str(REPO / "recipes" / "utils" / "best_wer.sh")], input=lines, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0
    assert r.stdout == "%WER 9.50 [ 43 / 454, 7 ins, 8 del, 28 sub ] exp/a/wer_11\n"
    r = subprocess.run([str(REPO / "recipes" / "utils" / "best_wer.sh")], input="%WER 3.00 [ 3 / 100, 0 ins, "
                       "0 del, 3 sub ]\n", capture_output=True, text=True, timeout=30)
    assert r.stdout == "%WER 3.00 [ 3 / 100, 0 ins, 0 del, 3 sub ]\n"


# ---------------------------------------------------------------- NIST sclite


def _sclite_command() -> list[str] | None:
    if shutil.which("sclite"):
        return ["sclite"]
    if shutil.which("sctk"):
        return ["sctk", "sclite"]
    return None


SCLITE = _sclite_command()
needs_sclite = pytest.mark.skipif(SCLITE is None, reason="NIST sclite not installed (Debian package sctk)")


def _noisy_pairs(seed: int, n: int, related: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Random references; hypotheses are edited copies (related) or independent strings, some empty."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(6)]
    ref, hyp = {}, {}
    for i in range(n):
        r = rng.choices(vocab, k=rng.randint(0, 12))
        if related:
            h = []
            for w in r:
                x = rng.random()
                if x < 0.1:
                    continue  # deletion
                h.append(rng.choice(vocab) if x < 0.2 else w)
                if rng.random() < 0.1:
                    h.append(rng.choice(vocab))  # insertion
        else:
            h = rng.choices(vocab, k=rng.randint(0, 12))
        if rng.random() < 0.1:
            h = []
        utt = f"spk{i % 4}-utt{i:04d}"
        ref[utt], hyp[utt] = " ".join(r), " ".join(h)
    return ref, hyp


def _run_sclite(tmp_path: Path, ref: dict[str, str], hyp: dict[str, str], chars: bool = False):
    """Returns sclite's Sum row (snt, wrd, corr, sub, del, ins, err, s.err) and per-utt (C, S, D, I)."""
    (tmp_path / "ref.trn").write_text("".join(f"{t} ({u})\n" for u, t in ref.items()))
    (tmp_path / "hyp.trn").write_text("".join(f"{t} ({u})\n" for u, t in hyp.items()))
    cmd = [*SCLITE, "-r", str(tmp_path / "ref.trn"), "trn", "-h", str(tmp_path / "hyp.trn"), "trn",
           "-i", "rm", "-s", *(["-c"] if chars else []), "-o", "rsum", "pralign", "stdout"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    row = re.search(r"\|\s*Sum\s*\|\s*(\d+)\s+(\d+)\s*\|((?:\s*\d+){6})\s*\|", out)
    assert row, out
    total = (int(row.group(1)), int(row.group(2)), *map(int, row.group(3).split()))
    per_utt = {m.group(1): tuple(map(int, m.group(2).split()))
               for m in re.finditer(r"id: \((\S+)\)\nScores: \(#C #S #D #I\) ([\d ]+)\n", out)}
    return total, per_utt


def _weighted_cost(r: list[str], h: list[str]) -> int:
    """Minimum alignment cost with sclite's weights: substitution 4, insertion 3, deletion 3."""
    d = [3 * j for j in range(len(h) + 1)]
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], 3 * i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 3, d[j - 1] + 3, prev + (4 if r[i - 1] != h[j - 1] else 0))
    return d[len(h)]


@needs_sclite
@pytest.mark.parametrize("unit", ["word", "char"])
def test_totals_equal_sclite_on_edited_hypotheses(tmp_path, unit):
    ref, hyp = _noisy_pairs(seed=7, n=400, related=True)
    (snt, wrd, _corr, _sub, _del, _ins, err, serr), _ = _run_sclite(tmp_path, ref, hyp, chars=unit == "char")
    totals, _ = score_texts(ref, hyp, unit=unit)
    assert (totals.sents, totals.ref_words, totals.errors, totals.sent_errors) == (snt, wrd, err, serr)


@needs_sclite
def test_differences_from_sclite_are_only_its_substitution_weight(tmp_path):
    # Unrelated strings: sclite's 4/3/3 weights sometimes make it choose an alignment with more
    # errors, cheaper for it (3 ins + 3 del, cost 18, over 5 sub, cost 20) or as cheap (3 sub + 3 del
    # and 5 del + 2 ins both cost 21).  Check that every difference is exactly that, and that the
    # reference counts always agree.
    ref, hyp = _noisy_pairs(seed=3, n=400, related=False)
    ref["spk9-shift"], hyp["spk9-shift"] = "a b c d e", "x y z a b"
    (snt, wrd, *_rest, err, _serr), sclite_utts = _run_sclite(tmp_path, ref, hyp)
    totals, per_utt = score_texts(ref, hyp)
    assert (totals.sents, totals.ref_words) == (snt, wrd)
    assert len(sclite_utts) == len(per_utt)
    differ = 0
    for s in per_utt:
        c, sub, dele, ins = sclite_utts[s.utt]
        assert c + sub + dele == len(s.ref)
        sclite_errors = sub + dele + ins
        assert 4 * sub + 3 * (dele + ins) == _weighted_cost(s.ref, s.hyp)  # sclite: optimal for its weights
        ours = s.counts
        assert ours.errors == _edit_distance(s.ref, s.hyp)  # ours: optimal for unit costs
        if ours.errors != sclite_errors:
            differ += 1
            # Both alignments are optimal, each under its own costs (asserted above); sclite's has
            # more errors because they are cheaper for it, or equally cheap (its tie-breaking).
            assert ours.errors < sclite_errors
            assert 4 * ours.subs + 3 * (ours.dels + ours.ins) >= 4 * sub + 3 * (dele + ins)
    shift = next(s for s in per_utt if s.utt == "spk9-shift")
    assert shift.counts.errors == 5 and sum(sclite_utts["spk9-shift"][1:]) == 6
    assert totals.errors == err - sum(sum(sclite_utts[s.utt][1:]) - s.counts.errors for s in per_utt)
    assert 1 <= differ < len(per_utt) // 20
