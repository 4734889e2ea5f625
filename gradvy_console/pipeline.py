"""The operator's verbs, one implementation each; the CLI and the console both call these.

No Textual, no Rich: progress is reported through a plain callback `progress(done, total)`.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .analytics.events import BAD_JSON, Rejection
from .analytics.simulator import SimParams, simulate
from .config import QUEUES, Config
from .errors import GradvyError, InputError
from .ingest import Ingestor, IngestResult, now_ms
from .live import LiveState
from .store import DocumentStore

Progress = Callable[[int, int], None]


def _noop(done: int, total: int) -> None:
    return None


# --- processing ----------------------------------------------------------------------------


def drain_inbox(store: DocumentStore, ingestor: Ingestor, config: Config, batch_size: int = 1000,
                max_batches: int | None = None, progress: Progress = _noop,
                ignore_leases: bool = False) -> IngestResult:
    """Process pending inbox rows in-process, batch by batch, until none is left.
    `ignore_leases` also takes rows leased by others (recovering our own lost batches)."""
    total = store.inbox_count()
    lease_ms = int(config.ingest.inbox_lease_seconds * 1000)
    result = IngestResult()
    batches = 0
    progress(0, total)
    while max_batches is None or batches < max_batches:
        batch = ingestor.ingest_pending(batch_size, lease_ms, ignore_leases=ignore_leases)
        if batch.total + batch.skipped + batch.replayed == 0:
            break
        result.add(batch)
        batches += 1
        progress(result.total + result.skipped, total)
    return result


def drain_partition(config: Config, batch_size: int, partition: tuple[int, int]
                    ) -> dict[str, Any]:
    """One local worker of a parallel drain: its own backends, rows with id % n == k.
    Normalising happens outside the store's write lock, so partitions overlap."""
    from .ingest import Ingestor
    from .live import open_live
    from .store import open_store

    store, live = open_store(config), open_live(config)
    ingestor = Ingestor(store, live, config)
    result = IngestResult()
    after = 0
    try:
        while True:
            # No consumer is running (that is why we drain here): leased rows are ours too.
            rows = store.inbox_peek(batch_size, 2**62, after, partition)
            if not rows:
                break
            after = int(rows[-1][0])
            result.add(ingestor.prepare_and_commit(list(rows)))
    finally:
        store.close()
        live.close()
    return result.as_dict()


