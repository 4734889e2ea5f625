"""Task administration: the periodic schedule (last and next run) and retrying a failed run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from ..clock import now_ms
from ..config import Config
from ..config.cron import parse
from ..errors import GradvyError
from ..queues import registered_tasks
from ..store import DocumentStore


def schedule_table(config: Config, store: DocumentStore, at_ms: int | None = None
                   ) -> list[dict[str, Any]]:
    """Every periodic job: crontab, queue, last run and outcome, next run (computed: Huey has
    no next-run API)."""
    from .. import tasks  # noqa: F401 - registers the jobs

    now = at_ms if at_ms is not None else now_ms()
    now_dt = datetime.fromtimestamp(now / 1000, tz=UTC).replace(tzinfo=None)
    rows = []
    for job, expression in config.schedule.items():
        runs = [r for r in store.task_runs(limit=20, task=job) if r["status"] != "skipped"]
        nxt = parse(expression).next_after(now_dt) if expression else None
        wrapper = registered_tasks().get(job)
        rows.append({
            "job": job, "cron": expression, "queue": wrapper.queue_name if wrapper else "?",
            "last_run_ms": runs[0]["ended_ms"] if runs else None,
            "last_outcome": runs[0]["status"] if runs else None,
            "last_error": runs[0].get("error") if runs else None,
            "next_run_ms": int(nxt.replace(tzinfo=UTC).timestamp() * 1000) if nxt else None,
        })
    return rows


def retry_task(store: DocumentStore, task_id: str) -> tuple[str, str]:
    """Re-enqueue a failed task with its original arguments; returns (task, new task id).
    `task_id` may be the start of an id, as `gradvy run tasks` shows it, when it is unique
    among recent failures."""
    from .. import tasks  # noqa: F401 - registers every task
    from ..config import get_config
    from ..queues import import_task_modules

    import_task_modules(get_config())     # and the platform's own

    matches = [r for r in store.task_runs(limit=1000, failed_only=True)
               if r["task_id"].startswith(task_id)]
    if len(matches) == 1:
        task_id = matches[0]["task_id"]
    run = store.task_run(task_id)
    if run is None:
        raise GradvyError(f"No task run {task_id} in the history.", exit_code=2)
    if run["status"] != "failed":
        raise GradvyError(f"Task {task_id} did not fail (it is {run['status']}): nothing to "
                          "retry.", exit_code=1)
    if not run.get("args_json"):
        raise GradvyError(f"Task {task_id} cannot be retried: its arguments were not JSON.",
                          exit_code=1)
    task = registered_tasks().get(run["task"])
    if task is None:
        raise GradvyError(f"Task {run['task']} is not known to this version.", exit_code=1)
    args, kwargs = orjson.loads(run["args_json"])
    handle = task.apply_async(args=args, kwargs=kwargs)
    return run["task"], handle.id
