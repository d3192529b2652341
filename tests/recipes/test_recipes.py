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


def test_fsdd_recipe(corpora, copy_recipe, run_in_recipe):
    s5 = copy_recipe("fsdd")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(corpora / "fsdd"))
    exp = s5 / "exp" / "ctc"
    # Guards, not the targets of RESULTS.md (test <= 1%, digit strings <= 5%, not met yet): seeds 0-2
    # gave 1.5-4.5% on the test digits and 4.0-5.9% on the strings (egs/fsdd/s5/RESULTS.md).
    assert wer(exp / "decode_test") <= 7.0, (exp / "decode_test" / "wer").read_text()
    assert wer(exp / "decode_test_concat") <= 10.0, (exp / "decode_test_concat" / "wer").read_text()
    # The unseen speaker: every one of theo's 500 files decoded, better than guessing a digit (90% WER).
    heldout = wer(exp / "decode_test_theo")
    assert heldout < 90.0, (exp / "decode_test_theo" / "wer").read_text()
    assert len((exp / "decode_test_theo" / "text").read_text().splitlines()) == 500
    # The held-out speaker is in no training or dev utterance.
    for part in ("train", "dev"):
        assert "theo" not in (s5 / "data" / part / "utt2spk").read_text()
    results = (s5 / "RESULTS.md").read_text()
    assert "decode_test_theo" in results and "decode_test`" in results


@pytest.mark.slow
def test_demo_recipe(copy_recipe, run_in_recipe):
    """The recipe `make demo` runs: needs only the corpus shipped in data/demo (no ../shared)."""
    s5 = copy_recipe("demo")
    run_in_recipe(s5, "run.sh", "--corpus-dir", str(REPO / "data" / "demo"))
    assert wer(s5 / "exp" / "ctc" / "decode_test") <= 5.0, (s5 / "exp" / "ctc" / "decode_test" / "wer").read_text()
    assert "%WER" in (s5 / "RESULTS.md").read_text()