def drain_parallel(config: Config, store: DocumentStore, processes: int, batch_size: int,
                   progress: Progress = _noop) -> IngestResult:
    """Drain the inbox with `processes` local processes on disjoint partitions (id % n)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    total = store.inbox_count()
    progress(0, total)
    result = IngestResult()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [pool.submit(drain_partition, config, batch_size, (processes, k))
                   for k in range(processes)]
        while not all(f.done() for f in futures):
            time.sleep(0.2)
            progress(max(0, total - store.inbox_count()), total)
        for future in futures:
            result.add(IngestResult.from_dict(future.result()))
    # Rows leased by someone else while we ran (or left by a crashed worker) are not lost:
    # a sequential pass picks up whatever remains.
    return result


def fleet(live: LiveState, stale_after_s: float, at_ms: int | None = None
          ) -> list[dict[str, Any]]:
    """Every consumer any host reported recently, marked alive or dead (last beat older than
    `stale_after_s`)."""
    now = at_ms if at_ms is not None else now_ms()
    beats = live.scan_json("hb:", now)
    out = []
    for beat in beats.values():
        beat = dict(beat)
        beat["alive"] = now - int(beat.get("last_beat_ms", 0)) <= stale_after_s * 1000
        out.append(beat)
    return sorted(out, key=lambda b: (b.get("queue", ""), b.get("host", ""), b.get("pid", 0)))


def live_consumers(live: LiveState, queue: str | None = None,
                   at_ms: int | None = None, stale_after_s: float = 15.0
                   ) -> list[dict[str, Any]]:
    """Consumers with a fresh heartbeat, optionally for one queue."""
    return [b for b in fleet(live, stale_after_s, at_ms)
            if b["alive"] and (queue is None or b.get("queue") == queue)]


@dataclass
class ProcessReport:
    mode: str  # "queue" or "in-process"
    result: IngestResult
    batches: int
    seconds: float


def process_pending(config: Config, store: DocumentStore, live: LiveState, ingestor: Ingestor,
                    batch_size: int = 100, progress: Progress = _noop,
                    use_queue: bool | None = None) -> ProcessReport:
    """Process every pending event. With a live realtime consumer, batches of receipts go
    through the realtime queue and we wait for them; with none, they run in this process."""
    started = time.monotonic()
    if use_queue is None:
        use_queue = bool(live_consumers(live, "realtime"))
    if not use_queue:
        # No realtime consumer: no task can be on its way for a leased row, so take them all.
        processes = config.ingest.local_processes
        if processes > 1 and store.inbox_count() >= processes * batch_size:
            result = drain_parallel(config, store, processes, batch_size, progress)
            result.add(drain_inbox(store, ingestor, config, batch_size=batch_size,
                                   ignore_leases=True))
        else:
            result = drain_inbox(store, ingestor, config, batch_size=batch_size,
                                 progress=progress, ignore_leases=True)
        batches = -(-(result.total + result.skipped) // max(batch_size, 1))
        return ProcessReport("in-process", result, batches, time.monotonic() - started)

    from .queues import TaskResult
    from .tasks import batch_process_events

    total = store.inbox_count()
    lease_ms = int(config.ingest.inbox_lease_seconds * 1000)
    result = IngestResult()
    pending: list[tuple[TaskResult, list[str]]] = []   # in flight, with receipts
    batches = 0
    lost = 0
    progress(0, total)
    stale_s = config.live.heartbeat_ttl_seconds
    started_with = {(c["host"], c["pid"]) for c in live_consumers(live, "realtime",
                                                                 stale_after_s=stale_s)}
    last_check = 0.0

    def consumer_lost() -> bool:
        """A realtime consumer we started with is gone: batches it held died with it (Huey
        has no late acknowledgement), so stop waiting for results and drain instead."""
        alive = {(c["host"], c["pid"]) for c in live_consumers(live, "realtime",
                                                              stale_after_s=stale_s)}
        return not alive or not started_with <= alive

    def collect(handle: TaskResult) -> None:
        """Wait for one batch; give up on it when a consumer was lost (its inbox rows are
        still there and are drained below)."""
        nonlocal lost, last_check
        deadline = time.monotonic() + config.ingest.result_timeout_seconds
        while not handle.ready():
            now = time.monotonic()
            if lost or now > deadline:
                lost += 1
                return
            if now - last_check > 0.5:
                last_check = now
                if consumer_lost():
                    lost += 1
                    return
            time.sleep(0.02)
        result.add(IngestResult.from_dict(handle.get(timeout=1)))
        progress(result.total + result.skipped, total)

    unsent: list[str] = []               # claimed, not yet enqueued
    try:
        while True:
            claimed = store.inbox_claim(batch_size, lease_ms, now_ms())
            if not claimed:
                break
            unsent = [r for r, _ in claimed]
            pending.append((batch_process_events.apply_async(kwargs={"receipts": unsent}),
                            unsent))
            unsent = []
            batches += 1
            # Keep a bounded window in flight, so progress is real and memory stays flat.
            while len(pending) > 64:
                collect(pending[0][0])
                pending.pop(0)
        while pending:
            collect(pending[0][0])
            pending.pop(0)
    except BaseException:
        # Redis went away, or the operator pressed Ctrl-C: the rows of the batches we are
        # no longer waiting for are offered again now rather than when their lease ends
        # (a consumer still running one of them takes its rows atomically: no double count).
        _release(store, unsent + [r for _, receipts in pending for r in receipts])
        raise
    if lost:
        # A consumer died with our batches (Huey has no late acknowledgement): their rows are
        # still in the inbox under our lease. Take them here; taking is atomic with ingesting,
        # so a batch a consumer did finish is never processed twice.
        result.add(drain_inbox(store, ingestor, config, batch_size=batch_size,
                               ignore_leases=True))
    else:
        result.add(drain_inbox(store, ingestor, config, batch_size=batch_size))
    return ProcessReport("queue", result, batches, time.monotonic() - started)


def _release(store: DocumentStore, receipts: list[str]) -> None:
    """Best effort: the store may be what failed; the leases then simply run out."""
    try:
        store.inbox_release(receipts)
    except Exception:  # noqa: BLE001 - never hide the error that brought us here
        pass


# --- simulation ----------------------------------------------------------------------------


@dataclass
class SimulationReport:
    run_id: str
    events: int
    users: int
    courses: int
    faults: dict[str, int]
    pii_planted: int
    end_ms: int


def simulate_data(config: Config, store: DocumentStore, count: int, users: int, days: int,
                  seed: int, end_ms: int | None = None, progress: Progress = _noop
                  ) -> SimulationReport:
    """Generate simulated learners and events; events wait in the inbox, as in the guide."""
    if count < 0 or users < 1 or days < 1:
        raise GradvyError("simulate-data needs a count of 0 or more, and at least one user "
                          "and one day.", exit_code=2)
    if end_ms is None:
        end_ms = (now_ms() // 60_000) * 60_000
    sim_cfg = config.simulator
    params = SimParams(count=count, users=users, days=days, seed=seed, end_ms=end_ms,
                       courses=sim_cfg.courses, fault_share=sim_cfg.fault_share,
                       pii_share=sim_cfg.pii_share, no_consent_share=sim_cfg.no_consent_share)
    sim = simulate(params)
    store.put_documents("courses", sim.courses)
    store.put_documents("sim_truth", sim.users)
    at = now_ms()
    for user_id, consent in sim.consents.items():
        current = store.consent_for([user_id]).get(user_id)
        wanted = {p for p, g in consent.items() if g}
        if current != wanted:
            store.record_consent(user_id, consent, method="simulator", version="sim-1",
                                 legal_basis="consent", actor="simulator", at_ms=at)
    step = 10_000
    progress(0, len(sim.events))
    for start in range(0, len(sim.events), step):
        chunk = sim.events[start:start + step]
        store.inbox_put([orjson.dumps(e) for e in chunk], at)
        progress(min(start + step, len(sim.events)), len(sim.events))
    store.put_documents("sim_runs", [{
        "_id": sim.run_id, "seed": seed, "count": count, "users": users, "days": days,
        "end_ms": end_ms, "faults": sim.faults, "pii_planted": sim.pii_planted, "at_ms": at}])
    return SimulationReport(sim.run_id, len(sim.events), len(sim.users), len(sim.courses),
                            sim.faults, sim.pii_planted, end_ms)


# --- direct ingestion ----------------------------------------------------------------------


def read_event_source(source: str) -> tuple[list[tuple[str | None, Any]], list[Rejection]]:
    """Read NDJSON or a JSON array from a path or '-' (stdin).

    Returns (items to ingest, lines that are not JSON). Raises InputError when the input is not
    JSON at all."""
    import sys

    if source == "-":
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"No such file: {source}.")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"Cannot read {source}: {exc.strerror}.") from None
        name = source
    stripped = data.lstrip()
    if not stripped:
        return [], []
    if stripped[:1] == b"[":
        try:
            values = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise InputError(f"{name} starts like a JSON array but is not valid JSON.") from None
        return [(None, v) for v in values], []
    items: list[tuple[str | None, Any]] = []
    bad: list[Rejection] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((None, orjson.loads(line)))
        except orjson.JSONDecodeError:
            bad.append(Rejection(BAD_JSON, f"line {number} is not valid JSON", line))
    if not items:
        raise InputError(f"{name} is not JSON: expected one JSON event per line or a JSON array.")
    return items, bad


def ingest_source(store: DocumentStore, ingestor: Ingestor, source: str, batch_size: int = 1000,
                  progress: Progress = _noop) -> IngestResult:
    items, bad = read_event_source(source)
    result = IngestResult()
    if bad:
        # Lines that are not JSON still go to dead letters, with their line number.
        with store.transaction() as tx:
            tx.add_dead_letters(bad, [None] * len(bad), now_ms())
            tx.add_counters({"dead_lettered": len(bad), f"rejected:{BAD_JSON}": len(bad)})
        result.dead_lettered += len(bad)
        result.reasons[BAD_JSON] += len(bad)
    progress(0, len(items))
    for start in range(0, len(items), batch_size):
        result.add(ingestor.ingest(items[start:start + batch_size]))
        progress(min(start + batch_size, len(items)), len(items))
    return result


# --- consent -------------------------------------------------------------------------------


def change_consent(config: Config, store: DocumentStore, user_id: str, grant: list[str],
                   revoke: list[str], method: str = "cli", version: str = "1",
                   legal_basis: str = "consent") -> set[str]:
    known = set(config.consent.purposes)
    for purpose in grant + revoke:
        if purpose not in known:
            raise GradvyError(f"Unknown consent purpose '{purpose}'; purposes are "
                              f"{', '.join(config.consent.purposes)}.", exit_code=2)
    both = set(grant) & set(revoke)
    if both:
        raise GradvyError(f"Cannot grant and revoke '{sorted(both)[0]}' at once.", exit_code=2)
    if not user_id.strip():
        raise GradvyError("A user id is required.", exit_code=2)
    changes = {p: True for p in grant} | {p: False for p in revoke}
    return store.record_consent(user_id, changes, method=method, version=version,
                                legal_basis=legal_basis, actor=os.environ.get("USER", "operator"),
                                at_ms=now_ms())


# --- status --------------------------------------------------------------------------------


def pipeline_metrics(store: DocumentStore, live: LiveState, at_ms: int) -> dict[str, Any]:
    counters = store.counters()
    per_minute = live.events_per_minute(at_ms, minutes=60)
    last_minute = per_minute.get(at_ms // 60_000 - 1, {})
    return {
        "at_ms": at_ms,
        "processed": counters.get("processed", 0),
        "dead_lettered": counters.get("dead_lettered", 0),
        "duplicates": counters.get("duplicates", 0),
        "no_consent": counters.get("no_consent", 0),
        "pending": store.inbox_count(),
        "events_last_minute": sum(last_minute.values()),
        "events_last_hour": sum(sum(m.values()) for m in per_minute.values()),
    }


def status(config: Config, store: DocumentStore, live: LiveState) -> dict[str, Any]:
    """Everything `gradvy run status` shows, as plain data."""
    at = now_ms()
    counters = store.counters()
    pending = store.inbox_count()
    oldest = store.inbox_oldest_ms()
    users = store.count_users()
    active = store.count_users_active_since(at - 86_400_000)
    consumers = fleet(live, config.live.heartbeat_ttl_seconds, at_ms=at)
    hour = at // 3_600_000
    processed_24h = sum(v for k, v in counters.items() if k.startswith("processed_hour:")
                        and hour - int(k.split(":", 1)[1]) < 24)
    failed_24h = store.count_failed_runs(at - 86_400_000)
    pools = sorted(live.scan_json("sup:", at).values(), key=lambda s: s.get("id", ""))
    return {
        "at": at,
        "host": socket.gethostname(),
        "data_dir": str(config.data_dir),
        "config": config.source,
        "backends": {"queue": config.queue_backend, "live": live.backend,
                     "store": store.backend},
        "events": {
            "pending": pending,
            "oldest_pending_age_s": round((at - oldest) / 1000, 1) if oldest else None,
            "processed": counters.get("processed", 0),
            "processed_24h": processed_24h,
            "dead_lettered": counters.get("dead_lettered", 0),
            "duplicates": counters.get("duplicates", 0),
            "no_consent": counters.get("no_consent", 0),
            "profiled": counters.get("profiled", 0),
            "failed_tasks_24h": failed_24h,
            "pii_masked": counters.get("pii_masked", 0),
            "keys_dropped": counters.get("keys_dropped", 0),
            "unknown_type": counters.get("unknown_type", 0),
            "rejected": {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
                         if k.startswith("rejected:")},
        },
        "users": {"total": users, "active_24h": active,
                  "activity_rate": round(active / users, 4) if users else 0.0},
        "queues": current_queue_metrics(config, store, live, at),
        "consumers": consumers,
        "pools": pools,
        "system": live.get_json("metrics:system", at),
        "alerts": store.alerts(active_only=True, limit=50),
        "live_counters": live.counters(),
    }


# --- queue metrics and task history --------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100), at least 1
    return ordered[int(rank) - 1]


def queue_metrics(config: Config, store: DocumentStore, live: LiveState,
                  depths: dict[str, dict[str, int]], oldest: dict[str, float | None],
                  at_ms: int, window_min: int = 5) -> dict[str, dict[str, Any]]:
    """Per queue: pending, scheduled, oldest waiting age, processed and failed per minute
    (over the last `window_min` minutes), p50/p95 duration and wait, live consumers and the
    latest failures with their error text."""
    minutes = live.task_minutes(at_ms, window_min)
    consumers = live_consumers(live, at_ms=at_ms, stale_after_s=config.live.heartbeat_ttl_seconds)
    out: dict[str, dict[str, Any]] = {}
    for queue in QUEUES:
        done = sum(m.get(f"{queue}:complete", 0) for m in minutes.values())
        failed = sum(m.get(f"{queue}:failed", 0) for m in minutes.values())
        runs = store.task_runs(limit=2000, queue=queue, since_ms=at_ms - window_min * 60_000)
        durations = [r["duration_s"] for r in runs if r.get("duration_s") is not None]
        waits = [r["wait_s"] for r in runs if r.get("wait_s") is not None]
        failures = store.task_runs(limit=3, failed_only=True, queue=queue)
        depth = depths.get(queue, {})
        out[queue] = {
            "pending": depth.get("pending"),
            "scheduled": depth.get("scheduled"),
            "oldest_age_s": oldest.get(queue),
            "processed_per_min": round(done / window_min, 2),
            "failed_per_min": round(failed / window_min, 2),
            "p50_s": percentile(durations, 50),
            "p95_s": percentile(durations, 95),
            "wait_p95_s": percentile(waits, 95),
            "consumers": sum(1 for c in consumers if c.get("queue") == queue),
            "recent_failures": [{"task_id": f["task_id"], "task": f["task"],
                                 "ended_ms": f["ended_ms"], "error": f["error"]}
                                for f in failures],
        }
    return out


def schedule_table(config: Config, store: DocumentStore, at_ms: int | None = None
                   ) -> list[dict[str, Any]]:
    """Every periodic job: crontab, queue, last run and outcome, next run (computed: Huey has
    no next-run API)."""
    from datetime import UTC, datetime

    from . import tasks  # noqa: F401 - registers the jobs
    from .queues import registered_tasks
    from .schedule import parse

    now = at_ms if at_ms is not None else now_ms()
    now_dt = datetime.fromtimestamp(now / 1000, tz=UTC).replace(tzinfo=None)
    rows = []
    for job, expression in config.schedule.items():
        runs = [r for r in store.task_runs(limit=20, task=job) if r["status"] != "skipped"]
        nxt = parse(expression).next_after(now_dt) if expression else None
        wrapper = registered_tasks().get(job)
        rows.append({
            "job": job, "cron": expression, "queue": wrapper.queue_name if wrapper else "?",
            "last_run_ms": runs[0]["ended_ms"] if runs else None,
            "last_outcome": runs[0]["status"] if runs else None,
            "last_error": runs[0].get("error") if runs else None,
            "next_run_ms": int(nxt.replace(tzinfo=UTC).timestamp() * 1000) if nxt else None,
        })
    return rows


def current_queue_metrics(config: Config, store: DocumentStore, live: LiveState,
                          at_ms: int) -> dict[str, dict[str, Any]]:
    """`queue_metrics` for the active queues: depths and head ages read here."""
    from . import tasks  # noqa: F401 - so queue heads can be deserialised
    from .queues import current

    queues = current()
    return queue_metrics(config, store, live, queues.depths(),
                         {q: queues.oldest_age_s(q, at_ms) for q in queues.hueys}, at_ms)


def retry_task(store: DocumentStore, task_id: str) -> tuple[str, str]:
    """Re-enqueue a failed task with its original arguments; returns (task, new task id).
    `task_id` may be the start of an id, as `gradvy run tasks` shows it, when it is unique
    among recent failures."""
    from . import tasks  # noqa: F401 - registers every task
    from .queues import registered_tasks

    matches = [r for r in store.task_runs(limit=1000, failed_only=True)
               if r["task_id"].startswith(task_id)]
    if len(matches) == 1:
        task_id = matches[0]["task_id"]
    run = store.task_run(task_id)
    if run is None:
        raise GradvyError(f"No task run {task_id} in the history.", exit_code=1)
    if run["status"] != "failed":
        raise GradvyError(f"Task {task_id} did not fail (it is {run['status']}): nothing to "
                          "retry.", exit_code=1)
    if not run.get("args_json"):
        raise GradvyError(f"Task {task_id} cannot be retried: its arguments were not JSON.",
                          exit_code=1)
    task = registered_tasks().get(run["task"])
    if task is None:
        raise GradvyError(f"Task {run['task']} is not known to this version.", exit_code=1)
    args, kwargs = orjson.loads(run["args_json"])
    handle = task.apply_async(args=args, kwargs=kwargs)
    return run["task"], handle.id


# --- self-test -----------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def self_test(config: Config, store: DocumentStore, live: LiveState, ingestor: Ingestor,
              wait_s: float = 20.0) -> list[Check]:
    """End-to-end checks through a real queue, store and live state. A realtime consumer is
    needed for the queue check; without one the check says so and fails."""
    checks: list[Check] = []
    token = uuid.uuid4().hex[:12]
    user = f"selftest-{token}"
    at = now_ms()

    def run(name: str, fn: Callable[[], str]) -> None:
        try:
            checks.append(Check(name, True, fn()))
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure as a line
            checks.append(Check(name, False, str(exc).splitlines()[0][:200] if str(exc) else
                                type(exc).__name__))

    def store_check() -> str:
        store.record_consent(user, {"analytics": True, "behavioral_analysis": True},
                             method="self-test", version="1", legal_basis="consent",
                             actor="self-test", at_ms=at)
        granted = store.consent_for([user]).get(user, set())
        if "analytics" not in granted:
            raise RuntimeError("consent written but not read back")
        return f"{store.backend}: consent written and read back"

    def live_check() -> str:
        live.put_json(f"selftest:{token}", {"token": token}, ttl_s=30)
        if (live.get_json(f"selftest:{token}", now_ms()) or {}).get("token") != token:
            raise RuntimeError("value written but not read back")
        live.delete_json(f"selftest:{token}")
        return f"{live.backend}: value written and read back"

    event = {"event_id": f"selftest-{token}", "user_id": user, "event_type": "course_interaction",
             "timestamp": _iso_now(), "properties": {"course_id": "selftest", "action": "enroll",
                                                     "course_category": "selftest"}}

    def queue_check() -> str:
        from .tasks import process_analytics_event

        if not live_consumers(live, "realtime"):
            raise RuntimeError("no realtime consumer is running (start one: gradvy worker "
                               "realtime)")
        outcome = process_analytics_event.delay(event).get(timeout=wait_s)
        if outcome.get("status") != "processed":
            raise RuntimeError(f"event came back {outcome.get('status')}")
        return f"{config.queue_backend}: event processed by a realtime consumer"

    def profile_check() -> str:
        doc = store.get_user(user)
        if not doc or doc["acc"].get("n", {}).get("course_interaction") != 1:
            raise RuntimeError("profile was not updated")
        return "profile updated once"

    def idempotency_check() -> str:
        again = ingestor.ingest([(None, event)])
        if again.duplicates != 1 or again.processed:
            raise RuntimeError(f"second delivery gave {again.as_dict()}")
        return "second delivery counted as a duplicate"

    def dead_letter_check() -> str:
        bad = ingestor.ingest([(None, {"user_id": user, "event_type": "search"})])
        if bad.dead_lettered != 1:
            raise RuntimeError("malformed event was not dead-lettered")
        return "malformed event dead-lettered (missing_field)"

    run("store", store_check)
    run("live state", live_check)
    run("queue round trip", queue_check)
    if not checks[-1].ok:
        # No consumer: still prove the engine by processing in-process.
        result = ingestor.ingest([(None, event)])
        checks.append(Check("in-process ingestion", result.processed == 1,
                            "processed in-process" if result.processed == 1 else
                            str(result.as_dict())))
    run("profile", profile_check)
    run("idempotency", idempotency_check)
    run("dead letters", dead_letter_check)
    return checks


def _iso_now() -> str:
    from .analytics.events import iso_from_ms

    return iso_from_ms(now_ms())


# --- one user; dead-letter replay ----------------------------------------------------------


def user_report(config: Config, store: DocumentStore, live: LiveState, user_id: str
                ) -> dict[str, Any] | None:
    """What is known about one user: profile (scores, preferences), today's live counters,
    consent and its history, recent events. None when the user is unknown."""
    from .analytics.events import day_of
    from .analytics.scoring import profile_view

    user = store.get_user(user_id)
    history = store.consent_history(user_id)
    if user is None and not history:
        return None
    at = now_ms()
    return {
        "user_id": user_id,
        "profile": profile_view(user["acc"], config.scoring, at) if user else {"events": 0},
        "consent": (user or {}).get("consent", {}),
        "consent_history": history,
        "live_today": live.user_day(user_id, day_of(at), at),
        "recent_events": store.user_events(user_id, limit=100_000)[-20:][::-1],
        **user_insights(store, live, user_id, at),
    }


def user_insights(store: DocumentStore, live: LiveState, user_id: str, at: int
                  ) -> dict[str, Any]:
    """The latest analysis, segment and its history, recommendations and anomalies."""
    analyses = store.get_documents("user_analysis", user_id=user_id)
    segments = store.get_documents("segments", user_id=user_id)
    recs = store.get_documents("recommendations", user_id=user_id)
    return {
        "analysis": live.get_json(f"analysis:{user_id}", at) or (
            analyses[-1] if analyses else None),
        "segment": segments[0] if segments else None,
        "segment_history": sorted(store.get_documents("segment_history", user_id=user_id),
                                  key=lambda h: h["at_ms"])[-10:],
        "recommendations": recs[0] if recs else None,
        "anomalies": store.get_documents("anomalies", user_id=user_id),
    }


def replay_dead_letter(store: DocumentStore, dead_letter_id: str) -> dict[str, Any]:
    """Put a reviewed dead letter's original payload back in the pending inbox (the next
    processing run ingests it again; if it is still invalid it is dead-lettered again).
    The inbox row is written before the dead letter is removed: a crash between the two
    leaves a copy, never a loss."""
    letter = store.dead_letter(dead_letter_id)
    if letter is None:
        raise GradvyError(f"No dead letter {dead_letter_id}.", exit_code=1)
    store.inbox_put([letter["payload"].encode()], now_ms())
    store.remove_dead_letter(dead_letter_id)
    with store.transaction() as tx:
        tx.add_counters({"replayed": 1})
    return letter
