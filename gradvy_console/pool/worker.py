"""`gradvy worker QUEUE`: one queue's Huey consumer in the foreground, with a heartbeat.

The heartbeat (host, pid, queue, started, last beat, tasks done and failed, current task) goes
to live state every `heartbeat_ttl/3` seconds with an expiry, so a consumer that dies vanishes
from the fleet on its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from huey import signals as S

from .. import runtime
from .. import tasks as _tasks  # noqa: F401 - registers the tasks on their queues
from ..config import QUEUES, Config
from ..errors import GradvyError
from ..queues import current, import_task_modules, make_consumer
from .logs import mask_log_records
from .run_history import RunRecorder


class Heartbeat:
    """Published every `heartbeat_ttl/3` s; kept 4x longer than that so a consumer that stops
    beating shows as dead (last beat older than `heartbeat_ttl`) before it disappears."""

    def __init__(self, queue: str, config: Config, workers: int, worker_type: str,
                 counts: Callable[[], tuple[int, int]] | None = None) -> None:
        self.queue = queue
        self.counts = counts   # (done, failed) of this process; default: the run recorder's
        self.ttl = config.live.heartbeat_ttl_seconds
        self.key = f"hb:{socket.gethostname()}:{os.getpid()}:{queue}"
        self.doc: dict[str, Any] = {
            "host": socket.gethostname(), "pid": os.getpid(), "queue": queue,
            "started_ms": int(time.time() * 1000), "workers": workers,
            "worker_type": worker_type, "done": 0, "failed": 0, "current": None,
            "supervisor": os.environ.get("GRADVY_SUPERVISOR"), "cpu_percent": 0.0,
            "rss_bytes": 0,
        }
        self._procs: dict[int, Any] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{queue}", daemon=True)

    def on_signal(self, signal: str, task: Any, *args: Any) -> None:
        # Done and failed counts come from the run recorder (it runs in every worker process,
        # forked ones included); the current task is known here for thread workers.
        with self._lock:
            if signal == S.SIGNAL_EXECUTING:
                self.doc["current"] = task.name
            elif signal in (S.SIGNAL_COMPLETE, S.SIGNAL_ERROR, S.SIGNAL_TIMEOUT):
                self.doc["current"] = None

    def _usage(self) -> tuple[float, int]:
        """CPU % and RSS summed over this consumer's process tree (psutil)."""
        import psutil

        try:
            me = psutil.Process(self.doc["pid"])
            tree = [me, *me.children(recursive=True)]
        except psutil.Error:
            return 0.0, 0
        cpu, rss = 0.0, 0
        alive = {}
        for proc in tree:
            cached = self._procs.get(proc.pid, proc)
            try:
                cpu += cached.cpu_percent(None)
                rss += cached.memory_info().rss
                alive[proc.pid] = cached
            except psutil.Error:
                continue
        self._procs = alive
        return round(cpu, 1), rss

    def beat(self) -> None:
        cpu, rss = self._usage()
        try:
            if self.counts is not None:
                done, failed = self.counts()
            else:
                counters = runtime.live().counters()
                done = counters.get(f"{self.key}:done", 0)
                failed = counters.get(f"{self.key}:failed", 0)
        except Exception:  # noqa: BLE001 - keep the last known counts
            done, failed = self.doc["done"], self.doc["failed"]
        with self._lock:
            self.doc["done"], self.doc["failed"] = done, failed
            self.doc["last_beat_ms"] = int(time.time() * 1000)
            self.doc["cpu_percent"], self.doc["rss_bytes"] = cpu, rss
            doc = dict(self.doc)
        try:
            runtime.live().put_json(self.key, doc, ttl_s=self.ttl * 4)
        except Exception as exc:  # noqa: BLE001 - a missed beat must not kill the consumer
            logging.getLogger("gradvy.worker").warning("heartbeat failed: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, self.ttl / 3)):
            self.beat()

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            runtime.live().delete_json(self.key)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def run_worker(config: Config, queue: str, workers: int | None = None,
               worker_type: str | None = None, periodic: bool = True,
               verbose: bool = False) -> None:
    if queue not in QUEUES:
        raise GradvyError(f"Unknown queue '{queue}'; queues are {', '.join(QUEUES)}.",
                          exit_code=2)
    if worker_type not in (None, "thread", "process"):
        raise GradvyError("--worker-type must be 'thread' or 'process'.", exit_code=2)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Huey logs two INFO lines per task on the 'huey' logger: at thousands of tasks a second
    # that is noise and measurable cost. Consumer lifecycle ('huey.consumer') stays at INFO.
    logging.getLogger("huey").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("huey.consumer").setLevel(logging.INFO)
    mask_log_records(config.logs.repeat_every_seconds)
    runtime.activate(config)
    runtime.buffer_live_writes()
    runtime.live().ping()
    # A consumer whose store cannot be reached exits with one sentence instead of taking
    # tasks it can only fail: the pool restarts it with backoff (1, 2, 4 ... 30 s) and shows
    # it as crash-looping, which is what the operator should see.
    runtime.store()

    settings = config.queues[queue]
    import_task_modules(config)
    consumer = make_consumer(queue, config, workers, worker_type, periodic)
    heartbeat = Heartbeat(queue, config, workers or settings.workers,
                          worker_type or settings.worker_type)
    recorder = RunRecorder(queue, heartbeat.key)
    current()[queue].signal()(heartbeat.on_signal)
    current()[queue].signal()(recorder.on_signal)
    heartbeat.start()
    try:
        consumer.run()
    finally:
        heartbeat.stop()
        recorder.flush()
        runtime.close()
