"""``asr compute-cmvn-stats``: CMVN statistics of stored features, per speaker or global (Kaldi layout).

Kaldi's ``compute-cmvn-stats``::

    asr compute-cmvn-stats [--spk2utt FILE] [--fake] <feats-scp> <out>

Without ``--spk2utt`` all frames are summed into one (2, F+1) matrix written
to ``<out>`` as a Kaldi binary double matrix (what ``apply-cmvn`` reads as
global statistics). With ``--spk2utt`` one matrix per speaker is written to an
archive and scp keyed by speaker; ``<out>`` is ``ark,scp:<ark>,<scp>`` (Kaldi
wspecifier), ``ark:<ark>`` (no scp), or a plain ``<name>.ark`` (scp next to it).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from asr.cli.args import add_logging_args
from asr.errors import AsrError

log = logging.getLogger("asr.compute_cmvn_stats")


def _strip(spec: str, prefixes: tuple[str, ...]) -> str:
    """``scp:feats.scp`` -> ``feats.scp`` (Kaldi rspecifier prefixes are accepted and ignored)."""
    for p in prefixes:
        if spec.startswith(p):
            return spec[len(p):]
    return spec


def parse_stats_wspecifier(out: str) -> tuple[str, str | None]:
    """``(ark, scp or None)`` from ``ark,scp:A,S``, ``ark:A`` or ``A.ark``."""
    if out.startswith(("ark,scp:", "ark,t,scp:")):
        parts = out.split(":", 1)[1].split(",")
        if len(parts) != 2 or not all(parts):
            raise AsrError(f"bad output specifier {out!r} (expected ark,scp:<ark>,<scp>)")
        return parts[0], parts[1]
    if out.startswith("ark:"):
        return out[4:], None
    path = Path(out)
    return out, str(path.with_suffix(".scp")) if path.suffix == ".ark" else out + ".scp"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="asr compute-cmvn-stats",
        description="Accumulate CMVN statistics ([[sum x, count], [sum x^2, 0]], Kaldi's layout) of the "
                    "features in a feats.scp: one global matrix, or one per speaker with --spk2utt.")
    p.add_argument("--spk2utt", default="", help="speaker -> utterances map: write one matrix per speaker")
    p.add_argument("--fake", action="store_true",
                   help="write statistics that normalise nothing (mean 0, variance 1), as Kaldi's --fake")
    add_logging_args(p)
    p.add_argument("feats_scp", help="feats.scp (or scp:feats.scp)")
    p.add_argument("out", help="global: output file; per speaker: ark,scp:<ark>,<scp> or <name>.ark")
    return p


def main(argv: list[str]) -> int:
    """Run ``asr compute-cmvn-stats``; returns the exit status."""
    import torch

    from asr.datadir import read_scp, read_spk2utt
    from asr.features.cmvn import accumulate_cmvn_stats, fake_cmvn_stats, speaker_cmvn_stats, write_cmvn_stats
    from asr.features.io import FeatsReader, write_feats
    from asr.log import log_command_line, setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet, args.log_file)
    log_command_line(log)
    reader = FeatsReader(read_scp(_strip(args.feats_scp, ("scp:",))))
    if len(reader) == 0:
        raise AsrError(f"{args.feats_scp}: no features")
    dim = reader.dim()

    def stats_of(utt: str) -> np.ndarray:
        mat = reader[utt]
        if mat.shape[1] != dim:
            raise AsrError(f"{args.feats_scp}: utterance {utt} has dimension {mat.shape[1]}, expected {dim}")
        return accumulate_cmvn_stats(torch.from_numpy(mat)).numpy()

    if not args.spk2utt:
        if args.fake:
            total = fake_cmvn_stats(dim)
        else:
            total = np.zeros((2, dim + 1))
            for utt in reader:
                total += stats_of(utt)
        write_cmvn_stats(args.out, total)
        log.info("wrote global statistics of %d utterances (%d frames, dim %d) to %s", len(reader),
                 int(total[0, -1]), dim, args.out)
        return 0

    spk2utt = read_spk2utt(_strip(args.spk2utt, ("ark:", "ark,t:")))
    if args.fake:
        spk_stats = {spk: fake_cmvn_stats(dim) for spk in spk2utt}
    else:
        wanted = {u for utts in spk2utt.values() for u in utts}
        utt_stats = {u: stats_of(u) for u in reader if u in wanted}
        spk_stats = speaker_cmvn_stats(utt_stats, spk2utt)
        if not spk_stats:
            raise AsrError(f"{args.feats_scp}: no features for any speaker of {args.spk2utt}")
    ark, scp = parse_stats_wspecifier(args.out)
    write_feats(ark, scp, ((spk, spk_stats[spk]) for spk in sorted(spk_stats)))
    log.info("wrote statistics of %d speakers (dim %d) to %s", len(spk_stats), dim, ark)
    return 0
