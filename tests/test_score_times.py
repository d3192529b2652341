"""asr score-times: word boundary errors of a CTM against reference (forced-alignment) times."""

from __future__ import annotations

import pytest

from asr.cli.main import main
from asr.score import ScoreError, read_ctm, score_times


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_score_times_compares_only_utterances_with_the_same_words(tmp_path, capsys):
    ref = write(tmp_path / "ref.ctm", ["a 1 0.50 0.30 YES", "a 1 1.00 0.40 NO", "b 1 0.20 0.30 NO", "c 1 0.1 0.2 YES"])
    hyp = write(tmp_path / "hyp.ctm", ["a 1 1.05 0.10 no 0.9", "a 1 0.55 0.10 yes 0.8",  # out of order in the file
                                       "b 1 0.20 0.30 YES", "d 1 0.0 0.1 NO"])
    res = score_times(read_ctm(ref), read_ctm(hyp), tolerance=0.1)
    assert (res.utterances, res.skipped, res.words) == (1, 1, 2)
    assert res.mean_start == pytest.approx(0.05) and res.mean_end == pytest.approx((0.15 + 0.25) / 2)
    assert res.median_start_offset == pytest.approx(0.05)
    assert res.within == 0.0  # both ends are more than 0.1 s early
    assert main(["score-times", str(ref), str(hyp), "--tolerance", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "2 words of 1 utterances compared (1 with other words left out)" in out and "100.0% of the words" in out


def test_score_times_bad_input(tmp_path, capsys):
    bad = write(tmp_path / "bad.ctm", ["a 1 x 0.3 YES"])
    with pytest.raises(ScoreError, match="bad.ctm:1: expected"):
        read_ctm(bad)
    a = write(tmp_path / "a.ctm", ["a 1 0.1 0.2 YES"])
    b = write(tmp_path / "b.ctm", ["a 1 0.1 0.2 NO"])
    assert main(["score-times", str(a), str(b)]) == 1
    assert "no utterance with the same words in both" in capsys.readouterr().err
