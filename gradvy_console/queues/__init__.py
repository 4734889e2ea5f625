"""Huey wiring that knows no task: the registry and the Celery-style task API (`registry`),
group commit for per-event tasks (`group_commit`), the consumer a worker runs (`consumer`) and
the per-queue metrics the console and `status` show (`metrics`)."""

from __future__ import annotations

from .consumer import GracefulConsumer, make_consumer
from .metrics import current_queue_metrics, percentile, queue_metrics
from .registry import (
    GradvyRedisHuey,
    GradvySqliteHuey,
    GradvyTask,
    QueueSet,
    SoftTimeLimitExceeded,
    TaskFailed,
    TaskResult,
    TaskTimedOut,
    close_current,
    configure,
    current,
    import_task_modules,
    registered_tasks,
    set_period_claim,
    set_rejection_hook,
    shared_task,
    task,
    worker_identity,
)
from .serializer import BadMessage, SignedJsonSerializer

__all__ = [
    "BadMessage", "GracefulConsumer", "GradvyRedisHuey", "GradvySqliteHuey", "GradvyTask",
    "QueueSet", "SignedJsonSerializer", "SoftTimeLimitExceeded", "import_task_modules",
    "shared_task", "TaskFailed", "TaskResult", "TaskTimedOut",
    "close_current", "configure", "current", "current_queue_metrics", "make_consumer",
    "percentile", "queue_metrics", "registered_tasks", "set_period_claim",
    "set_rejection_hook", "task", "worker_identity",
]
