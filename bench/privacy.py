"""Privacy benchmark. Prints one table; run:  python bench/privacy.py [--events 1000000]

On the embedded default (SQLite store, live state and queues), with N simulated events of 2,000
learners over 60 days, processed:
- consent import: 100,000 CSV rows into the ledger (`import_consent_file`), and again (idempotent);
- erasure of one learner: removal from every store, then the verification (every file of the data
  dir read), then retraining the models the learner was part of (timed apart);
- erasure of 1,000 learners in one batch, the same three parts;
- cleanup: retention set so half the events are expired, removed while another process ingests
  one event at a time; the slowest of those ingest calls is the stall;
- the audit over the whole store.
`--reuse DIR` keeps the processed store in DIR and copies it for each row (building 1,000,000
events takes minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADVY_")}
    env.update({"GRADVY_DATA_DIR": str(data), "PYTHONPATH": str(ROOT), **extra})
    return env


def build(data: Path, events: int) -> None:
    env = env_for(data)
    for args in (["run", "simulate-data", "--users", "2000", "--days", "60", "--simulate-count",
                  str(events), "--seed", "5"],
                 ["run", "process-events", "--batch-size", "10000"],
                 ["run", "update-models"]):
        subprocess.run(GRADVY + args, env=env, check=True, stdout=subprocess.DEVNULL)


def copy_of(source: Path, workdir: Path, name: str) -> Path:
    target = workdir / name
    shutil.copytree(source, target)
    return target


def activate(data: Path, config_text: str = "") -> Any:
    from gradvy_console import runtime
    from gradvy_console.config import load_config

    if config_text:
        path = data.parent / f"{data.name}.toml"
        path.write_text(config_text)
        os.chmod(path, 0o600)
        config = load_config(path, env={"GRADVY_DATA_DIR": str(data)})
    else:
        config = load_config(env={"GRADVY_DATA_DIR": str(data)})
    runtime.activate(config)
    return config


def consent_rows(workdir: Path) -> list[tuple[str, str]]:
    from gradvy_console import runtime
    from gradvy_console.privacy import import_consent_file

    path = workdir / "consent.csv"
    with open(path, "w") as out:
        out.write("user_id,granted,revoked,method,notice_version,legal_basis,time\n")
        for i in range(100_000):
            out.write(f"learner-{i:06d},analytics;behavioral_analysis,,form,3,consent,"
                      f"2026-11-{1 + i % 28:02d}T10:00:00Z\n")
    config = activate(workdir / "consent-data")
    store = runtime.store()
    t0 = time.perf_counter()
    first = import_consent_file(config, store, path)
    t1 = time.perf_counter()
    again = import_consent_file(config, store, path)
    t2 = time.perf_counter()
    runtime.close()
    return [("consent import: 100,000 rows", f"{t1 - t0:.2f} s ({first.added:,} entries)"),
            ("consent import: the same file again", f"{t2 - t1:.2f} s ({again.added} added)")]


def erase(data: Path, count: int) -> list[tuple[str, str]]:
    from gradvy_console import runtime
    from gradvy_console.insights import update_models
    from gradvy_console.privacy import request_erasure, run_erasures
    from gradvy_console.tasks.compliance import trace_holders

    config = activate(data)
    store = runtime.store()
    users = sorted(u["user_id"] for u in store.iter_users())[:count]
    ids = [request_erasure(config, store, u, "bench")["_id"] for u in users]
    events_before = store.count_events()
    timings: dict[str, float] = {}
    real_verify = None

    import gradvy_console.privacy.erasure as erasure

    real_verify = erasure.verify

    def timed_verify(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_verify(*args, **kwargs)
        finally:
            timings["verify"] = time.perf_counter() - t

    def retrain() -> None:
        t = time.perf_counter()
        update_models(config, store)
        timings["retrain"] = time.perf_counter() - t

    erasure.verify = timed_verify
    t0 = time.perf_counter()
    results = run_erasures(config, store, trace_holders(), ids, retrain=retrain,
                           log_dir=config.data_dir / "logs")
    total = time.perf_counter() - t0
    erasure.verify = real_verify
    removed = events_before - store.count_events()
    runtime.close()
    statuses = {r.status for r in results}
    remove_s = total - timings.get("verify", 0) - timings.get("retrain", 0)
    label = "1 learner" if count == 1 else f"{count:,} learners"
    return [(f"erase {label}: removal ({removed:,} events)", f"{remove_s:.2f} s"),
            (f"erase {label}: verification", f"{timings.get('verify', 0):.2f} s"),
            (f"erase {label}: retraining", f"{timings.get('retrain', 0):.2f} s"),
            (f"erase {label}: status", ", ".join(sorted(statuses)))]


INGEST_LOOP = """
import sys, time, orjson
from gradvy_console import runtime
from gradvy_console.config import load_config
from gradvy_console.analytics.events import iso_from_ms
runtime.activate(load_config())
ing = runtime.ingestor()
runtime.store().record_consent("bench-live", {"analytics": True, "behavioral_analysis": True},
                               method="bench", version="1", legal_basis="consent",
                               actor="bench", at_ms=1)
