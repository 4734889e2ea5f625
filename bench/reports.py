"""Report generation's speed and memory on the embedded default: a daily and a monthly report
over a store of 1,000,000 events of 10,000 learners (60 days). Targets: the daily report under
30 s and 1 GiB, the monthly one under 60 s.

    python bench/reports.py [--events N] [--users N]

The store is filled directly through the ingestion transaction (as bench/quality.py does);
each report runs in a fresh process, so its peak memory (VmHWM) is its own."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RUN = """
import sys, time
from pathlib import Path
from gradvy_console.config import Config
from gradvy_console.reports import generate
from gradvy_console.store.sqlite import SqliteStore
store = SqliteStore(Path(sys.argv[1]) / "store.db")
started = time.perf_counter()
report = generate(Config(data_dir=Path(sys.argv[1])), store, sys.argv[2], None)
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:")) / 1024
print(f"{seconds:.2f} {peak:.0f} {report.content['events']} {report.headline()['active_learners']}")
"""


def main() -> None:
    import random

    from quality import fill, make_events

    from gradvy_console.clock import now_ms
    from gradvy_console.config import Config
    from gradvy_console.store.sqlite import SqliteStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    end = now_ms()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.db")
        print(f"filling a store with {args.events:,} events of {args.users:,} learners...",
              file=sys.stderr)
        fill(store, make_events(random.Random(1), 0, args.events, args.users, 60 * 86_400_000,
                                end), Config())
        store.close()
        rows = []
        # Each the last complete period (the default): yesterday, and last month, of which
        # the 60 days of events cover all.
        for period in ("day", "month"):
            out = subprocess.run([sys.executable, "-c", RUN, tmp, period],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            fields = out.stdout.split()
            rows.append((period, float(fields[0]), float(fields[1]), int(fields[2]),
                         int(fields[3])))
    print(f"\nreports (embedded SQLite, {args.events:,} events, {args.users:,} learners, "
          "md + html + csv + json)")
    print(f"{'':30}{'time':>10}{'peak memory':>14}  events in period  active   target")
    for period, seconds, peak, events, learners in rows:
        target = "< 30 s, < 1 GiB" if period == "day" else "< 60 s"
        print(f"{period + ' report':30}{seconds:>8.1f} s{peak:>10,.0f} MiB  {events:>16,}  "
              f"{learners:>6,}   {target}")


if __name__ == "__main__":
    main()
