"""Insights benchmark: time and peak memory of each insight verb at scale. Run:
    python bench/insights.py [--users 10000] [--events 1000000]

On a fresh embedded data dir: simulate --events over --users (60 days, seed 1), process them,
then run, each as its own `gradvy run` process (as an operator or cron would): analyze-users
--all, check-anomalies, update-segments, update-models, evaluate. Peak memory is the process's
highest RSS, sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]


def measure(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS bytes, last line of output) of one `gradvy` command."""
    started = time.monotonic()
    proc = psutil.Popen(GRADVY + args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"gradvy {' '.join(args)} failed: {err.strip()[-500:]}")
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return seconds, peak, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--work-dir", help="reuse this directory: the setup is skipped when "
                                           "its data dir already holds the events")
    args = parser.parse_args()
    work = Path(args.work_dir) if args.work_dir else Path(
        tempfile.mkdtemp(prefix="gradvy-bench-insights-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADVY_")}
    env["GRADVY_DATA_DIR"] = str(work / "data")
    reuse = (work / "data" / "store.db").is_file()
    print(f"insights benchmark: {args.users:,} users, {args.events:,} events, embedded, "
          f"{os.cpu_count()} cores; data in {work}", flush=True)
    setup = [["run", "simulate-data", "--simulate-count", str(args.events), "--users",
              str(args.users), "--days", "60", "--seed", "1"],
             ["run", "process-events", "--batch-size", "10000", "--in-process"]]
    for step in [] if reuse else setup:
        seconds, _peak, _line = measure(step, env, work)
        print(f"  (setup) {step[1]:<16} {seconds:6.1f} s", flush=True)
    rows = []
    for verb in (["analyze-users", "--all"], ["check-anomalies"], ["update-segments"],
                 ["update-models"], ["evaluate"]):
        seconds, peak, line = measure(["run", *verb], env, work)
        rows.append((" ".join(verb), seconds, peak, line))
        print(f"  {' '.join(verb):<20} {seconds:7.1f} s   peak {peak / 2**20:7.0f} MiB   "
              f"{line[:90]}", flush=True)


if __name__ == "__main__":
    main()
