"""Live-state writes from per-event tasks, aggregated in the worker process and flushed by a
background thread every `interval` seconds (and on shutdown).

One event per task would otherwise cost a live-state transaction (SQLite) or round trip (Redis)
each. Live state is the real-time view, not the record: the store's counters, written in the
event's own transaction, stay exact; live counters lag by at most `interval`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..analytics.privacy import Terms
from .base import LiveBatch, LiveState


def merge_batches(into: LiveBatch, batch: LiveBatch) -> None:
    for key, (last, counts) in batch.user_days.items():
        current = into.user_days.get(key)
        if current is None:
            into.user_days[key] = (last, dict(counts))
        else:
            merged = current[1]
            for etype, n in counts.items():
                merged[etype] = merged.get(etype, 0) + n
            into.user_days[key] = (max(current[0], last), merged)
    for key, items in batch.sessions.items():
        into.sessions.setdefault(key, []).extend(items)
    for etype, n in batch.minute_counts.items():
        into.minute_counts[etype] = into.minute_counts.get(etype, 0) + n
    for name, n in batch.counters.items():
        into.counters[name] = into.counters.get(name, 0) + n
    for name, n in batch.task_minutes.items():
        into.task_minutes[name] = into.task_minutes.get(name, 0) + n


class BufferedLive(LiveState):
    """Wraps a LiveState; `record_batch` is buffered, everything else passes through."""

    def __init__(self, inner: LiveState, interval: float = 0.2) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.interval = interval
        self._pending: LiveBatch | None = None
        self._pending_minute = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-flush", daemon=True)
        self._thread.start()

    def record_batch(self, batch: LiveBatch, now_ms: int) -> None:
        minute = now_ms // 60_000
        with self._lock:
            if self._pending is not None and minute != self._pending_minute:
                self._flush_locked()
            if self._pending is None:
                self._pending, self._pending_minute = LiveBatch(), minute
            merge_batches(self._pending, batch)

    def _flush_locked(self) -> None:
        batch, self._pending = self._pending, None
        if batch is not None:
            for items in batch.sessions.values():
                items.sort(key=lambda item: (item.get("ts", 0), item.get("event_id", "")))
            self.inner.record_batch(batch, self._pending_minute * 60_000)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - retried at the next tick; the store is exact
                pass

    def incr(self, counters: dict[str, int]) -> None:
        self.inner.incr(counters)

    def counters(self) -> dict[str, int]:
        return self.inner.counters()

    def user_day(self, user_id: str, day: str, now_ms: int) -> dict[str, Any] | None:
        return self.inner.user_day(user_id, day, now_ms)

    def session_events(self, user_id: str, session_id: str, now_ms: int
                       ) -> list[dict[str, Any]]:
        return self.inner.session_events(user_id, session_id, now_ms)

    def events_per_minute(self, now_ms: int, minutes: int = 60) -> dict[int, dict[str, int]]:
        return self.inner.events_per_minute(now_ms, minutes)

    def task_minutes(self, now_ms: int, minutes: int = 5) -> dict[int, dict[str, int]]:
        return self.inner.task_minutes(now_ms, minutes)

    def put_json(self, key: str, value: Any, ttl_s: float, user_id: str | None = None
                 ) -> None:
        self.inner.put_json(key, value, ttl_s, user_id)

    def get_json(self, key: str, now_ms: int) -> Any | None:
        return self.inner.get_json(key, now_ms)

    def scan_json(self, prefix: str, now_ms: int) -> dict[str, Any]:
        return self.inner.scan_json(prefix, now_ms)

    def delete_json(self, key: str) -> None:
        self.inner.delete_json(key)

    def claim(self, key: str, ttl_s: float) -> bool:
        return self.inner.claim(key, ttl_s)

    def push_bounded(self, key: str, value: Any, max_len: int, ttl_s: float) -> None:
        self.inner.push_bounded(key, value, max_len, ttl_s)

    def get_list(self, key: str, now_ms: int, last: int | None = None) -> list[Any]:
        return self.inner.get_list(key, now_ms, last)

    def user_keys(self, user_id: str, now_ms: int) -> list[str]:
        self.flush()
        return self.inner.user_keys(user_id, now_ms)

    def erase_users(self, user_ids: list[str], terms: Terms) -> int:
        self.flush()
        return self.inner.erase_users(user_ids, terms)

    def texts(self) -> Iterator[bytes]:
        self.flush()
        return self.inner.texts()

    def find_terms(self, terms: Terms) -> int:
        self.flush()
        return self.inner.find_terms(terms)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        self.inner.close()
