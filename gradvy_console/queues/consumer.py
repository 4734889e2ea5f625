"""The consumer a worker runs: Huey's, made graceful on SIGTERM, with grouping workers."""

from __future__ import annotations

import signal
from typing import Any

from huey.api import Huey
from huey.consumer import Consumer

from ..config import Config
from .group_commit import GroupingWorker
from .registry import current


class GracefulConsumer(Consumer):
    """A Huey consumer that treats SIGTERM (what systemd sends) as gracefully as SIGINT, and
    whose workers take waiting per-event tasks together (`group_commit`)."""

    worker_class = GroupingWorker

    def __init__(self, huey: Huey, group_max: int = 1, **options: Any) -> None:
        self.group_max = group_max
        super().__init__(huey, **options)
        self._signal_actions[signal.SIGTERM] = (False, True)
        self._signal_actions[signal.SIGINT] = (False, True)

    def _create_worker(self) -> GroupingWorker:
        worker: GroupingWorker = super()._create_worker()
        worker.group_max = self.group_max
        return worker

    def _handle_signal(self, signum: int, frame: Any) -> None:
        self._signum = signum
        self._restart, self._graceful = self._signal_actions[signum]
        # A second signal of either kind interrupts the graceful shutdown.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def make_consumer(queue: str, config: Config, workers: int | None = None,
                  worker_type: str | None = None, periodic: bool = True) -> Consumer:
    settings = config.queues[queue]
    huey = current()[queue]
    return GracefulConsumer(
        huey,
        group_max=config.ingest.task_group_max,
        workers=workers or settings.workers,
        worker_type=worker_type or settings.worker_type,
        periodic=periodic,
        initial_delay=settings.initial_delay,
        backoff=settings.backoff,
        max_delay=settings.max_delay,
        shutdown_timeout=settings.shutdown_timeout,
        check_worker_health=True,
        health_check_interval=5,
    )
