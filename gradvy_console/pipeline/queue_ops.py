"""Queue operations an operator expects from Flower, rq-dashboard or k9s: pause and resume a
queue, purge it, see what waits in it, revoke one waiting or scheduled task, read a failed
run's traceback and arguments, and read (or follow) a consumer's log. The CLI verbs and the
console's keys call these; each change is written to the action log by its caller."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

from ..config import QUEUES, Config, known_queue
from ..errors import GradvyError
from ..queues import current
from ..queues.controls import WaitingTask, purge, waiting_tasks
from ..store import DocumentStore


def set_paused(queue: str, paused: bool) -> bool:
    """Pause (or resume) `queue` for every consumer on every host; returns whether it was
    paused before."""
    storage = current()[known_queue(queue)].storage
    before = bool(storage.paused())
    storage.set_paused(paused)
    return before


def paused_queues() -> list[str]:
    """The queues paused now, in the queues' order."""
    queues = current()
    return [name for name in QUEUES if queues[name].storage.paused()]


def purge_queue(queue: str) -> int:
    """Delete every waiting task of `queue` that would run now (scheduled and delayed ones
    stay); returns how many.
    On `realtime` the events those messages named stay in the store's inbox: the pending job
    ingests them."""
    return purge(current()[known_queue(queue)])


def waiting(queue: str | None = None, limit: int = 200) -> list[WaitingTask]:
    """Tasks not run yet, per queue: waiting (next first), then scheduled (soonest first)."""
    names = [known_queue(queue)] if queue else list(QUEUES)
    queues = current()
    out: list[WaitingTask] = []
    for name in names:
        out += waiting_tasks(queues[name], name, limit)
    return out


def revoke_task(task_id: str) -> WaitingTask:
    """Delete the waiting or scheduled task whose id is (or starts with) `task_id` before a
    consumer takes it; returns it. One sentence and exit 2 when no waiting task has that id or
    the start names several; exit 1 when a consumer took it first."""
    if not task_id.strip():
        raise GradvyError("Give the id of a waiting task (gradvy run waiting lists them).",
                          exit_code=2)
    found = [t for t in waiting(limit=100_000) if t.task_id.startswith(task_id.strip())]
    exact = [t for t in found if t.task_id == task_id.strip()]
    found = exact or found
    if not found:
        raise GradvyError(f"No waiting or scheduled task {task_id}: it has run, or never was "
                          "(gradvy run waiting lists them).", exit_code=2)
    if len(found) > 1:
        raise GradvyError(f"{len(found)} waiting tasks start with {task_id}; give more of the "
                          "id.", exit_code=2)
    task = found[0]
    where = current()[task.queue].storage.remove_message(task.message)
    if where is None:
        raise GradvyError(f"Task {task.task_id} ({task.task}) was taken by a consumer before "
                          "it could be revoked.", exit_code=1)
    return task


def task_detail(store: DocumentStore, task_id: str) -> dict[str, Any]:
    """A run of the history by its id (or the unique start of it): status, timings, error,
    traceback (failed runs) and arguments (failed runs keep them, masked, for retry)."""
    run = store.task_run(task_id)
    if run is None:
        matches = {r["task_id"] for r in store.task_runs(limit=2000)
                   if r["task_id"].startswith(task_id)}
        if len(matches) == 1:
            run = store.task_run(matches.pop())
        elif matches:
            raise GradvyError(f"{len(matches)} runs start with {task_id}; give more of the id.",
                              exit_code=2)
    if run is None:
        raise GradvyError(f"No task run {task_id} in the history.", exit_code=2)
    return run


def log_path(config: Config, queue: str) -> Path:
    """Where this host's pool writes `queue`'s consumer log (the collector's is `collector`)."""
    if queue != "collector":
        known_queue(queue)
    return config.data_dir / "logs" / f"worker-{queue}.log"


def log_tail(config: Config, queue: str, lines: int = 200) -> tuple[int, list[str]]:
    """The last `lines` lines of the consumer's log on this host (masked when written), and
    the offset to follow it from (`log_since`)."""
    path = log_path(config, queue)
    if not path.exists():
        raise GradvyError(f"No log for the {queue} consumer on this host ({path}): its pool "
                          "runs elsewhere, or it has not started here.", exit_code=1)
    window = max(lines, 1) * 400     # about 400 bytes a line is plenty
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - window))
        data = f.read(size - max(0, size - window))
    end = data.rfind(b"\n") + 1      # a line still being written waits for log_since
    tail = data[:end].decode("utf-8", "replace").splitlines()
    if size > window and tail:
        tail = tail[1:]               # the first line is cut
    return size - (len(data) - end), list(deque(tail, maxlen=lines))


def log_since(config: Config, queue: str, offset: int) -> tuple[int, list[str]]:
    """The complete lines written to the consumer's log since `offset`, and the offset to
    read from next. A log that got shorter (rotated, copy-then-truncate) is read again from
    its beginning; a missing one gives nothing."""
    path = log_path(config, queue)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0, []
    if size < offset:
        offset = 0
    if size == offset:
        return offset, []
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(min(size - offset, 4 << 20))
    end = data.rfind(b"\n") + 1
    return offset + end, data[:end].decode("utf-8", "replace").splitlines()
