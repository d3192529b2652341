#!/usr/bin/env python3
"""Measure what happens in the first updates of a training run: for a model that does not learn.

Usage: utils/diagnose_training.py [--updates 300] [--every 10] [--json FILE] [--lr-range LO HI]
                                  <config.yaml>... [--section.field value ...]

Builds the trainer of ``asr train`` from the same configs and overrides (``data.train`` etc.),
then runs ``--updates`` updates of its first epoch(s) exactly as ``asr train`` would (same batches,
optimizer, schedule, clipping) and every ``--every`` updates records, as one JSON line:

- ``loss``: the batch's CTC loss per token;
- ``grad_norm``: the 2-norm of the gradient of each recurrent layer's parameters and of the
  output layer, before clipping (``total`` is what optim.grad_clip compares with);
- ``out_rms``: the RMS of each recurrent layer's output (``r_t`` for an LSTMP), ``out_max``
  its largest magnitude: a projection that starts too small or grows without bound shows here;
- ``sat``: the fraction of each layer's outputs with magnitude above 0.95 (an LSTM's
  ``m_t = o_t tanh(c_t)`` is then saturated; an LSTMP's ``r_t`` is a linear projection, for
  which it measures the scale);
- ``blank``: the fraction of output frames whose best unit is the blank (CTC's all-blank
  stage is ``blank`` ~ 1.0 with a falling loss that then plateaus).

With a ``data.dev``, the dev loss and token accuracy after the last update end the output (the
last JSON line: ``{"dev_loss": ..., "dev_token_acc": ...}``). Nothing is saved; the experiment
dir is a temporary one. A summary table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import torch

from asr.config import load_config
from asr.log import setup_logging
from asr.models.encoder import recurrent_layer_of
from asr.train.config import ExperimentConfig
from asr.train.trainer import Trainer


def _layer_groups(model: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    groups: dict[str, list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        layer = recurrent_layer_of(name)
        groups.setdefault(f"layer{layer}" if layer is not None else name.split(".")[0], []).append(p)
    return groups


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=300, help="updates to run (default 300)")
    p.add_argument("--every", type=int, default=10, help="record every N updates (default 10)")
    p.add_argument("--json", help="write the records here, one JSON object per line")
    p.add_argument("--lr-range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="a learning-rate range test (Smith 2017): the learning rate grows exponentially from LO "
                        "to HI over the updates instead of following optim.*; the summary names the rate where "
                        "the smoothed loss falls fastest and where it starts to diverge")
    p.add_argument("configs", nargs="+", help="YAML configs, then --section.field value overrides")
    args, rest = p.parse_known_args(argv)
    overrides, i = [], 0
    while i < len(rest):  # --section.field value (or --section.field=value) -> section.field=value
        if not rest[i].startswith("--"):
            p.error(f"unexpected argument {rest[i]!r}")
        if "=" in rest[i]:
            overrides.append(rest[i][2:])
            i += 1
        elif i + 1 < len(rest):
            overrides.append(f"{rest[i][2:]}={rest[i + 1]}")
            i += 2
        else:
            p.error(f"{rest[i]}: no value")
    setup_logging()
    cfg = load_config(ExperimentConfig, args.configs, overrides)
    with tempfile.TemporaryDirectory() as exp:
        t = Trainer(cfg, Path(exp), progress=False)
        model = t.system.model
        groups = _layer_groups(model)
        acts: dict[str, torch.Tensor] = {}
        for k, layer in enumerate(model.encoder.layers):  # keep each layer's output (forward_state, no hooks)
            def keep(*a: object, _run=layer.forward_state, _k=k, **kw: object):  # type: ignore[no-untyped-def]
                y, st = _run(*a, **kw)
                acts[f"layer{_k}"] = y.detach()
                return y, st

            layer.forward_state = keep
        params = [q for g in t.optimizer.param_groups for q in g["params"]]
        norms: dict[str, float] = {}

        def grad_norms(out: object) -> None:  # called by Trainer.update before clipping and the step
            norms.clear()
            norms.update({k: math.sqrt(sum(float(q.grad.pow(2).sum()) for q in ps if q.grad is not None))
                          for k, ps in groups.items()})
            norms["total"] = math.sqrt(sum(v * v for v in norms.values()))  # of the groups (not an earlier total)

        records = []
        if args.lr_range:
            lo, hi = args.lr_range
            if not 0 < lo < hi:
                p.error("--lr-range: need 0 < LO < HI")
            span = max(args.updates - 1, 1)
            t.scheduler.lr = lambda step: lo * (hi / lo) ** min(step / span, 1.0)  # type: ignore[method-assign]
        t.system.train()
        epoch = 0
        while t.step < args.updates:
            epoch += 1
            for idx in t.epoch_batches(epoch):
                if t.step >= args.updates:
                    break
                batch = t.make_batch(t.train_data, idx, train=True)
                if batch is None:
                    continue
                record = t.step % args.every == 0
                out, applied, _ = t.update(batch, params, grad_norms if record else None)
                if not applied or not record:
                    continue
                lens = out.out_lens.cpu()
                best = out.logits.detach().argmax(-1).cpu()
                valid = torch.arange(best.shape[1])[None, :] < lens[:, None]
                rec = {"update": t.step, "lr": t.scheduler.lr(t.step - 1),
                       "loss": float(out.loss.detach()) / out.count,
                       "grad_norm": {k: round(v, 4) for k, v in norms.items()},
                       "out_rms": {k: round(float(a.pow(2).mean().sqrt()), 4) for k, a in acts.items()},
                       "out_max": {k: round(float(a.abs().max()), 3) for k, a in acts.items()},
                       "sat": {k: round(float((a.abs() > 0.95).float().mean()), 4) for k, a in acts.items()},
                       "blank": round(float((best == 0)[valid].float().mean()), 4)}
                records.append(rec)
                print(json.dumps(rec), file=sys.stderr)
        dev = t.evaluate(t.dev_data) if t.dev_data is not None else None
    if args.json:
        tail = [{"dev_loss": dev["loss"], "dev_token_acc": dev["acc"], "updates": args.updates}] if dev else []
        Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in records + tail))
    names = sorted(records[0]["grad_norm"]) if records else []
    print("update  loss    blank  " + "  ".join(f"|g| {n:>8s}" for n in names) + "  "
          + "  ".join(f"rms {k}" for k in sorted(records[0]["out_rms"])) if records else "no records")
    for r in records:
        print(f"{r['update']:6d}  {r['loss']:6.3f}  {r['blank']:5.3f}  "
              + "  ".join(f"{r['grad_norm'][n]:12.4f}" for n in names) + "  "
              + "  ".join(f"{r['out_rms'][k]:10.4f}" for k in sorted(r["out_rms"])))
    if dev:
        print(f"after {t.step} updates: dev loss {dev['loss']:.4f}, dev token accuracy {100 * dev['acc']:.2f}%")
    if args.lr_range and len(records) > 3:
        print(lr_range_summary(records))
    return 0


def lr_range_summary(records: list[dict], beta: float = 0.9, skip: float = 0.1) -> str:
    """Where a range test's smoothed loss (exponential average, bias-corrected) falls fastest per
    decade of learning rate, and the first rate where it is above 4x its minimum (divergence).

    The first ``skip`` of the updates are left out of "fastest": CTC's loss falls from its
    initial value in the first few updates at any learning rate (it learns the blank first)."""
    smooth, avg = [], 0.0
    for i, r in enumerate(records, start=1):
        avg = beta * avg + (1 - beta) * r["loss"]
        smooth.append(avg / (1 - beta ** i))
    lrs = [r["lr"] for r in records]
    slopes = [(smooth[i + 1] - smooth[i]) / max(math.log10(lrs[i + 1] / lrs[i]), 1e-12) for i in range(len(lrs) - 1)]
    first = min(int(skip * len(slopes)), len(slopes) - 1)
    steep = min(range(first, len(slopes)), key=lambda i: slopes[i])
    best = min(range(len(smooth)), key=lambda i: smooth[i])
    diverge = next((lrs[i] for i in range(best, len(smooth)) if smooth[i] > 4 * smooth[best]), None)
    return (f"lr range test: smoothed loss falls fastest at lr {lrs[steep]:.3g}, is lowest ({smooth[best]:.3f}) at lr "
            f"{lrs[best]:.3g}" + (f", diverges (> 4x the lowest) from lr {diverge:.3g}" if diverge else
                                  ", never diverged in the range"))


if __name__ == "__main__":
    from asr.errors import AsrError

    try:
        sys.exit(main())
    except (AsrError, ValueError) as e:  # ConfigError, FbankError, data errors: one line, no traceback
        sys.exit(f"diagnose_training.py: {e}")
