"""Insight targets over seeds and sizes: `gradvy run evaluate` on every simulation of 2,000
learners over 60 days for each seed and event count, and the spread of each figure. Run:
    python bench/evaluate.py [--seeds 1 2 3 4 5] [--sizes 100000 200000 300000] [--jobs 2]

Each cell is its own embedded data dir: `simulate-data`, `process-events`, then `evaluate
--json`, each as a `gradvy run` process (as an operator would). With --work-dir the data dirs
are kept there and reused (only `evaluate` runs again), so a model change is re-measured on the
same data in a fraction of the time.

Targets (issue 16): NDCG@10 >= 2x popularity; anomaly recall >= 0.9 at precision >= 0.8;
dropout AUC >= 0.85 and above the rule baseline. Beside the model's NDCG ratio, the ceiling's:
the simulator's own odds of each course (the learner's true preferences x the course's
catalogue popularity in its category, how the simulator draws courses), the best any ranker
can expect on that simulation, and the informed ranker's: the best estimate from a learner's
events for a ranker that knows everything else about the simulator (its Dirichlet prior of
preferences and its catalogue popularity), a bound on what any model of the events can expect.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]
USERS, DAYS = 2000, 60


def gradvy(args: list[str], data: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADVY_")}
    env["GRADVY_DATA_DIR"] = str(data)
    done = subprocess.run(GRADVY + args, env=env, cwd=data.parent, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"gradvy {' '.join(args)} failed in {data}: "
                         f"{done.stderr.strip()[-800:]}")
    return done.stdout


def cell(work: Path, seed: int, size: int) -> dict[str, Any]:
    data = work / f"seed{seed}-{size}" / "data"
    data.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if not (data / "ready").is_file():
        gradvy(["run", "simulate-data", "--simulate-count", str(size), "--users", str(USERS),
                "--days", str(DAYS), "--seed", str(seed)], data)
        gradvy(["run", "process-events", "--batch-size", "10000", "--in-process"], data)
        (data / "ready").write_text("simulated and processed\n")
    result: dict[str, Any] = json.loads(gradvy(["run", "evaluate", "--json"], data))
    result["_seconds"] = time.monotonic() - started
    return result


def figures(r: dict[str, Any]) -> dict[str, float]:
    rec, an, dr = r["recommendations"], r["anomalies"], r["dropout"]
    return {"ndcg_x": rec["ndcg_vs_popular"], "ceil_x": rec.get("ceiling_vs_popular",
                                                                 float("nan")),
            "inf_x": rec.get("informed_vs_popular", float("nan")),
            "ndcg": rec["model"]["ndcg"],
            "an_p": an["precision"], "an_r": an["recall"],
            "auc": dr["auc"] if dr["auc"] is not None else float("nan"),
            "rule_auc": dr["rule_baseline_auc"]}


def met(f: dict[str, float]) -> dict[str, bool]:
    return {"ndcg_x": f["ndcg_x"] >= 2.0, "an": f["an_r"] >= 0.9 and f["an_p"] >= 0.8,
            "auc": f["auc"] >= 0.85 and f["auc"] > f["rule_auc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 200_000, 300_000])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work-dir", help="keep the data dirs here and reuse them")
    args = parser.parse_args()
    work = Path(args.work_dir) if args.work_dir else Path(
        tempfile.mkdtemp(prefix="gradvy-bench-evaluate-"))
    work.mkdir(parents=True, exist_ok=True)
    cells = [(seed, size) for size in args.sizes for seed in args.seeds]
    print(f"evaluate over {len(args.seeds)} seeds x {len(args.sizes)} sizes, {USERS:,} learners"
          f" over {DAYS} days, embedded; data in {work}", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda c: cell(work, *c), cells))
    rows = {c: figures(r) for c, r in zip(cells, results, strict=True)}
    head = (f"{'events':>8} {'seed':>4}  {'NDCG x pop':>10} {'informed':>8} {'ceiling':>7} "
            f"{'NDCG@10':>8}  "
            f"{'anom P':>6} "
            f"{'anom R':>6}  {'drop AUC':>8} {'rule AUC':>8}  met")
    print(head)
    print("-" * len(head))
    failed = 0
    for (seed, size), f in rows.items():
        m = met(f)
        failed += not all(m.values())
        marks = " ".join(("ok" if v else "NO") + ":" + k for k, v in m.items())
        print(f"{size:>8,} {seed:>4}  {f['ndcg_x']:>10.3f} {f['inf_x']:>8.3f} {f['ceil_x']:>7.3f} "
              f"{f['ndcg']:>8.4f}  "
              f"{f['an_p']:>6.3f} {f['an_r']:>6.3f}  {f['auc']:>8.4f} {f['rule_auc']:>8.4f}  "
              f"{marks}")
    print()
    print("spread over seeds, per size: min / median / max (mean +- sd)")
    for size in args.sizes:
        for key, label in (("ndcg_x", "NDCG vs popular"), ("inf_x", "informed vs popular"),
                           ("ceil_x", "ceiling vs popular"),
                           ("an_p", "anomaly precision"),
                           ("an_r", "anomaly recall"), ("auc", "dropout AUC"),
                           ("rule_auc", "rule baseline AUC")):
            vals = [rows[(s, size)][key] for s in args.seeds]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"  {size:>8,}  {label:<19} {min(vals):.3f} / {statistics.median(vals):.3f} /"
                  f" {max(vals):.3f}  ({statistics.fmean(vals):.3f} +- {sd:.3f})")
    print()
    print(f"{len(cells) - failed} of {len(cells)} cells meet every target")
    for key, said in (("ceil_x", "the simulator's own odds (the ceiling: true preferences x "
                                 "catalogue popularity)"),
                      ("inf_x", "the informed ranker (the simulator's prior and catalogue, "
                                "the learner's events)")):
        short = [c for c in cells if rows[c][key] < 2.0]
        if short:
            print(f"{said}: under 2x popularity on " + ", ".join(
                f"seed {s} at {z:,}" for s, z in short))


if __name__ == "__main__":
    main()
