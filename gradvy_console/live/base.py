"""Live state: short-lived, fast-changing data the console and the pipeline share.

Per user per day: last activity and counts by event type (24 h expiry); per session the ordered
events (bounded, 1 h expiry); global events per minute by type; pipeline counters; and small
JSON values with a TTL (system metrics, heartbeats, cached analyses). Every key that belongs to
a user carries the user id, so one lookup finds all of a user's live data (erasure).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..analytics.privacy import Terms


@dataclass
class LiveBatch:
    """What one processed batch adds to live state, aggregated before it is written."""

    # (user_id, day) -> (last activity ms, {event_type: count})
    user_days: dict[tuple[str, str], tuple[int, dict[str, int]]] = field(default_factory=dict)
    # (user_id, session_id) -> [{"event_id", "event_type", "ts"}] in event-time order
    sessions: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # event_type -> count, in the minute the batch was processed
    minute_counts: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    # "queue:outcome" -> count of task runs ending in the batch's minute
    task_minutes: dict[str, int] = field(default_factory=dict)


class LiveState(abc.ABC):
    backend: str = "?"

    @abc.abstractmethod
    def record_batch(self, batch: LiveBatch, now_ms: int) -> None:
        """Apply a batch atomically."""

    @abc.abstractmethod
    def incr(self, counters: dict[str, int]) -> None: ...

    @abc.abstractmethod
    def counters(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def user_day(self, user_id: str, day: str, now_ms: int) -> dict[str, Any] | None:
        """{'last_ms', 'counts': {type: n}} or None when absent or expired."""

    @abc.abstractmethod
    def session_events(self, user_id: str, session_id: str, now_ms: int
                       ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def events_per_minute(self, now_ms: int, minutes: int = 60) -> dict[int, dict[str, int]]:
        """{minute (epoch ms // 60000): {event_type: count}} for the last `minutes`."""

    @abc.abstractmethod
    def task_minutes(self, now_ms: int, minutes: int = 5) -> dict[int, dict[str, int]]:
        """{minute: {"queue:outcome": count}} of task runs for the last `minutes`."""

    @abc.abstractmethod
    def put_json(self, key: str, value: Any, ttl_s: float, user_id: str | None = None
                 ) -> None: ...

    @abc.abstractmethod
    def get_json(self, key: str, now_ms: int) -> Any | None: ...

    @abc.abstractmethod
    def scan_json(self, prefix: str, now_ms: int) -> dict[str, Any]:
        """Every live JSON value whose key starts with `prefix`."""

    @abc.abstractmethod
    def delete_json(self, key: str) -> None: ...

    @abc.abstractmethod
    def claim(self, key: str, ttl_s: float) -> bool:
        """Atomically set `key` if absent (or expired); True if this caller got it."""

    @abc.abstractmethod
    def push_bounded(self, key: str, value: Any, max_len: int, ttl_s: float) -> None:
        """Append a JSON value to a list keeping the newest `max_len` (a rolling history)."""

    @abc.abstractmethod
    def get_list(self, key: str, now_ms: int, last: int | None = None) -> list[Any]:
        """The list, oldest first; with `last`, only its newest `last` items (oldest first),
        read without decoding the rest."""

    @abc.abstractmethod
    def user_keys(self, user_id: str, now_ms: int) -> list[str]:
        """Names of every live entry that holds data of `user_id`."""

    @abc.abstractmethod
    def erase_users(self, user_ids: list[str], terms: Terms) -> int:
        """Delete every live entry of these learners, and every entry that names them (a
        cached analysis, a list item); returns how many entries went."""

    @abc.abstractmethod
    def texts(self) -> Iterator[bytes]:
        """Every live JSON value, session event and list item, as bytes (the PII scan)."""

    @abc.abstractmethod
    def find_terms(self, terms: Terms) -> int:
        """Live entries (keys or values) that still hold one of the terms."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise if the backend is unreachable."""

    @abc.abstractmethod
    def close(self) -> None: ...
