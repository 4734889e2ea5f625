"""Queue metrics: depths, the oldest waiting age, done and failed per minute, p50/p95 duration
and wait, live consumers and the latest failures, per queue."""

from __future__ import annotations

from typing import Any

from ..config import QUEUES, Config
from ..live import LiveState
from ..monitoring import live_consumers
from ..store import DocumentStore
from .registry import current


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
    """Per queue: pending, scheduled, paused, oldest waiting age, processed and failed per minute
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
            "paused": bool(depth.get("paused")),
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


def current_queue_metrics(config: Config, store: DocumentStore, live: LiveState,
                          at_ms: int) -> dict[str, dict[str, Any]]:
    """`queue_metrics` for the active queues: depths and head ages read here."""
    depths, ages = current().depths_and_ages(at_ms)
    return queue_metrics(config, store, live, depths, ages, at_ms)


# Task durations as histogram buckets (upper bounds, seconds): Prometheus's defaults, then the
# long tail of model training and audits. Counted per task in live state by every consumer's
# run recorder (`duration_counters`), read back as cumulative histograms (`task_histograms`).
DURATION_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                       10.0, 30.0, 60.0, 300.0, 1800.0)
_DURATION_PREFIX = "taskdur:"


def duration_counters(runs: list[dict[str, Any]]) -> dict[str, int]:
    """Live counter increments for finished task runs: per task, the run's bucket (the first
    bound at or above its duration, `inf` past the last), the count and the sum in µs."""
    out: dict[str, int] = {}
    for run in runs:
        duration = run.get("duration_s")
        if duration is None or run.get("status") == "retrying":
            continue
        bucket = next((f"{b:g}" for b in DURATION_BUCKETS if duration <= b), "inf")
        base = f"{_DURATION_PREFIX}{run['task']}:"
        for key, n in ((f"{base}le:{bucket}", 1), (f"{base}count", 1),
                       (f"{base}sum_us", int(round(duration * 1_000_000)))):
            out[key] = out.get(key, 0) + n
    return out


def task_histograms(counters: dict[str, int]
                    ) -> dict[str, tuple[list[tuple[str, int]], int, float]]:
    """Per task: cumulative (upper bound, count) pairs ending with `+Inf`, the count and the sum
    of durations in seconds, from the live counters `duration_counters` wrote."""
    per: dict[str, dict[str, int]] = {}
    for key, value in counters.items():
        if key.startswith(_DURATION_PREFIX):
            task, _, rest = key[len(_DURATION_PREFIX):].partition(":")
            per.setdefault(task, {})[rest] = value
    out: dict[str, tuple[list[tuple[str, int]], int, float]] = {}
    for task, values in sorted(per.items()):
        running = 0
        buckets: list[tuple[str, int]] = []
        for bound in DURATION_BUCKETS:
            running += values.get(f"le:{bound:g}", 0)
            buckets.append((f"{bound:g}", running))
        running += values.get("le:inf", 0)
        buckets.append(("+Inf", running))
        out[task] = (buckets, values.get("count", 0), values.get("sum_us", 0) / 1_000_000)
    return out