import os
times, stop, mark = [], sys.argv[1], sys.argv[2]
print("ready", flush=True)
phase = 0
while not os.path.exists(stop):
    t = time.perf_counter()
    ing.ingest([(None, {"user_id": "bench-live", "event_type": "search",
                         "timestamp": iso_from_ms(int(time.time() * 1000)),
                         "properties": {"query": "q"}})])
    times.append((os.path.exists(mark), time.perf_counter() - t))
def summary(xs):
    xs = sorted(xs)
    if not xs:
        return {"calls": 0}
    return {"calls": len(xs), "p50_ms": xs[len(xs) // 2] * 1000,
            "p99_ms": xs[int(len(xs) * 0.99)] * 1000, "worst_ms": xs[-1] * 1000,
            "over_200ms": sum(1 for x in xs if x > 0.2)}
print(orjson.dumps({"alone": summary([t for m, t in times if not m]),
                    "during": summary([t for m, t in times if m])}).decode(), flush=True)
"""


def cleanup_row(data: Path) -> list[tuple[str, str]]:
    import orjson

    from gradvy_console import runtime
    from gradvy_console.privacy import cleanup

    # Events span 60 days: a 30-day retention expires about half of them.
    config = activate(data, "[retention]\nevents = 30\nsessions = 30\n")
    store = runtime.store()
    before = store.count_events()
    runtime.close()
    stop, mark = data.parent / "stop-ingesting", data.parent / "cleanup-running"
    loop = subprocess.Popen([sys.executable, "-c", textwrap.dedent(INGEST_LOOP), str(stop),
                             str(mark)], env=env_for(data), stdout=subprocess.PIPE, text=True)
    assert loop.stdout is not None
    loop.stdout.readline()
    time.sleep(10.0)      # ingestion alone first: its own slowest call, for comparison
    mark.write_text("")
    config = activate(data, "[retention]\nevents = 30\nsessions = 30\n")
    store = runtime.store()
    t0 = time.perf_counter()
    report = cleanup(config, store)
    seconds = time.perf_counter() - t0
    runtime.close()
    time.sleep(0.5)
    stop.write_text("")
    out, _ = loop.communicate(timeout=60)
    stall: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith("{"):
            stall = orjson.loads(line)
    alone, during = stall.get("alone", {}), stall.get("during", {})
    removed = sum(c.removed for c in report.collections if c.collection in ("events",
                                                                            "sessions"))
    return [(f"cleanup: {removed:,} of {before:,} events", f"{seconds:.2f} s"),
            ("cleanup: ingest calls meanwhile, p50 / p99 / slowest",
             f"{during.get('p50_ms', 0):.1f} / {during.get('p99_ms', 0):.0f} / "
             f"{during.get('worst_ms', 0):.0f} ms ({during.get('calls', 0):,} calls, "
             f"{during.get('over_200ms', 0)} over 200 ms)"),
            ("cleanup: ingest calls alone before, p50 / p99 / slowest",
             f"{alone.get('p50_ms', 0):.1f} / {alone.get('p99_ms', 0):.0f} / "
             f"{alone.get('worst_ms', 0):.0f} ms ({alone.get('calls', 0):,} calls, "
             f"{alone.get('over_200ms', 0)} over 200 ms)"),
            ("cleanup: longest delete batch", f"{report.longest_batch_ms:.0f} ms")]


def audit_row(data: Path) -> list[tuple[str, str]]:
    from gradvy_console import runtime
    from gradvy_console.tasks.compliance import audit_now

    activate(data)
    events = runtime.store().count_events()
    t0 = time.perf_counter()
    report = audit_now()
    seconds = time.perf_counter() - t0
    runtime.close()
    return [(f"audit over {events:,} events", f"{seconds:.2f} s ({report['status']})")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", type=Path, default=None,
                        help="Keep (or reuse) the processed store in this directory.")
    parser.add_argument("--only", choices=["consent", "erase", "cleanup", "audit"])
    args = parser.parse_args()
    os.umask(0o077)
    workdir = Path(tempfile.mkdtemp(prefix="gradvy-bench-privacy-"))
    rows: list[tuple[str, str]] = []
    try:
        source = args.reuse or workdir / "source"
        if not (source / "store.db").exists():
            t0 = time.perf_counter()
            build(source, args.events)
            rows.append(("build the store", f"{time.perf_counter() - t0:.0f} s"))
        if args.only in (None, "consent"):
            rows += consent_rows(workdir)
        if args.only in (None, "erase"):
            rows += erase(copy_of(source, workdir, "one"), 1)
            rows += erase(copy_of(source, workdir, "many"), 1000)
        if args.only in (None, "cleanup"):
            rows += cleanup_row(copy_of(source, workdir, "cleanup"))
        if args.only in (None, "audit"):
            rows += audit_row(copy_of(source, workdir, "audit"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'privacy (embedded, 2 cores)':<{width}}  figure")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
