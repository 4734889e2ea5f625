"""process-events' speed by batch size, in-process on the embedded default: the measurement
behind its automatic batch size (pipeline/processing.py AUTO_LOCAL, AUTO_QUEUE).

    python bench/batch_size.py [--users 1000] [--days 40] [--sizes 100,1000,5000,10000,20000]

One simulation (1.25 events per learner per day: 50,000 events by default) is copied into a
fresh data dir per size, and each copy is processed by the real `gradvy run process-events`;
the figure is its own events per second (the default, without --batch-size, is last)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]


def run(args: list[str], data: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADVY_")}
    env["GRADVY_DATA_DIR"] = str(data)
    out = subprocess.run(GRADVY + args + ["--json"], env=env, capture_output=True, text=True,
                         check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--sizes", default="100,1000,5000,10000,20000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        sim = run(["run", "simulate-data", "--users", str(args.users), "--days",
                   str(args.days), "--seed", "3"], base)
        print(f"process-events in-process, {sim['events']:,} events of {args.users:,} "
              "learners (embedded SQLite)")
        print(f"{'batch size':>12}  {'seconds':>8}  {'events/s':>9}")
        for size in [*args.sizes.split(","), "default"]:
            copy = Path(tmp) / f"d-{size}"
            shutil.copytree(base, copy)
            extra = [] if size == "default" else ["--batch-size", size]
            got = run(["run", "process-events", "--in-process", *extra], copy)
            label = f"{got['batch_size']:,} (default)" if size == "default" else f"{int(size):,}"
            print(f"{label:>18}  {got['seconds']:>8.2f}  {got['events_per_s']:>9,.0f}")
            shutil.rmtree(copy)


if __name__ == "__main__":
    main()
