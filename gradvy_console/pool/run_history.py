"""Task-run history, recorded from Huey signals in each consumer process.

Every run that ends (complete, failed, retrying, timed out) becomes a row in the store's bounded
`task_runs` history: task, queue, status, duration, queue wait, error, a short args summary and,
for failed runs only, the original arguments as JSON so `gradvy run retry` can re-enqueue them.
Rows are buffered and written every half second; per-queue per-minute outcome counts go to live
state for the rates the console shows.

Why not `huey.contrib.stats`: it needs peewee and a SQL database of its own, while our history
must live in whichever store is configured (SQLite or MongoDB) beside everything else.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from typing import Any

import orjson
from huey import signals as S

from .. import runtime
from ..analytics.events import mask_text, scrub
from ..errors import redact
from ..live import LiveBatch
from ..queues.metrics import duration_counters
from ..queues.registry import take_soft_hit

log = logging.getLogger("gradvy.taskruns")

ENDINGS = {S.SIGNAL_COMPLETE: "complete", S.SIGNAL_ERROR: "error",
           S.SIGNAL_TIMEOUT: "timeout", S.SIGNAL_EXPIRED: "expired",
           S.SIGNAL_CANCELED: "skipped", S.SIGNAL_INTERRUPTED: "interrupted"}


def summarise(args: Any, kwargs: Any) -> str:
    """A short, payload-free description of a task's arguments (no event contents: PII)."""
    parts = []
    for value in list(args) + [f"{k}={v}" if isinstance(v, int | float | str) and len(str(v)) < 40
                               else k for k, v in dict(kwargs).items() if not k.startswith("_")]:
        if isinstance(value, dict):
            parts.append("{" + ",".join(list(value)[:4]) + "}")
        elif isinstance(value, list | tuple):
            parts.append(f"[{len(value)} items]")
        else:
            parts.append(str(value)[:40])
    return mask_text(", ".join(parts)[:160])[0]


TRACEBACK_MAX = 8000   # characters of a failed run's traceback kept (its end: the raise)


def _traceback(exc: BaseException) -> str | None:
    """The exception's traceback as Python prints it, masked like a log (it can quote an
    event's values), its last TRACEBACK_MAX characters."""
    if exc.__traceback__ is None:
        return None
    text = "".join(traceback.format_exception(exc))
    return mask_text(redact(text[-TRACEBACK_MAX:]))[0]


# Tasks whose runs leave no history: the self-test's event takes back all it wrote.
UNRECORDED = frozenset({"self_test_event"})


class RunRecorder:
    def __init__(self, queue: str, consumer_key: str = "", flush_interval: float = 0.5
                 ) -> None:
        self.queue = queue
        self.consumer_key = consumer_key  # the heartbeat key: its done/failed counters
        self.flush_interval = flush_interval
        self._started: dict[str, tuple[float, int]] = {}
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread_pid: int | None = None

    def _ensure_thread(self) -> None:
        # Process workers are forked: each process needs its own flusher.
        if self._thread_pid != os.getpid():
            self._thread_pid = os.getpid()
            threading.Thread(target=self._run, name="taskruns-flush", daemon=True).start()

    def on_signal(self, signal: str, task: Any, *args: Any) -> None:
        if task.name in UNRECORDED:
            return
        now_ms = int(time.time() * 1000)
        if signal == S.SIGNAL_EXECUTING:
            with self._lock:
                self._started[task.id] = (time.monotonic(), now_ms)
            return
        if signal == S.SIGNAL_ERROR and task.retries:
            status = "retrying"
        elif signal == S.SIGNAL_ERROR:
            status = "failed"
        elif signal == S.SIGNAL_TIMEOUT:
            status = "retrying" if task.retries else "failed"
        elif signal in ENDINGS:
            status = ENDINGS[signal]
        else:
            return
        if signal == S.SIGNAL_ERROR and not args:
            return
        with self._lock:
            started = self._started.pop(task.id, None)
        duration = time.monotonic() - started[0] if started else None
        started_ms = started[1] if started else now_ms
        enqueued = task.kwargs.get("_enqueued_ms") if isinstance(task.kwargs, dict) else None
        error = trace = None
        if signal == S.SIGNAL_ERROR and args:
            error = mask_text(f"{type(args[0]).__name__}: {args[0]}"[:500])[0]
            trace = _traceback(args[0])
        elif signal == S.SIGNAL_TIMEOUT:
            error = f"timed out after {task.timeout} s"
        soft = take_soft_hit()
        if soft is not None:
            note = f"soft time limit ({soft:g} s) reached"
            error = f"{note}; {error}" if error else note
        row: dict[str, Any] = {
            "task_id": task.id, "task": task.name, "queue": self.queue, "status": status,
            "started_ms": started_ms, "ended_ms": now_ms,
            "duration_s": round(duration, 6) if duration is not None else None,
            "wait_s": round((started_ms - enqueued) / 1000, 3) if enqueued else None,
            "error": error, "retries_left": task.retries,
            "args_summary": summarise(task.args, task.kwargs), "args_json": None,
            "soft_limit_s": soft, "traceback": trace,
        }
        if status == "failed":
            kwargs = {k: v for k, v in task.kwargs.items() if not k.startswith("_")}
            try:
                # Kept to retry the task: masked like a stored event (task arguments are
                # personal data too); a retry then runs on the masked values.
                row["args_json"] = orjson.dumps(scrub([list(task.args), kwargs])[0]).decode()
            except (TypeError, orjson.JSONEncodeError):
                row["args_json"] = None
        with self._lock:
            self._rows.append(row)
        self._ensure_thread()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return
        outcomes: dict[str, int] = {}
        per_consumer: dict[str, int] = {}
        for row in rows:
            key = f"{row['queue']}:{row['status']}"
            outcomes[key] = outcomes.get(key, 0) + 1
            if self.consumer_key and row["status"] in ("complete", "failed"):
                name = f"{self.consumer_key}:{'done' if row['status'] == 'complete' else 'failed'}"
                per_consumer[name] = per_consumer.get(name, 0) + 1
        per_consumer.update(duration_counters(rows))
        try:
            runtime.store().add_task_runs(rows)
            runtime.live().record_batch(LiveBatch(task_minutes=outcomes, counters=per_consumer),
                                        int(time.time() * 1000))
        except Exception as exc:  # noqa: BLE001 - history is best effort; retried next tick
            log.warning("cannot write task history: %s", exc)
            with self._lock:
                self._rows = rows + self._rows

    def _run(self) -> None:
        while True:
            time.sleep(self.flush_interval)
            self.flush()
