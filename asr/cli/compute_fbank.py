"""``asr compute-fbank``: log-mel filterbank features of a data dir into a Kaldi ark/scp pair.

Kaldi's ``compute-fbank-feats`` (+ ``copy-feats --compress``) for one job of
``steps/make_fbank.sh``::

    asr compute-fbank [--config conf/fbank.conf] [--num-mel-bins=40 ...] [--compress true]
        [--utt2num-frames FILE] [--skip-bad] <data-dir> <ark> <scp>

Fbank options may also be given one by one in Kaldi's ``--name=value`` form;
they override the option file. Audio is resampled to ``--sample-frequency``
when its rate differs (as the on-the-fly frontend does).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from asr.cli.args import add_bool_arg, add_logging_args, kaldi_bool_values
from asr.errors import AsrError

log = logging.getLogger("asr.compute_fbank")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (unknown ``--name=value`` options are fbank options)."""
    p = argparse.ArgumentParser(
        prog="asr compute-fbank",
        description="Compute Kaldi log-mel filterbank features for every utterance of a data dir and write "
                    "them to a Kaldi archive and its scp (offsets point at <ark> as given). Other "
                    "--name=value options are Kaldi fbank options (e.g. --num-mel-bins=40).")
    p.add_argument("--config", default="", help="Kaldi fbank option file, e.g. conf/fbank.conf (default: none)")
    add_bool_arg(p, "--compress", False, "store Kaldi compressed matrices, as copy-feats --compress (default: no)")
    p.add_argument("--num-threads", type=int, default=1,
                   help="torch CPU threads (default 1: parallelism comes from the jobs of make_fbank.sh)")
    p.add_argument("--utt2num-frames", default="", help="also write utterance -> number of frames here")
    p.add_argument("--skip-bad", action="store_true",
                   help="log and skip utterances whose audio cannot be read or is shorter than one frame, "
                        "and exit with status 3 when any was skipped (default: stop with status 1)")
    add_logging_args(p)
    p.add_argument("data_dir", help="data dir with wav.scp (and segments, utt2spk)")
    p.add_argument("ark", help="output archive")
    p.add_argument("scp", help="output scp (written last)")
    return p


def main(argv: list[str]) -> int:
    """Run ``asr compute-fbank``; returns the exit status."""
    from asr.audio import iter_utterances
    from asr.datadir import DataDir, DataDirError, write_scp
    from asr.features.fbank import KALDI_WAVE_SCALE, FbankOptions, fbank
    from asr.features.io import write_feats
    from asr.log import log_command_line, setup_logging

    args, extra = build_parser().parse_known_args(kaldi_bool_values(argv, ["--compress"]))
    setup_logging(args.verbose, args.quiet, args.log_file)
    log_command_line(log)
    if args.num_threads > 0:
        # Several jobs run side by side; more than one thread each only adds OpenMP contention.
        torch.set_num_threads(args.num_threads)
    bad = [a for a in extra if not a.startswith("--")]
    if bad:
        raise AsrError(f"unexpected arguments: {' '.join(bad)}")
    opts = FbankOptions.from_kaldi_conf(args.config) if args.config else FbankOptions()
    if extra:
        from asr.features.frontend import fbank_args

        opts = FbankOptions.from_kaldi_args(fbank_args(opts) + extra)
    if (Path(args.data_dir) / "utt2spk").is_file():  # a data dir, not a bare wav.scp dir: Kaldi's rules first
        from asr.datadir import validate_data_dir

        for warning in validate_data_dir(args.data_dir, no_feats=True, no_text=True, allow_empty_text=True):
            log.info("%s", warning)
    data = DataDir.load(args.data_dir)
    if data.wav_scp is None:
        raise DataDirError(f"{args.data_dir}/wav.scp: missing")
    if data.utt2spk is not None:
        utts = data.utts
    else:
        utts = sorted(data.segments if data.segments is not None else data.wav_scp)
    rate = int(opts.sample_frequency)
    num_frames: dict[str, int] = {}
    failed: list[str] = []

    def features() -> Iterator[tuple[str, np.ndarray]]:
        for utt, wave, _ in iter_utterances(data.wav_scp, data.segments, utts, sample_rate=rate,
                                            skip_bad=args.skip_bad):
            w = torch.from_numpy(wave)[None] * KALDI_WAVE_SCALE
            feats, lens = fbank(w, torch.tensor([w.shape[1]]), opts)
            if int(lens[0]) == 0:
                msg = f"utterance {utt}: too short for one frame ({w.shape[1]} samples at {rate} Hz)"
                if not args.skip_bad:
                    raise AsrError(msg)
                log.warning("skipping: %s", msg)
                failed.append(utt)
                continue
            num_frames[utt] = int(lens[0])
            yield utt, feats[0].numpy()

    t0 = time.time()
    write_feats(args.ark, args.scp, features(), compress=args.compress)
    if args.utt2num_frames:
        write_scp(args.utt2num_frames, num_frames)
    done = len(num_frames)
    log.info("done %d utterances, failed %d, in %.1f s (%d frames)", done, len(utts) - done,
             time.time() - t0, sum(num_frames.values()))
    if done == 0 and utts:
        raise AsrError(f"{args.data_dir}: no utterance could be processed")
    if done < len(utts):  # --skip-bad left some out (named above, one warning each)
        from asr.errors import EXIT_SKIPPED

        log.warning("%s: skipped %d bad utterance(s) of %d", args.data_dir, len(utts) - done, len(utts))
        return EXIT_SKIPPED
    return 0
