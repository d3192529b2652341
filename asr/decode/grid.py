"""Kaldi's scoring layout for a grid of LM weights and insertion penalties, shared by every search
that has one (``asr decode --lm`` and the hybrid/GMM decoders)::

    <decode-dir>/scoring/<lmwt>_<wip>.txt   hypotheses of each setting
    <decode-dir>/wer_<lmwt>_<wip>           %WER/%SER report of each setting (data dir with text)
    <decode-dir>/scoring/best_wer           the best %WER line, naming its wer_<lmwt>_<wip> file
    <decode-dir>/scoring/lmwt, .../wip      the best setting
    <decode-dir>/text, wer, per_utt         hypotheses and scores of the best setting
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LM_WEIGHTS = [str(w) for w in range(7, 18)]  # Kaldi score.sh's --min-lmwt 7 --max-lmwt 17
WORD_INS_PENALTIES = ["0.0", "0.5", "1.0"]  # Kaldi score.sh's --word_ins_penalty 0.0,0.5,1.0


def write_best(out: Path, hyps: dict[str, str], refs: dict[str, str] | None, data_dir: str) -> Any:
    """Write ``text`` and, with references, ``wer`` and ``per_utt``; returns the counts (or None)."""
    from asr.datadir import write_scp
    from asr.fileio import atomic_write
    from asr.score import format_report, score_texts, write_per_utt

    write_scp(out / "text", hyps)
    if refs is None:
        return None
    counts, per_utt = score_texts(refs, hyps, mode="all", ref_name=f"{data_dir}/text", hyp_name=str(out / "text"))
    report = format_report(counts)
    with atomic_write(out / "wer") as f:
        f.write(report)
    write_per_utt(out / "per_utt", per_utt)
    log.info("%s", report.splitlines()[0])
    return counts


def clear_grid(out: Path) -> None:
    """Remove an earlier grid's scores, so that none are left next to this one's."""
    for old in [*out.glob("wer_*_*"), *(out / "scoring").glob("*_*.txt")]:
        old.unlink()


def score_setting(out: Path, setting: tuple[str, str], hyps: dict[str, str], refs: dict[str, str] | None,
                  data_dir: str) -> tuple[float, str]:
    """Write one setting's hypotheses (and with references its ``wer_<lmwt>_<wip>``); returns
    (WER, its %WER line), (inf, "") without references."""
    from asr.datadir import write_scp
    from asr.fileio import atomic_write
    from asr.score import format_report, format_wer, score_texts

    lmwt, wip = setting
    write_scp(out / "scoring" / f"{lmwt}_{wip}.txt", hyps)
    if refs is None:
        return math.inf, ""
    counts, _ = score_texts(refs, hyps, mode="all", ref_name=f"{data_dir}/text",
                            hyp_name=str(out / "scoring" / f"{lmwt}_{wip}.txt"))
    with atomic_write(out / f"wer_{lmwt}_{wip}") as f:
        f.write(format_report(counts))
    return counts.wer, format_wer(counts)


def finish_grid(out: Path, results: list[tuple[float, tuple[str, str], dict[str, str]]],
                refs: dict[str, str] | None, data_dir: str) -> None:
    """After every setting: the best one's ``text``/``wer``/``per_utt`` and ``scoring/best_wer``,
    ``scoring/lmwt``, ``scoring/wip`` (the first of equal WERs in grid order wins). Without
    references only a single setting's ``text`` can be written."""
    from asr.fileio import atomic_write
    from asr.score import format_wer

    if refs is None:
        if len(results) == 1:
            write_best(out, results[0][2], None, data_dir)
            log.info("wrote %s (not scored)", out / "text")
        else:
            log.warning("%s has no text: nothing scored, and no best setting to write %s from; decode with "
                        "--lm-weight X --word-ins-penalty Y to get it", data_dir, out / "text")
        return
    _, (lmwt, wip), hyps = min(results, key=lambda r: r[0])
    counts = write_best(out, hyps, refs, data_dir)
    best_line = f"{format_wer(counts)} {out / f'wer_{lmwt}_{wip}'}"
    with atomic_write(out / "scoring" / "best_wer") as f:
        f.write(best_line + "\n")
    with atomic_write(out / "scoring" / "lmwt") as f:
        f.write(lmwt + "\n")
    with atomic_write(out / "scoring" / "wip") as f:
        f.write(wip + "\n")
    log.info("best: %s (lmwt %s, wip %s)", best_line, lmwt, wip)


def lm_weight_scale(lmwt: str | float) -> float:
    """The acoustic scale of an LM weight of the grid: ``1 / lmwt``.

    Raises:
        AsrError: a weight that is not a positive number.
    """
    from asr.errors import AsrError

    w = float(lmwt)
    if not w > 0 or math.isinf(w):
        raise AsrError(f"LM weight {lmwt!r}: must be a positive number")
    return 1.0 / w


def decode_grid(out: Path, data_dir: str, refs: dict[str, str] | None, frames: int,
                decoder_for: Callable[[float], Callable[[float], tuple[dict[str, str], list[str]]]],
                lm_weights: list[str] | None = None, word_ins_penalties: list[str] | None = None) -> dict[str, str]:
    """Decode every (lmwt, wip) setting through a graph and score it in this module's layout; returns
    the best setting's hypotheses. One pass per setting, as Kaldi's best path of a lattice rescaled
    to each LM weight (the graph decoders, GMM and hybrid).

    Args:
        out: the decode dir.
        data_dir: the data dir decoded (named in the reports).
        refs: its transcripts (None: nothing scored).
        frames: frames decoded per pass (for the log lines).
        decoder_for: ``decoder_for(wip)`` -> ``decode(acoustic_scale)`` -> ``(hypotheses, utterances
            that reached no final state)``: a decoder for a graph with that insertion penalty.
        lm_weights: the grid's LM weights (default :data:`LM_WEIGHTS`); acoustic scale ``1 / lmwt``.
        word_ins_penalties: the grid's penalties (default :data:`WORD_INS_PENALTIES`).
    """
    lm_weights = lm_weights or LM_WEIGHTS
    word_ins_penalties = word_ins_penalties or WORD_INS_PENALTIES
    scales = [lm_weight_scale(w) for w in lm_weights]  # bad weights refused before any work
    (out / "scoring").mkdir(parents=True, exist_ok=True)
    clear_grid(out)
    results = []
    for wip in word_ins_penalties:
        decode = decoder_for(float(wip))
        for lmwt, scale in zip(lm_weights, scales):
            t0 = time.time()
            hyps, failed = decode(scale)
            wer, line = score_setting(out, (lmwt, wip), hyps, refs, data_dir)
            log.info("lmwt %s wip %s: %s(%.1f s for %d frames%s)", lmwt, wip, line + " " if line else "",
                     time.time() - t0, frames, f", {len(failed)} without a final state" if failed else "")
            results.append((wer, (lmwt, wip), hyps))
    finish_grid(out, results, refs, data_dir)
    return min(results, key=lambda r: r[0])[2]
