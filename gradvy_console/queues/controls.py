"""What an operator does to a queue: pause and resume it, purge it, list what waits in it and
revoke one waiting or scheduled task.

Each lives where the queue's messages live (the queue's SQLite file, or its Redis keys), so it
holds for every consumer on every host that reads the queue:

- **pause**: a flag beside the messages. A paused queue's consumers take nothing (`dequeue`
  answers nothing); what is enqueued or falls due meanwhile waits in the queue, and resume
  lets it run. Nothing is dropped. It takes effect within about a second: a consumer reads
  the flag at most every PAUSE_CHECK_S, and one already blocked in a Redis read (up to 1 s)
  may take the message that arrives during it.
- **purge**: every waiting message that would run now deleted, and the count is the number
  deleted, not a count taken before. Scheduled tasks stay, and so does a delayed task still in
  the queue with its ETA (the consumer moves such a task to the schedule when it takes it).
- **revoke**: one message, found by its task id, deleted from the waiting queue or the schedule
  before a consumer takes it. Huey's own revocation is switched off (two storage round trips
  per task, see registry); deleting the message is the stronger form anyway: it cannot run.

Messages are read through the signed JSON serializer, never unpickled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from huey.api import Huey

PAUSE_CHECK_S = 0.5     # a consumer looks at its queue's pause flag at most this often
PAUSED_IDLE_S = 0.5     # and, while paused, waits this long between looks


class SqliteControls:
    """Pause flag (a table of the queue's file), purge and remove, for `SqliteStorage`."""

    name: str
    sql: Any
    db: Any

    def initialize_schema(self) -> None:
        super().initialize_schema()  # type: ignore[misc]
        self.sql("create table if not exists gradvy_paused (queue text primary key)",
                 commit=True)

    def paused(self) -> bool:
        return bool(self.sql("select 1 from gradvy_paused where queue = ?", (self.name,),
                             results=True))

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.sql("insert or ignore into gradvy_paused (queue) values (?)", (self.name,),
                     commit=True)
        else:
            self.sql("delete from gradvy_paused where queue = ?", (self.name,), commit=True)

    def remove_waiting(self, messages: list[bytes]) -> int:
        """Delete these waiting messages (one each); returns how many were still there."""
        removed = 0
        with self.db(commit=True) as curs:
            for data in messages:
                removed += curs.execute(
                    "delete from task where id = (select id from task where queue = ? and "
                    "data = ? limit 1)", (self.name, data)).rowcount
        return removed

    def remove_message(self, data: bytes) -> str | None:
        """Delete one message equal to `data`: `waiting` or `scheduled` where it was, or None
        when a consumer took it first."""
        with self.db(commit=True) as curs:
            for table, where in (("task", "waiting"), ("schedule", "scheduled")):
                done = curs.execute(f"delete from {table} where id = (select id from {table} "
                                    "where queue = ? and data = ? limit 1)", (self.name, data))
                if done.rowcount:
                    return where
        return None


class RedisControls:
    """Pause flag (a key beside the queue's), purge and remove, for the priority Redis
    storage (waiting messages are a sorted set whose members carry an 8-byte time prefix)."""

    name: str
    conn: Any
    queue_key: str
    schedule_key: str

    @property
    def paused_key(self) -> str:
        return f"huey.paused.{self.name}"

    def paused(self) -> bool:
        return bool(self.conn.exists(self.paused_key))

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.conn.set(self.paused_key, b"1")
        else:
            self.conn.delete(self.paused_key)

    def remove_waiting(self, messages: list[bytes]) -> int:
        """Delete these waiting messages; returns how many were still there."""
        wanted = set(messages)
        members = [m for m in self.conn.zrange(self.queue_key, 0, -1) if m[8:] in wanted]
        return int(self.conn.zrem(self.queue_key, *members)) if members else 0

    def remove_message(self, data: bytes) -> str | None:
        for member in self.conn.zrange(self.queue_key, 0, -1):
            if member[8:] == data:
                return "waiting" if self.conn.zrem(self.queue_key, member) else None
        if self.conn.zrem(self.schedule_key, data):
            return "scheduled"
        return None


class Pausable:
    """A Huey whose `dequeue` takes nothing while its queue is paused (the flag is read at
    most once every PAUSE_CHECK_S). The consumer's worker then idles as on an empty queue."""

    storage: Any
    _pause_seen: tuple[float, bool] = (0.0, False)

    def queue_paused(self) -> bool:
        at, paused = self._pause_seen
        now = time.monotonic()
        if now - at >= PAUSE_CHECK_S:
            paused = bool(self.storage.paused())
            self._pause_seen = (now, paused)
        return paused

    def dequeue(self) -> Any:
        if self.queue_paused():
            time.sleep(PAUSED_IDLE_S)   # a blocking read would have waited too
            return None
        return super().dequeue()  # type: ignore[misc]


@dataclass(frozen=True)
class WaitingTask:
    """A task that has not run yet: in the queue (`waiting`) or due later (`scheduled`)."""

    task_id: str
    task: str
    queue: str
    where: str
    enqueued_ms: int | None
    eta: str | None
    args_summary: str
    message: bytes


def waiting_tasks(huey: Huey, queue: str, limit: int | None = None) -> list[WaitingTask]:
    """The queue's waiting messages (next to run first), then its scheduled ones (soonest
    first; a message in the queue with an ETA counts as scheduled); a message that fails its
    signature is left out (and reported by the serializer)."""
    out: list[WaitingTask] = []
    for where, frames in (("waiting", huey.storage.enqueued_items(limit)),
                          ("scheduled", huey.storage.scheduled_items(limit))):
        for frame in frames:
            data = bytes(frame)
            try:
                task = huey.deserialize_task(data)
            except Exception:  # noqa: BLE001 - an unreadable message is no task to show
                continue
            kwargs = task.kwargs if isinstance(task.kwargs, dict) else {}
            stamp = kwargs.get("_enqueued_ms")
            # Huey enqueues a delayed task (a countdown, a retry's delay) with its ETA, and the
            # consumer that takes it moves it to the schedule: it is scheduled either way.
            state = "scheduled" if task.eta is not None else where
            out.append(WaitingTask(
                task.id, task.name, queue, state, stamp if isinstance(stamp, int) else None,
                task.eta.isoformat() if task.eta is not None else None,
                _summary(task.args, kwargs), data))
    return out


def _summary(args: Any, kwargs: dict[str, Any]) -> str:
    """The argument names and sizes only: a waiting message can carry a learner's event."""
    parts = [f"[{len(a)} items]" if isinstance(a, list | tuple) else type(a).__name__
             for a in list(args or ())]
    parts += [k for k in kwargs if not k.startswith("_")]
    return ", ".join(parts)[:120]


def purge(huey: Huey) -> int:
    """Delete the queue's waiting tasks that would run now (no ETA); returns how many."""
    now: list[bytes] = []
    for frame in huey.storage.enqueued_items():
        data = bytes(frame)
        try:
            task = huey.deserialize_task(data)
        except Exception:  # noqa: BLE001 - an unreadable message goes too: it can never run
            now.append(data)
            continue
        if task.eta is None:
            now.append(data)
    return int(huey.storage.remove_waiting(now)) if now else 0
