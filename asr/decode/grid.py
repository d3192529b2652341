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
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
