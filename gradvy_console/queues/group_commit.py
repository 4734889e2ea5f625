"""Group commit for per-event tasks.

A consumer that takes a `process_analytics_event` message and finds more of them waiting takes
up to `[ingest] task_group_max` at once (one queue round trip), ingests their events in one
store transaction and one live-state batch, and stores each task's own result (one round trip
for all of them). Per event, Huey would otherwise pay a queue pop, a store transaction, a
live-state write and a result write: at a few thousand events a second that overhead, not the
work, is the limit (measured in `bench/ingest.py`).

Each task stays a task: it gets its own EXECUTING and COMPLETE signals (so the run history,
the heartbeat and the per-minute rates count it), the pre- and post-execute hooks, and its own
result with its own outcome (`processed`, `duplicate`, `no_consent`, `dead_lettered`, ...).
Only plain messages are grouped: one with an ETA, an expiry, a pipeline or a chord runs alone
with Huey's usual handling, and so does every task of a group whose shared step fails as a
whole (a store or Redis error), with Huey's retries: grouping never changes an outcome. A group
has no per-task time limit; it is bounded by its size (a hundred events take milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from huey import signals as S
from huey.api import PeriodicTask
from huey.consumer import Worker
from huey.exceptions import CancelExecution
from huey.storage import PriorityRedisExpireStorage, SqliteStorage

GroupHandler = Callable[[list[Any]], list[Any]]
"""Runs a group of tasks of one kind; returns one value per task, in order."""

_HANDLERS: dict[str, GroupHandler] = {}


def groupable(task_name: str, handler: GroupHandler) -> None:
    """Let consumers run waiting `task_name` messages together through `handler`."""
    _HANDLERS[task_name] = handler


def handler_for(task_name: str) -> GroupHandler | None:
    return _HANDLERS.get(task_name)


# --- storage: take several messages, write several results -------------------------------


class GroupRedisStorage(PriorityRedisExpireStorage):
    def dequeue_many(self, limit: int) -> list[bytes]:
        """Up to `limit` waiting messages, highest priority first, without blocking."""
        items = self.conn.zpopmin(self.queue_key, count=limit)
        return [data[8:] for data, _score in items]  # unprefix, as `dequeue` does

    def put_results(self, items: list[tuple[str, bytes]]) -> None:
        pipe = self.conn.pipeline(transaction=False)
        for key, value in items:
            pipe.set(self.result_key(key), value, ex=self._expire_time)
        pipe.execute()
        if self.notify_result:           # as `put_data` does (off unless asked for)
            for key, _value in items:
                self._notify(key)


class GroupSqliteStorage(SqliteStorage):
    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        # Messages carry events (personal data): what is deleted is overwritten, not left in
        # free pages.
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    def dequeue_many(self, limit: int) -> list[bytes]:
        if not self.sql("select 1 from task where queue = ? limit 1", (self.name,),
                        results=True):
            return []
        with self.db(commit=True) as curs:
            rows = curs.execute("select id, data from task where queue = ? "
                                "order by priority desc, id limit ?",
                                (self.name, limit)).fetchall()
            if rows:
                marks = ",".join("?" * len(rows))
                curs.execute(f"delete from task where id in ({marks})", [r[0] for r in rows])
        return [bytes(data) for _id, data in rows]

    def put_results(self, items: list[tuple[str, bytes]]) -> None:
        with self.db(commit=True) as curs:
            curs.executemany("insert or replace into kv (queue, key, value) values (?, ?, ?)",
                             [(self.name, key, self.to_blob(value)) for key, value in items])


# --- the worker -----------------------------------------------------------------------------


def _plain(task: Any) -> bool:
    """A message that Huey would simply execute now: nothing scheduled, nothing chained."""
    return (not isinstance(task, PeriodicTask) and task.eta is None
            and task.expires_resolved is None and task.on_complete is None
            and task.on_error is None and getattr(task, "chord_config", None) is None)


class GroupingWorker(Worker):
    """Huey's worker, taking waiting messages of a groupable task together."""

    group_max = 100

    def loop(self, now: Any = None) -> None:
        huey = self.huey
        if self.group_max <= 1 or not hasattr(huey.storage, "dequeue_many"):
            super().loop(now)
            return
        try:
            first = huey.dequeue()
        except Exception:
            self._logger.exception("Error reading from queue")
            self.sleep()
            return
        if first is None:
            if not huey.storage.blocking:
                self.sleep()
            return
        self.delay = self.default_delay
        handler = handler_for(first.name) if _plain(first) else None
        if handler is None:
            self._run_alone([first], now)
            return
        try:
            taken = huey.storage.dequeue_many(self.group_max - 1)
        except Exception:
            self._logger.exception("Error reading more from queue")
            taken = []
        more = []
        for data in taken:
            try:  # one bad message (dropped and reported by the serializer) spoils no other
                more.append(huey.deserialize_task(data))
            except Exception as exc:  # noqa: BLE001 - a value we cannot read is not a task
                self._logger.warning("dropped a queue message: %s", exc)

        def alike(task: Any) -> bool:
            return bool(task.name == first.name and _plain(task))

        self._run_group([first] + [t for t in more if alike(t)], handler, now)
        self._run_alone([t for t in more if not alike(t)], now)

    def _run_alone(self, tasks: list[Any], now: Any) -> None:
        for task in tasks:
            self.task_count += 1
            try:
                self.huey.execute(task, now)
            except Exception:
                self._logger.exception("Unhandled error during execution of task %s.", task.id)

    def _run_group(self, tasks: list[Any], handler: GroupHandler, now: Any) -> None:
        huey = self.huey
        runnable = []
        for task in tasks:
            huey._emit(S.SIGNAL_EXECUTING, task)
            try:
                huey._run_pre_execute(task)
            except CancelExecution:
                huey._emit(S.SIGNAL_CANCELED, task)
                continue
            runnable.append(task)
        if not runnable:
            return
        try:
            values = handler(runnable)
            if len(values) != len(runnable):
                raise RuntimeError(f"group handler returned {len(values)} values for "
                                   f"{len(runnable)} tasks")
        except Exception:
            self._logger.warning("A group of %d %s tasks failed as a whole; running each "
                                 "alone.", len(runnable), runnable[0].name, exc_info=True)
            self._run_alone(runnable, now)
            return
        self.task_count += len(runnable)
        if huey.results:
            try:
                huey.storage.put_results([(t.id, huey.serializer.serialize(v))
                                          for t, v in zip(runnable, values, strict=True)
                                          if v is not None or huey.store_none])
            except Exception:
                self._logger.exception("Could not store the results of %d tasks.",
                                       len(runnable))
        for task, value in zip(runnable, values, strict=True):
            huey._run_post_execute(task, value, None)
            huey._emit(S.SIGNAL_COMPLETE, task)
