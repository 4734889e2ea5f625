"""Pipeline throughput: the counters and event rates the realtime metrics job publishes."""

from __future__ import annotations

from typing import Any

from ..live import LiveState
from ..store import DocumentStore


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
