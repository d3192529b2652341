#!/usr/bin/env python3
"""Parameter count of an experiment config's model, or the width that gives a target count.

Usage: utils/match_model_size.py [--config YAML ...] [--text FILE | --num-outputs N]
                                 [--target N|config] [--solve] [--proj-ratio R] [--tolerance F]
                                 [--section.field value ...]

The model is the one ``asr train`` would build from the same ``--config`` files and
``--model.* ...`` overrides (:func:`asr.models.build_model`, counted with
``num_parameters()`` on the meta device, so even large models cost nothing to count).
Its input size comes from the frontend config (``fbank_conf``, deltas: run it where
``asr train`` runs, paths are relative), its output size from the units: characters of
``--text`` (default ``<data.train>/text``) for ``char``, ``data.bpe_vocab_size`` for
``bpe``, the phones of ``data.lexicon`` for ``phone``, or ``--num-outputs``.

Without ``--solve`` it prints the parameter count (and, with ``--target``, the relative
difference; with ``--tolerance`` it exits 1 when that difference is larger). With
``--solve`` it searches ``model.hidden`` (``model.proj`` = round(``--proj-ratio`` x hidden)
when the ratio is > 0, else the configured ``model.proj``) for the count closest to
``--target``, and prints the hidden size, the projection and the count. ``--target
config`` is the count of the ``--config`` files alone, without the overrides.

Examples (in egs/speechocean762/s5; the reference is conf/train.yaml's BLSTM):
  utils/match_model_size.py --config conf/train.yaml --text data/train_sp/text
  utils/match_model_size.py --config conf/train.yaml --text data/train_sp/text --target config --solve \\
      --model.cell lstm-srnn --model.bidirectional false --model.proj 0
  utils/match_model_size.py --config conf/train.yaml --text data/train_sp/text --target config \\
      --solve --proj-ratio 0.5 --model.bidirectional false
Output (one line): ``params N [target T (+x.x%)]`` or ``hidden H proj P params N target T (+x.x%)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

try:
    from asr.cli.args import split_overrides
    from asr.errors import AsrError
except ImportError:  # run with a python that does not have the toolkit
    sys.exit("match_model_size.py: cannot import asr (source path.sh, or run it with the toolkit's .venv/bin/python)")


def num_outputs(cfg: Any, text: str | None) -> int:
    """Output units (CTC blank included) of the tokenizer ``asr train`` would build for ``cfg``.

    Args:
        cfg: a resolved :class:`asr.train.config.ExperimentConfig`.
        text: Kaldi ``text`` file for character units (default None: ``<data.train>/text``).

    Raises:
        AsrError: no transcripts (or lexicon) to build the units from.
    """
    units = cfg.data.units
    if units == "bpe":
        return int(cfg.data.bpe_vocab_size)
    from asr.text import build_tokenizer

    if units == "phone":
        return build_tokenizer("phone", [], lexicon=cfg.data.lexicon or None).vocab_size
    if text is None:
        if not cfg.data.train:
            raise AsrError("character units: give --text FILE, --num-outputs N or --data.train DIR")
        text = f"{cfg.data.train}/text"
    from asr.datadir import read_scp

    try:
        texts = read_scp(text)
    except OSError as e:
        raise AsrError(f"{text}: cannot read transcripts ({e})") from e
    return build_tokenizer(units, texts.values()).vocab_size


def count_parameters(model_cfg: Any, input_dim: int, outputs: int) -> int:
    """Trainable parameters of :func:`asr.models.build_model` for ``model_cfg`` (built on the meta device)."""
    import torch

    from asr.models import build_model

    with torch.device("meta"):
        return build_model(model_cfg, input_dim, outputs).num_parameters()


def solve_hidden(model_cfg: Any, input_dim: int, outputs: int, target: int, proj_ratio: float = 0.0,
                 max_hidden: int = 8192) -> tuple[int, int, int]:
    """The hidden size whose parameter count is closest to ``target``.

    The count grows with ``hidden`` (and with ``proj`` = round(``proj_ratio`` x hidden)), so a
    bisection finds the first width at or above the target; that one or the one before wins.

    Args:
        model_cfg: :class:`asr.models.EncoderConfig`; everything but ``hidden`` (and ``proj``
            when ``proj_ratio`` > 0) is kept.
        input_dim: feature dimension of the model input (before frame stacking).
        outputs: output units.
        target: the parameter count to match.
        proj_ratio: 0 keeps ``model_cfg.proj`` (default); in (0, 1) sets proj to that fraction of hidden.
        max_hidden: largest width tried (default 8192).

    Returns:
        ``(hidden, proj, params)``.

    Raises:
        AsrError: no width fits (a fixed projection not smaller than every candidate width).
    """
    def sized(h: int) -> Any:
        proj = max(1, round(proj_ratio * h)) if proj_ratio > 0 else model_cfg.proj
        return dataclasses.replace(model_cfg, hidden=h, proj=proj)

    lo = (model_cfg.proj + 1) if proj_ratio <= 0 else 2
    hi = max_hidden
    if lo > hi:
        raise AsrError(f"model.proj {model_cfg.proj} leaves no hidden size up to {max_hidden}")

    def count(h: int) -> int:
        return count_parameters(sized(h), input_dim, outputs)

    while lo < hi:  # first h with count(h) >= target (or max_hidden)
        mid = (lo + hi) // 2
        if count(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    best = min((h for h in (lo - 1, lo) if h >= 1 and (proj_ratio > 0 or h > model_cfg.proj)),
               key=lambda h: abs(count(h) - target))
    cfg = sized(best)
    return cfg.hidden, cfg.proj, count(best)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    overrides, rest = split_overrides(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Other --section.field value options override the config, as in asr train.")
    p.add_argument("--config", action="append", default=[], help="YAML experiment config (repeatable)")
    p.add_argument("--text", default=None, help="transcripts for character units (default <data.train>/text)")
    p.add_argument("--num-outputs", type=int, default=0, help="output units, instead of building the tokenizer")
    p.add_argument("--target", default=None,
                   help="parameter count to compare with or solve for; 'config' = the --config files' model")
    p.add_argument("--solve", action="store_true", help="search model.hidden for the count closest to --target")
    p.add_argument("--proj-ratio", type=float, default=0.0,
                   help="with --solve: model.proj = round(ratio x hidden) (default 0: keep model.proj)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="exit 1 when the count differs from --target by more than this fraction (e.g. 0.1)")
    args = p.parse_args(rest)
    if args.solve and args.target is None:
        p.error("--solve needs --target")
    if not 0.0 <= args.proj_ratio < 1.0:
        p.error(f"--proj-ratio must be in [0, 1), got {args.proj_ratio}")

    from asr.config import load_config
    from asr.features.frontend import Frontend
    from asr.train.config import ExperimentConfig

    try:
        cfg = load_config(ExperimentConfig, args.config, overrides)
        input_dim = Frontend(cfg.frontend).output_dim
        outputs = args.num_outputs or num_outputs(cfg, args.text)
        target = None
        if args.target == "config":
            base = load_config(ExperimentConfig, args.config)
            target = count_parameters(base.model, Frontend(base.frontend).output_dim, outputs)
        elif args.target is not None:
            try:
                target = int(float(args.target))
            except ValueError:
                p.error(f"--target must be a number or 'config', got {args.target!r}")
        if args.solve:
            assert target is not None
            hidden, proj, n = solve_hidden(cfg.model, input_dim, outputs, target, args.proj_ratio)
            line = f"hidden {hidden} proj {proj} params {n}"
        else:
            n = count_parameters(cfg.model, input_dim, outputs)
            line = f"params {n}"
    except (AsrError, ValueError) as e:
        print(f"match_model_size.py: {e}", file=sys.stderr)
        return 1
    if target is not None:
        rel = n / target - 1.0
        line += f" target {target} ({rel:+.1%})"
        if args.tolerance is not None and abs(rel) > args.tolerance:
            print(line)
            print(f"match_model_size.py: {n} parameters differ from the target {target} by more than "
                  f"{args.tolerance:.1%}", file=sys.stderr)
            return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
