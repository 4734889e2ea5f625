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


def current_queue_metrics(config: Config, store: DocumentStore, live: LiveState,
                          at_ms: int) -> dict[str, dict[str, Any]]:
    """`queue_metrics` for the active queues: depths and head ages read here."""
    queues = current()
    return queue_metrics(config, store, live, queues.depths(),
                         {q: queues.oldest_age_s(q, at_ms) for q in queues.hueys}, at_ms)
