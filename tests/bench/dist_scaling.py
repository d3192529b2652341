"""Training throughput of one process against two workers of each distributed mode (issue #13).

Trains the same model on the same data (the demo corpus's 250 training recordings, features on the
fly, the demo recipe's BLSTM) for ``--epochs`` epochs in each configuration, one after another:

- one process with 1 thread and with 2 threads (``asr train --train.num_threads N``);
- 2 workers x 1 thread of each mode in ``--modes`` (``torchrun --nproc-per-node 2 asr train
  --train.dist MODE``; asgd: 2 workers and 1 parameter server, 3 processes on the cores).

Throughput = the epoch's training frames (10 ms frames of the recordings, before speed
perturbation) / its wall time from ``history.json``, the median over the epochs after the first
(the first includes start-up). ``--repeat K`` lists every recording K times (under K ids) so that an
epoch is long against the start-up and the per-epoch bookkeeping; ``--rounds R`` runs the whole list
of configurations R times, one round after another, and reports each configuration's median over
the rounds (so that a slow spell of a shared machine hits all of them alike). Usage::

    python tests/bench/dist_scaling.py [--json FILE] [--epochs 4] [--repeat 1] [--rounds 1]
        [--modes "ddp model-avg hogwild asgd"]

Each JSON record: ``mode`` (``single`` or the distributed mode), ``workers``,
``threads_per_worker``, ``frames_per_s``, ``epoch_s`` (the median epoch time) and ``ratio`` (against
one process with 2 threads, the baseline named in the header record), ``rounds_frames_per_s`` (each
round's figure); asgd's also ``servers`` and
``staleness`` (one entry per round; per worker: the pushes, and the mean and maximum over the run of
the updates between pull and push). The
configurations run one after another, so a machine shared with other work moves the numbers; run it
on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from tinydata import DEMO, write_demo_dir  # noqa: E402


def epoch_times(exp: Path) -> list[float]:
    return [float(r["time_s"]) for r in json.loads((exp / "history.json").read_text())]


def run_staleness(exp: Path) -> dict[str, dict[str, float]]:
    """Per worker: the mean and maximum staleness over the run (history.json's asgd_staleness per epoch)."""
    out: dict[str, dict[str, float]] = {}
    for r in json.loads((exp / "history.json").read_text()):
        for w, s in r.get("asgd_staleness", {}).items():
            o = out.setdefault(w, {"pushes": 0, "sum": 0.0, "max": 0})
            o["pushes"] += s["pushes"]
            o["sum"] += s["mean"] * s["pushes"]
            o["max"] = max(o["max"], s["max"])
    return {w: {"pushes": o["pushes"], "mean": round(o["sum"] / max(o["pushes"], 1), 3), "max": o["max"]}
            for w, o in out.items()}


def repeat_dir(data: Path, k: int) -> Path:
    """A data dir listing every utterance of ``data`` ``k`` times, under the ids ``<utt>-r<i>`` (same speaker)."""
    if k <= 1:
        return data
    from asr.datadir import combine_data, copy_data_dir

    copies = [data.with_name(f"{data.name}_r{i}") for i in range(k)]
    for i, c in enumerate(copies):
        copy_data_dir(data, c, utt_suffix=f"-r{i}", validate=False)
    out = data.with_name(f"{data.name}_x{k}")
    combine_data(out, copies)
    return out


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(cmd: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO / "egs" / "demo" / "s5")
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}); log: {log}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=None, help="write the records here")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeat", type=int, default=1, help="list each training recording this many times")
    p.add_argument("--rounds", type=int, default=1, help="run every configuration this many times")
    p.add_argument("--modes", default="ddp model-avg hogwild asgd")
    args = p.parse_args()
    import soundfile as sf

    asr = str(Path(sys.executable).with_name("asr"))
    tmp = Path(tempfile.mkdtemp(prefix="dist_scaling_"))
    utts = sorted(f.stem for f in (DEMO / "train").glob("*.flac"))
    data = write_demo_dir(tmp / "train", "train", utts)
    frames = args.repeat * sum(int(sf.info(str(DEMO / "train" / f"{u}.flac")).duration * 100) for u in utts)
    data = repeat_dir(data, args.repeat)
    conf = REPO / "egs" / "demo" / "s5" / "conf" / "train.yaml"
    common = ["--config", str(conf), "--no-progress", "--train.epochs", str(args.epochs), "--train.average_last", "1",
              "--data.train", str(data), "--data.dev", ""]
    configs = [("single", 1, 1), ("single", 1, 2)] + [(m, 2, 1) for m in args.modes.split()]
    rounds: dict[tuple[str, int, int], list[dict]] = {}
    for rnd in range(args.rounds):
        for mode, workers, threads in configs:
            exp = tmp / f"exp_{mode}_{workers}x{threads}_r{rnd}"
            if mode == "single":
                cmd = [asr, "train", *common, "--train.num_threads", str(threads), str(exp)]
            else:
                torchrun = str(Path(sys.executable).with_name("torchrun"))
                nproc = workers + (mode == "asgd")  # asgd: one parameter server beside the workers
                cmd = [torchrun, "--standalone", "--nproc-per-node", str(nproc), "--no-python", asr, "train",
                       *common, "--train.dist", mode, "--train.num_threads", str(threads), str(exp)]
            run(cmd, tmp / f"{exp.name}.log")
            t = epoch_times(exp)[1:] or epoch_times(exp)
            epoch_s = statistics.median(t)
            rec = {"frames_per_s": frames / epoch_s, "epoch_s": epoch_s}
            if mode == "asgd":
                rec["staleness"] = run_staleness(exp)
            rounds.setdefault((mode, workers, threads), []).append(rec)
            print(f"round {rnd}: {mode:10s} {workers} x {threads} thread(s): {frames / epoch_s:9.0f} frames/s "
                  f"(median epoch {epoch_s:.2f} s of {len(t)})", flush=True)
            shutil.rmtree(exp, ignore_errors=True)
    records = []
    for (mode, workers, threads), recs in rounds.items():
        fps = statistics.median(r["frames_per_s"] for r in recs)
        records.append({"mode": mode, "workers": workers, "threads_per_worker": threads,
                        "frames_per_s": round(fps, 1),
                        "epoch_s": round(statistics.median(r["epoch_s"] for r in recs), 2),
                        "rounds_frames_per_s": [round(r["frames_per_s"], 1) for r in recs]})
        if mode == "asgd":
            records[-1].update(servers=1, staleness=[r["staleness"] for r in recs])
    base = next(r for r in records if r["mode"] == "single" and r["threads_per_worker"] == 2)["frames_per_s"]
    for r in records:
        r["ratio"] = round(r["frames_per_s"] / base, 3)
    header = {"benchmark": "dist_scaling", "baseline": "single process, 2 threads", "frames_per_epoch": frames,
              "epochs": args.epochs, "repeat": args.repeat, "rounds": args.rounds, "cpu": cpu_model(),
              "cores": os.cpu_count(),
              "config": "egs/demo/s5/conf/train.yaml"}
    for r in records:
        print(f"  {r['mode']:10s} {r['workers']}x{r['threads_per_worker']}: ratio {r['ratio']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps([header, *records], indent=1) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
