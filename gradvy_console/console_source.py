"""What the console shows, read from the engine (no Textual, no Rich).

`PipelineSource.snapshot()` is called from one thread worker once per refresh and returns a
frozen `Snapshot`; the screens only render it. The cheap parts (queue depths, counters,
heartbeats, alerts, events per minute) are read every call; the history queries behind
processed/failed per minute and p95 are reused for `slow_every_s` seconds, so an idle console
costs little. Detail screens call the other read methods, also from a thread worker.
A backend that is down gives a snapshot with `backend_error` set, never an exception.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import QUEUES, Config
from .errors import GradvyError, redact

EVENT_WINDOW_MIN = 60          # the events-per-minute chart covers the last hour
SPARK_SAMPLES = 60             # system sparklines: the last 60 monitoring samples (5 min)
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
ACTIVITY_HOURS, ACTIVITY_DAYS = 24, 60
HOURS_EVERY_S, DAYS_EVERY_S = 30.0, 600.0   # how often each activity series is read again
DISTRIBUTIONS_EVERY_S = 60.0                 # the insights screen's distributions
QUEUE_HISTORY_EVERY_S = 15.0                 # the queues' last hour (a cell is 90 s wide)
FIFTHS = (0.0, 0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class QueueRow:
    name: str
    pending: int | None
    scheduled: int | None
    oldest_age_s: float | None
    processed_per_min: float
    failed_per_min: float
    p95_s: float | None
    consumers: int
    paused: bool = False


@dataclass(frozen=True)
class ConsumerRow:
    queue: str
    host: str
    pid: int | None
    state: str                 # running, dead, backoff, crash_loop, stopped
    started_ms: int | None
    cpu_percent: float | None
    rss_bytes: int | None
    restarts: int
    current_task: str | None
    workers: int | None


@dataclass(frozen=True)
class AlertRow:
    alert_id: str
    severity: str
    message: str
    raised_ms: int
    acknowledged: bool


@dataclass(frozen=True)
class SystemRow:
    cpu_percent: float | None
    memory_percent: float
    disk_percent: float
    load: tuple[float, ...]
    cores: int
    measured_ms: int
    cpu_history: tuple[float, ...] = ()
    memory_history: tuple[float, ...] = ()
    disk_history: tuple[float, ...] = ()


@dataclass(frozen=True)
class QueueHistory:
    name: str
    depths: tuple[int, ...]
    oldest_ages: tuple[float | None, ...]


@dataclass(frozen=True)
class PoolRow:
    pid: int
    host: str
    started_ms: int


@dataclass(frozen=True)
class Counters:
    pending: int = 0
    processed: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    no_consent: int = 0
    users: int = 0


@dataclass(frozen=True)
class Snapshot:
    """One refresh of the dashboard. Times are epoch milliseconds (UTC)."""

    at_ms: int
    deployment: str                      # "embedded" or e.g. "Redis + MongoDB"
    host: str
    pool: PoolRow | None = None
    system: SystemRow | None = None
    queues: tuple[QueueRow, ...] = ()
    consumers: tuple[ConsumerRow, ...] = ()
    alerts: tuple[AlertRow, ...] = ()
    # (event type, counts per minute oldest first) over the last EVENT_WINDOW_MIN minutes
    events_per_minute: tuple[tuple[str, tuple[int, ...]], ...] = ()
    counters: Counters = field(default_factory=Counters)
    backend_error: str | None = None
    # During an outage the console keeps showing the last good data: it is as of this time.
    as_of_ms: int | None = None
    # The pool and consumers come from this host's pidfile and processes (live state is out).
    pool_is_local: bool = False
    # Stored events by event time: the last 24 hours by hour and the last 60 days by day,
    # oldest first (not by when they were processed).
    activity_hours: tuple[int, ...] = ()
    activity_days: tuple[int, ...] = ()
    # Per queue over the last hour (5 s samples, oldest first): depth and oldest waiting age.
    queue_history: tuple[QueueHistory, ...] = ()


def bucket_counts(store: Any, at: int, bucket_ms: int, buckets: int
                  ) -> tuple[int, tuple[int, ...]]:
    """The stored events of the last `buckets` buckets of `bucket_ms` up to `at`, by event
    time: (the first bucket's start, counts oldest first, empty buckets 0)."""
    first = (at // bucket_ms - buckets + 1) * bucket_ms
    counts = store.event_counts(first, bucket_ms)
    return first, tuple(counts.get(first + i * bucket_ms, 0) for i in range(buckets))


def queue_history(samples: list[dict[str, Any]]) -> tuple[QueueHistory, ...]:
    """Per queue, its depth and oldest waiting age in each monitoring sample (oldest first);
    a sample from before a queue was measured counts as empty."""
    from .config import QUEUES

    out = []
    for name in QUEUES:
        rows = [s.get("queues", {}).get(name) or [0, None] for s in samples]
        out.append(QueueHistory(name, tuple(int(r[0]) for r in rows),
                                tuple(r[1] for r in rows)))
    return tuple(out)


def deployment_label(config: Config) -> str:
    if not config.redis_url and not config.mongo_url:
        return "embedded"
    parts = ["Redis" if config.redis_url else "SQLite queues",
             "MongoDB" if config.mongo_url else "SQLite store"]
    return " + ".join(parts)


def consumer_rows(beats: list[dict[str, Any]], pools: list[dict[str, Any]]
                  ) -> tuple[ConsumerRow, ...]:
    """Heartbeats joined with the supervisors' view: a consumer that is restarting or stopped
    has no heartbeat but is still a row, with its state."""
    published = {(p.get("host"), c.get("pid")): c for p in pools for c in p.get("consumers", [])}
    rows = []
    seen = set()
    for beat in beats:
        sup = published.get((beat.get("host"), beat.get("pid")), {})
        seen.add((beat.get("host"), beat.get("pid")))
        rows.append(ConsumerRow(
            queue=str(beat.get("queue")), host=str(beat.get("host")), pid=beat.get("pid"),
            state="running" if beat.get("alive") else "dead",
            started_ms=beat.get("started_ms"), cpu_percent=beat.get("cpu_percent"),
            rss_bytes=beat.get("rss_bytes"), restarts=int(sup.get("restarts", 0)),
            current_task=beat.get("current"), workers=beat.get("workers")))
    for pool in pools:
        for c in pool.get("consumers", []):
            if (pool.get("host"), c.get("pid")) in seen or c.get("state") == "running":
                continue
            rows.append(ConsumerRow(
                queue=str(c.get("queue")), host=str(pool.get("host")), pid=c.get("pid"),
                state=str(c.get("state")), started_ms=c.get("started_ms"), cpu_percent=None,
                rss_bytes=None, restarts=int(c.get("restarts", 0)), current_task=None,
                workers=c.get("workers")))
    order = {q: i for i, q in enumerate(QUEUES)}
    return tuple(sorted(rows, key=lambda r: (order.get(r.queue, 99), r.host, r.pid or 0)))


def events_series(per_minute: dict[int, dict[str, int]], at_ms: int,
                  minutes: int = EVENT_WINDOW_MIN) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Per event type, counts for each of the last `minutes` whole minutes (oldest first),
    busiest type first."""
    last = at_ms // 60_000
    span = range(last - minutes + 1, last + 1)
    types = sorted({t for m in per_minute.values() for t in m})
    series = [(t, tuple(int(per_minute.get(m, {}).get(t, 0)) for m in span)) for t in types]
    return tuple(sorted(series, key=lambda s: (-sum(s[1]), s[0])))


class PipelineSource:
    """The real data source: live state, the store, the queues and the supervisor."""

    def __init__(self, config: Config, slow_every_s: float = 5.0) -> None:
        self.config = config
        self.slow_every_s = slow_every_s
        self._slow: dict[str, Any] = {}
        self._slow_at = 0.0
        self._activated = False
        self._hours: tuple[int, tuple[int, ...]] = (0, ())     # (first bucket ms, counts)
        self._hours_at = -HOURS_EVERY_S
        self._days: tuple[int, tuple[int, ...]] = (0, ())
        self._days_at = -DAYS_EVERY_S
        self._processed_seen = 0
        self._minutes: dict[int, dict[str, int]] = {}
        self._distributions_cache: tuple[float, dict[str, Any] | None] = (0.0, None)
        self._queue_history_at = -QUEUE_HISTORY_EVERY_S

    # --- wiring ---------------------------------------------------------------------------
    def _engine(self) -> tuple[Any, Any]:
        from . import runtime

        if not self._activated:
            runtime.activate(self.config)
            self._activated = True
        return runtime.store(), runtime.live()

    # --- the dashboard --------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        at = int(time.time() * 1000)
        deployment, host = deployment_label(self.config), socket.gethostname()
        try:
            return self._snapshot(at, deployment, host)
        except GradvyError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a backend outage is shown, never fatal
            error = redact(f"{type(exc).__name__}: {exc}")
        pool, consumers = local_pool(self.config, host)
        return Snapshot(at, deployment, host, backend_error=error, pool=pool,
                        consumers=consumers, pool_is_local=True)

    def _snapshot(self, at: int, deployment: str, host: str) -> Snapshot:
        from .pipeline import fleet, queue_metrics
        from .queues import current

        store, live = self._engine()
        queues = current()
        if time.monotonic() - self._slow_at >= self.slow_every_s:
            # The pool measures the system every 5 s: its figures and their last five
            # minutes are read as often, not every refresh.
            self._slow = {"users": store.count_users(),
                          "queue_history": self._slow.get("queue_history", ()),
                          "history": live.get_list("sys:history:5s", at, last=SPARK_SAMPLES),
                          "system": live.get_json("metrics:system", at)}
            self._slow_at = time.monotonic()
        if time.monotonic() - self._queue_history_at >= QUEUE_HISTORY_EVERY_S:
            # The whole hour (720 samples) is decoded: not every second.
            self._slow["queue_history"] = queue_history(live.get_list("sys:history:5s", at))
            self._queue_history_at = time.monotonic()
        counters = store.counters()
        hours, days = self._activity(store, at, counters.get("processed", 0))
        depths, oldest = queues.depths_and_ages(at)
        metrics = self._queue_metrics(store, live, depths, oldest, at, queue_metrics)
        beats = fleet(live, self.config.live.heartbeat_ttl_seconds, at)
        pools = sorted(live.scan_json("sup:", at).values(), key=lambda s: s.get("id", ""))
        if self._slow.get("pools_watched_at") != self._slow_at:
            # The console, too, notices a pool that stopped reporting (every 5 s).
            from .monitoring import watch_pools

            self._slow["pools_watched_at"] = self._slow_at
            watch_pools(self.config, store, live, pools, at)
        history, system = self._slow["history"], self._slow["system"]
        pool = pools[0] if pools else None
        return Snapshot(
            at_ms=at, deployment=deployment, host=host,
            pool=PoolRow(pid=pool["pid"], host=pool["host"], started_ms=pool["started_ms"])
            if pool else None,
            system=SystemRow(
                cpu_percent=system.get("cpu_percent"), memory_percent=system["memory_percent"],
                disk_percent=system["disk_percent"], load=tuple(system["load"]),
                cores=system.get("cores", 1), measured_ms=system["at_ms"],
                cpu_history=tuple(h.get("cpu_percent") or 0.0 for h in history),
                memory_history=tuple(h.get("memory_percent") or 0.0 for h in history),
                disk_history=tuple(h.get("disk_percent") or 0.0 for h in history),
            ) if system else None,
            queues=tuple(QueueRow(name=q, pending=m["pending"], scheduled=m["scheduled"],
                                  oldest_age_s=m["oldest_age_s"],
                                  processed_per_min=m["processed_per_min"],
                                  failed_per_min=m["failed_per_min"], p95_s=m["p95_s"],
                                  consumers=m["consumers"], paused=bool(m.get("paused")))
                         for q, m in metrics.items()),
            consumers=consumer_rows(beats, pools),
            alerts=tuple(AlertRow(alert_id=a["alert_id"], severity=a["severity"],
                                  message=a["message"], raised_ms=a["raised_ms"],
                                  acknowledged=bool(a.get("acknowledged_ms")))
                         for a in store.alerts(active_only=True, limit=50)),
            events_per_minute=events_series(self._per_minute(live, at), at),
            counters=Counters(pending=store.inbox_count(),
                              processed=counters.get("processed", 0),
                              dead_lettered=counters.get("dead_lettered", 0),
                              duplicates=counters.get("duplicates", 0),
                              no_consent=counters.get("no_consent", 0),
                              users=self._slow.get("users", 0)),
            activity_hours=hours, activity_days=days,
            queue_history=self._slow.get("queue_history", ()),
        )

    def _per_minute(self, live: Any, at: int) -> dict[int, dict[str, int]]:
        """Events processed per minute over the window. Minutes before the last two are
        final (counted by when they were processed): kept, so each refresh reads two minutes,
        not sixty (on Redis, sixty hash reads a second were the idle console's largest
        cost)."""
        current = at // 60_000
        if not self._minutes:
            self._minutes = dict(live.events_per_minute(at, EVENT_WINDOW_MIN))
        else:
            fresh = live.events_per_minute(at, 2)
            for minute in (current - 1, current):
                if minute in fresh:
                    self._minutes[minute] = fresh[minute]
                else:
                    self._minutes.pop(minute, None)
        first = current - EVENT_WINDOW_MIN + 1
        self._minutes = {m: c for m, c in self._minutes.items() if m >= first} or {current: {}}
        return self._minutes

    def _activity(self, store: Any, at: int, processed: int = 0
                  ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Events by event time: by hour over the last 24 hours (read every HOURS_EVERY_S),
        by day over the last 60 days (read every DAYS_EVERY_S, today's figure kept current
        from the hours). Each read is one range query on the events' time index. After
        events were processed (the store's count moved: an import or a simulation reaches
        back weeks) both are read again, at most every HOURS_EVERY_S."""
        now = time.monotonic()
        if processed != self._processed_seen and now - self._hours_at >= HOURS_EVERY_S:
            self._processed_seen = processed
            self._days_at = -DAYS_EVERY_S
        if now - self._hours_at >= HOURS_EVERY_S:
            self._hours, self._hours_at = bucket_counts(store, at, HOUR_MS, ACTIVITY_HOURS), now
        if now - self._days_at >= DAYS_EVERY_S:
            self._days, self._days_at = bucket_counts(store, at, DAY_MS, ACTIVITY_DAYS), now
        first_hour, hours = self._hours
        first_day, days = self._days
        today = at // DAY_MS * DAY_MS
        if days and first_day + (ACTIVITY_DAYS - 1) * DAY_MS == today:
            days = days[:-1] + (sum(n for i, n in enumerate(hours)
                                    if first_hour + i * HOUR_MS >= today),)
        return hours, days

    def _queue_metrics(self, store: Any, live: Any, depths: dict[str, dict[str, int]],
                       oldest: dict[str, float | None], at: int, compute: Any
                       ) -> dict[str, dict[str, Any]]:
        """Depths and head ages are fresh; the run-history figures are reused for a few
        seconds (they are per-minute rates over five minutes anyway)."""
        cached = self._slow.get("queue_metrics")
        if cached is None:
            cached = compute(self.config, store, live, depths, oldest, at)
            self._slow["queue_metrics"] = cached
        out = {}
        for q, m in cached.items():
            out[q] = {**m, **depths.get(q, {}), "oldest_age_s": oldest.get(q)}
        return out

    # --- detail screens -------------------------------------------------------------------
    def task_runs(self, failed_only: bool = False, queue: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
        store, _live = self._engine()
        return list(store.task_runs(limit=limit, failed_only=failed_only, queue=queue))

    def dead_letters(self, limit: int = 200) -> list[dict[str, Any]]:
        store, _live = self._engine()
        return list(store.dead_letters(limit=limit))

    def schedule(self) -> list[dict[str, Any]]:
        from .pipeline import schedule_table

        store, _live = self._engine()
        return schedule_table(self.config, store)

    def alerts(self, active_only: bool = False) -> list[dict[str, Any]]:
        store, _live = self._engine()
        return list(store.alerts(active_only=active_only, limit=200))

    def find_users(self, prefix: str, limit: int = 20) -> list[dict[str, Any]]:
        """Learners whose id starts with `prefix`, the most recently active first."""
        store, _live = self._engine()
        found: list[dict[str, Any]] = store.find_users(prefix, limit)
        return found

    def user(self, user_id: str) -> dict[str, Any] | None:
        from .pipeline import user_report

        store, live = self._engine()
        report = user_report(self.config, store, live, user_id)
        if report is not None and report.get("recommendations") is None:
            from .insights import load_model, recommend_for

            if load_model(self.config, "recommender") is not None:
                report["recommendations"] = recommend_for(self.config, store, live, user_id)
        return report

    def insights(self) -> dict[str, Any]:
        """The latest evaluation and segment run, model versions, open anomalies."""
        from .insights import list_anomalies

        store, _live = self._engine()
        evaluations = store.get_documents("evaluations")
        runs = store.get_documents("segment_runs")
        return {"evaluation": evaluations[-1] if evaluations else None,
                "segments": runs[-1] if runs else None,
                "models": sorted(store.get_documents("model_versions"),
                                 key=lambda m: -m["saved_ms"])[:6],
                "anomalies": list_anomalies(store, "open")[:200],
                "distributions": self._distributions(store)}

    def _distributions(self, store: Any) -> dict[str, Any]:
        """Engagement now (every learner's profile) and dropout risk (each learner's newest
        stored analysis), in fifths of 0-1; read again at most every DISTRIBUTIONS_EVERY_S
        (every learner is read)."""
        at, cached = self._distributions_cache
        if cached is not None and time.monotonic() - at < DISTRIBUTIONS_EVERY_S:
            return cached
        from .analytics.reports import histogram, latest_per_learner
        from .analytics.scoring import profile_view

        now = int(time.time() * 1000)
        engagement = [float(profile_view(u.get("acc") or {}, self.config.scoring, now)
                            ["engagement_score"]) for u in store.iter_users()
                      if (u.get("acc") or {}).get("last") is not None]
        latest = latest_per_learner(store.get_documents("user_analysis"), "as_of_ms", now + 1)
        risks = [float(d["risk"]["score"]) for d in latest.values()]
        found = {"edges": list(FIFTHS), "engagement": histogram(engagement, list(FIFTHS)),
                 "risk": histogram(risks, list(FIFTHS)), "learners": len(engagement),
                 "analysed": len(risks)}
        self._distributions_cache = (time.monotonic(), found)
        return found

    def privacy(self) -> dict[str, Any]:
        """The latest privacy audit, the erasure requests and retention per collection."""
        from .privacy import latest_audit, requests, survey

        store, _live = self._engine()
        return {"audit": latest_audit(store), "erasures": requests(store)[:200],
                "retention": [r.__dict__ | {"within_policy": r.within_policy}
                              for r in survey(self.config, store)]}

    def quality(self) -> dict[str, Any]:
        """The latest data-quality assessment, daily volumes against expected, dead letters
        by reason per assessment, new properties and kind changes."""
        from .analytics import quality as q
        from .quality import ASSESSMENTS, load_state

        store, _live = self._engine()
        history = sorted(store.get_documents(ASSESSMENTS), key=lambda d: d["_id"])[-48:]
        latest = history[-1] if history else None
        state = load_state(store)
        now = int(time.time() * 1000)
        days = [q.day_of(now - n * q.DAY_MS) for n in range(21, 0, -1)]
        flags: dict[str, str] = {}
        for check in (latest or {}).get("checks", []):
            if check["check"] == "volume":
                for f in check["evidence"].get("flagged", []):
                    flags[f["event_type"]] = f"{f['kind']} {f['day']}"
        volume = []
        for etype, counts in sorted(state["daily"].items()):
            series = [counts.get(d, 0) for d in days]
            training = [counts.get(d, 0) for d in days[-15:-1] if d >= min(counts)]
            expected = q.expected_volume(training)
            volume.append({"event_type": etype, "days": series, "yesterday": series[-1],
                           "expected": expected[0] if expected else None,
                           "flag": flags.get(etype, "")})
        reasons = sorted({k for d in history for k in d.get("windows", {}).get("last_hour", {})
                          if k.startswith("rejected:")})
        dead = {r.split(":", 1)[1]: [d.get("windows", {}).get("last_hour", {}).get(r, 0)
                                     for d in history] for r in reasons}
        schema = [{"name": f"{k['event_type']}.{k['key']}", "change": "new", "count": k["count"]}
                  for k in q.new_keys(state)]
        schema += [{"name": f"{c['event_type']}.{c['key']}", "change": f"{c['usual']} + other",
                    "count": c["other"]} for c in q.type_changes(state)]
        return {"latest": latest, "volume": volume, "dead_letters": dead, "schema": schema}

    def reports(self) -> list[dict[str, Any]]:
        """The reports kept in the history, newest first."""
        from .reports import report_history

        store, _live = self._engine()
        return report_history(store)[:200]

    def report_text(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A kept report's Markdown and JSON figures, read from its files (None where a file
        was not written or is gone)."""
        import orjson

        out: dict[str, Any] = {"markdown": None, "content": None}
        for name in doc.get("files", []):
            path = Path(name)
            try:
                if path.name == "report.md":
                    out["markdown"] = path.read_text()
                elif path.name == "report.json":
                    out["content"] = orjson.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
        return out

    def cleanup_preview(self) -> dict[str, Any]:
        """What a retention cleanup would remove now (a dry run)."""
        from .privacy import cleanup

        store, _live = self._engine()
        return cleanup(self.config, store, dry_run=True).as_dict()

    def action_log(self, limit: int = 200) -> list[dict[str, Any]]:
        store, _live = self._engine()
        actions: list[dict[str, Any]] = store.actions(limit=limit)
        return actions

    # --- queue operations -----------------------------------------------------------------
    def waiting(self, limit: int = 200) -> list[dict[str, Any]]:
        """Tasks not run yet on every queue: waiting, then scheduled."""
        from .pipeline import waiting

        self._engine()
        return [{"task_id": t.task_id, "task": t.task, "queue": t.queue, "where": t.where,
                 "enqueued_ms": t.enqueued_ms, "eta": t.eta, "args_summary": t.args_summary}
                for t in waiting(None, limit)]

    def task_detail(self, task_id: str) -> dict[str, Any]:
        """A run of the history with its traceback and arguments (failed runs)."""
        from .pipeline import task_detail

        store, _live = self._engine()
        return task_detail(store, task_id)

    def log_tail(self, queue: str, lines: int = 500) -> tuple[int, list[str]]:
        """A consumer's log on this host: its last lines and the offset to follow from."""
        from .pipeline import log_tail

        return log_tail(self.config, queue, lines)

    def log_since(self, queue: str, offset: int) -> tuple[int, list[str]]:
        from .pipeline import log_since

        return log_since(self.config, queue, offset)


def local_pool(config: Config, host: str) -> tuple[PoolRow | None, tuple[ConsumerRow, ...]]:
    """The pool as this host's own pidfile and processes show it, with no backend: used while
    live state cannot be read (an outage), so the console still says what runs here. Each
    consumer is a child process of the supervisor (`gradvy worker QUEUE`, or `serve` for the
    collector); restarts and the current task are not known without live state."""
    from .pool.control import running_pid

    try:
        pid = running_pid(config)
    except OSError:
        return None, ()
    if pid is None or pid < 0:
        return None, ()
    import psutil

    try:
        supervisor = psutil.Process(pid)
        pool = PoolRow(pid, host, int(supervisor.create_time() * 1000))
        children = supervisor.children()
    except psutil.Error:
        return None, ()
    rows = []
    for child in children:
        try:
            argv = child.cmdline()
            with child.oneshot():
                started = int(child.create_time() * 1000)
                rss = child.memory_info().rss
                cpu = child.cpu_percent(None)
        except psutil.Error:
            continue
        if "worker" in argv and argv.index("worker") + 1 < len(argv):
            queue = argv[argv.index("worker") + 1]
        elif "serve" in argv:
            queue = "collector"
        else:
            continue
        workers = argv[argv.index("--workers") + 1] if "--workers" in argv[:-1] else None
        rows.append(ConsumerRow(queue, host, child.pid, "running", started, cpu, rss, 0, None,
                                int(workers) if workers and workers.isdigit() else None))
    return pool, tuple(sorted(rows, key=lambda r: r.queue))
