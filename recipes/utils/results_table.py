#!/usr/bin/env python3
"""Print a recipe's results as a Markdown table, one row per experiment dir.

Usage: utils/results_table.py [--title T] [--command C] [--note N] [--set dev] [--update FILE] <exp-dir> ...

For each ``<exp-dir>`` it reads what the steps wrote there: ``final.pt`` (model
configuration and parameter count; a run without one is shown from its newest
``epoch-N.pt``, its epochs marked "unfinished"), ``history.json`` (epochs, training
time, and the last epoch's dev loss and token accuracy, per token, before decoding),
``decode_<set>/wer`` (greedy decoding) and ``decode_<set>_lm/scoring/best_wer``
with ``scoring/lmwt`` and ``scoring/wip`` (lexicon + LM decoding tuned on that
set). Any other ``decode_*/wer`` (test sets) gets a row of its own under the table.
Missing files show as ``-``. The command that produced the numbers is printed
verbatim with the date and machine, as every RESULTS.md in this toolkit does.

The output goes to stdout, or with ``--update FILE`` into FILE between the lines
``<!-- results_table: begin -->`` and ``<!-- results_table: end -->``: text
written by hand around them is kept. A FILE that does not exist is created with
the markers; one that exists without them is left alone (an error), so that
nothing written by hand is lost. FILE is replaced atomically.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path


def _wer_line(path: Path) -> str | None:
    try:
        for line in path.read_text().splitlines():
            if "%WER" in line:
                return line.strip()
    except OSError:
        return None
    return None


def _wer(line: str | None) -> str:
    m = re.search(r"%WER\s+([\d.]+)", line or "")
    return m.group(1) if m else "-"


def _model_info(exp: Path) -> tuple[str, str, str]:
    """(architecture summary, units, parameter count) from the checkpoint (final.pt, or for a run that
    did not finish its newest epoch-N.pt), or dashes."""
    from asr.checkpoint import load_checkpoint
    from asr.errors import AsrError
    from asr.system import system_config_of

    try:
        state = load_checkpoint(exp)
        cfg = system_config_of(state, state["path"])
    except (AsrError, KeyError):  # a missing or unreadable checkpoint is reported as "-"
        return "-", "-", "-"
    m = cfg.model
    n = sum(v.numel() for v in state.get("model", {}).values() if hasattr(v, "numel"))
    arch = f"{m.cell} {'bi' if m.bidirectional else 'uni'} {m.layers}x{m.hidden}" + (f" p{m.proj}" if m.proj else "")
    units = cfg.units + (str(cfg.bpe_vocab_size) if cfg.units == "bpe" else "")
    return arch, units, f"{n / 1e6:.2f} M"


def _history(exp: Path) -> tuple[str, str, str, str]:
    """(epochs, training minutes, last epoch's dev loss, last epoch's dev token accuracy in %) from
    history.json, or dashes."""
    try:
        hist = json.loads((exp / "history.json").read_text())
    except (OSError, ValueError):
        return "-", "-", "-", "-"
    secs = sum(float(h.get("time_s", 0.0)) for h in hist)
    last = hist[-1] if hist else {}
    loss = f"{last['dev_loss']:.3f}" if last.get("dev_loss") is not None else "-"
    acc = f"{100 * last['dev_token_acc']:.1f}" if last.get("dev_token_acc") is not None else "-"
    epochs = str(len(hist)) if (exp / "final.pt").is_file() else f"{len(hist)} (unfinished)"
    return epochs, f"{secs / 60:.1f}", loss, acc


BEGIN, END = "<!-- results_table: begin -->", "<!-- results_table: end -->"


def update(path: Path, block: str) -> None:
    """Put ``block`` between the markers of ``path`` (creating it when absent), atomically."""
    block = f"{BEGIN}\n{block.rstrip()}\n{END}\n"
    if path.exists():
        old = path.read_text()
        i, j = old.find(BEGIN), old.find(END)
        if i < 0 or j < i:
            raise SystemExit(f"results_table.py: {path} has no '{BEGIN}' ... '{END}' lines around its generated "
                             f"part; add them (or move the file away) so that its other text is kept")
        rest = old[j + len(END):].lstrip("\n")
        new = old[:i] + block + ("\n" + rest if rest else "")
    else:
        new = block
    from asr.fileio import atomic_write

    with atomic_write(path) as f:
        f.write(new)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exp_dirs", nargs="+")
    p.add_argument("--title", default="Results")
    p.add_argument("--command", default="", help="the command that produced the results")
    p.add_argument("--note", default="", help="a paragraph about the data (attribution)")
    p.add_argument("--set", default="dev", help="the tuning set's name (decode_<set>, decode_<set>_lm)")
    p.add_argument("--update", metavar="FILE", help="write the table into FILE between its results_table "
                   "markers (text around them is kept) instead of to stdout")
    args = p.parse_args()
    out = [f"# {args.title}", ""]
    if args.command:
        out += [f"Produced by `{args.command}` on {datetime.date.today().isoformat()} "
                f"(host: {platform.machine()}, {os.cpu_count()} CPU cores).", ""]
    if args.note:
        out += [args.note, ""]
    out += [f"| system | model | params | epochs | train min | {args.set} loss | {args.set} token acc % "
            f"| {args.set} WER greedy | {args.set} WER LM | LM weight / ins. penalty |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    extra = []
    for d in args.exp_dirs:
        exp = Path(d)
        arch, units, params = _model_info(exp)
        epochs, minutes, loss, acc = _history(exp)
        greedy = _wer(_wer_line(exp / f"decode_{args.set}" / "wer"))
        if units == "phone":  # greedy output is a phone string: no word error rate
            greedy = "n/a (phones)"
        lm_dir = exp / f"decode_{args.set}_lm" / "scoring"
        lm = _wer(_wer_line(lm_dir / "best_wer"))
        try:
            setting = f"{(lm_dir / 'lmwt').read_text().strip()} / {(lm_dir / 'wip').read_text().strip()}"
        except OSError:
            setting = "-"
        model = arch if units == "-" else f"{arch}, {units}"
        out.append(f"| {exp.name} | {model} | {params} | {epochs} | {minutes} | {loss} | {acc} | {greedy} | {lm} "
                   f"| {setting} |")
        for w in sorted(exp.glob("decode_*/wer")):
            if w.parent.name not in (f"decode_{args.set}", f"decode_{args.set}_lm"):
                extra.append(f"| {exp.name} | {w.parent.name} | {_wer(_wer_line(w))} | `{_wer_line(w)}` |")
    if extra:
        out += ["", "Other decodes:", "", "| system | decode dir | WER | details |", "|---|---|---|---|", *extra]
    if args.update:
        update(Path(args.update), "\n".join(out))
    else:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
