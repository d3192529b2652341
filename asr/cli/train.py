"""``asr train``: train an acoustic model with CTC from Kaldi data dirs.

Configuration: defaults <- ``--config`` YAML files <- ``--section.field value``
overrides (e.g. ``--model.cell lstm-srnn --optim.lr 5e-4``). ``--print-config``
shows every option with its default and meaning.

Exit status: 0, 1 on an error, or 3 when training finished but ``data.skip_bad`` left bad
utterances out (they are named in the log's last lines).
"""

from __future__ import annotations

import argparse
import sys

from asr.cli.args import add_bool_arg, add_logging_args, split_overrides


def main(argv: list[str]) -> int:
    """Run ``asr train``; returns the exit code."""
    p = argparse.ArgumentParser(
        prog="asr train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: asr train --config conf/train.yaml --data.train data/train "
               "--data.dev data/dev exp/ctc_lstm")
    p.add_argument("exp_dir", nargs="?", help="experiment dir (checkpoints, logs, final.pt)")
    p.add_argument("--config", action="append", default=[], help="YAML config file (repeatable)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--resume", action="store_true", help="continue from the newest epoch checkpoint")
    add_bool_arg(p, "--progress", True, "a progress bar on a terminal (default: yes)")
    add_logging_args(p)
    overrides, rest = split_overrides(argv)
    args = p.parse_args(rest)

    from asr.config import load_config, to_yaml
    from asr.train.config import ExperimentConfig

    cfg = load_config(ExperimentConfig, args.config, overrides)
    if args.print_config:
        sys.stdout.write(to_yaml(cfg))
        return 0
    if not args.exp_dir:
        p.error("the experiment dir is required")

    import logging
    import time
    from pathlib import Path

    from asr.log import log_command_line, setup_logging
    from asr.train.trainer import Trainer

    log = logging.getLogger("asr.train")

    # One log file per run, so a resumed run does not overwrite the log of the first one. Under torchrun
    # the main worker (rank 0) writes it; the others write warnings to their own.
    import os

    rank = int(os.environ.get("RANK", "0")) if os.environ.get("WORLD_SIZE", "1") != "1" else 0
    stamp = os.environ.get("ASR_LOG_STAMP") or time.strftime("%Y%m%d-%H%M%S")
    default_log = Path(args.exp_dir) / "log" / f"train.{stamp}{f'.rank{rank}' if rank else ''}.log"
    log_file = args.log_file if rank == 0 else None
    setup_logging(args.verbose, args.quiet or rank > 0, log_file or str(default_log))
    log_command_line()
    if cfg.train.dist == "asgd":
        from asr.train.async_sgd import is_server, serve

        if is_server(cfg.train.asgd_servers):  # the last ranks hold the parameters
            return _end_worker(serve(cfg.optim, cfg.train.asgd_servers, cfg.train.asgd_wait))
    trainer = Trainer(cfg, args.exp_dir, resume=args.resume,
                      progress=args.progress and sys.stderr.isatty() and not args.quiet and rank == 0)
    try:
        trainer.run()
    finally:
        trainer.close()
    from asr.cli.args import skipped_status

    status = max((skipped_status(d, log) for d in (trainer.train_data, trainer.dev_data) if d is not None),
                 default=0)
    return _end_worker(status)


def _end_worker(status: int) -> int:
    """A torchrun worker whose work is done and written ends here, without the interpreter's teardown:
    there a gloo/RPC thread still joinable aborted a worker now and then (SIGABRT after final.pt was
    written), and torchrun then called the whole run failed. Outside torchrun: ``status``."""
    import logging
    import os

    if os.environ.get("WORLD_SIZE", "1") == "1" or "TORCHELASTIC_RUN_ID" not in os.environ:
        return status
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
