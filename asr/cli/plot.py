"""``asr plot``: PNG pictures of an experiment's training curves (loss, dev accuracy, learning rate).

Reads ``<exp>/history.json`` and writes ``loss.png``, ``accuracy.png`` and ``lr.png`` into
``<exp>/plots`` (or ``--out DIR``). Per-interval training losses are there for models trained
since history.json records them; older ones get the per-epoch points.

Example: ``asr plot egs/fsdd/s5/exp/ctc``
"""

from __future__ import annotations

import argparse

from asr.cli.args import add_logging_args


def main(argv: list[str]) -> int:
    """Run ``asr plot``; returns the exit status."""
    p = argparse.ArgumentParser(prog="asr plot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("exp", help="experiment dir (with history.json)")
    p.add_argument("--out", default=None, help="output dir (default <exp>/plots)")
    add_logging_args(p)
    args = p.parse_args(argv)

    import logging

    from asr.log import setup_logging
    from asr.plot import plot_history

    setup_logging(args.verbose, args.quiet, args.log_file)
    for path in plot_history(args.exp, args.out):
        logging.getLogger("asr.plot").info("wrote %s", path)
    return 0
