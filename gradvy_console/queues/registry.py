"""The seven Huey queues and the task API the guide's snippets use.

`@task(queue)` registers a function and binds nothing: importing the tasks opens no file and no
connection. The queues are built on first use (`current()`, from the active configuration) or
by `configure(config)`: one Huey instance per queue (embedded: `SqliteHuey`, one file per queue
in the data dir; Redis: `PriorityRedisHuey`), and every registered task is bound to its queue's
instance, with priority, retries, retry delay and time limit from the configuration.
Reconfiguring rebinds the same task objects, so `from gradvy_console.tasks import
process_analytics_event` stays valid.

What the queues need from the process (the once-per-period claim of periodic jobs, which lives
in live state) is injected by `runtime` through `set_period_claim`: the queues know no task and
import no runtime.

Tasks get Celery-style `.delay(...)` and `.apply_async(args=[...], queue=..., priority=...)`;
both return a `TaskResult` whose `.get()` blocks until a worker has run the task.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from huey import SqliteHuey
from huey.api import Huey, PeriodicTask, PriorityRedisExpireHuey, Result, TaskWrapper
from huey.exceptions import CancelExecution, HueyException, TaskException

from ..analytics.privacy import Terms
from ..config import QUEUES, Config, TaskSettings, get_config
from ..config.cron import schedule_matcher
from ..config.keys import queue_key
from ..errors import GradvyError
from ..private_files import private_sqlite
from ..store.sqlite import truncate_wal
from .controls import Pausable, RedisControls, SqliteControls
from .group_commit import GroupRedisStorage, GroupSqliteStorage
from .serializer import RejectionHook, SignedJsonSerializer, enqueued_ms


class TaskFailed(GradvyError):
    """The task ran and raised; the message carries the worker's error."""


class TaskTimedOut(GradvyError):
    """No worker ran the task in time (is a consumer for its queue running?)."""


class TaskResult:
    """A handle on an enqueued task. `.get()` waits for the outcome (Celery-like)."""

    def __init__(self, result: Result | None, task_name: str, queue: str,
                 default_timeout: float) -> None:
        self._result = result
        self.task_name = task_name
        self.queue = queue
        self._default_timeout = default_timeout

    @property
    def id(self) -> str:
        return self._result.id if self._result is not None else ""

    def get(self, timeout: float | None = None, blocking: bool = True) -> Any:
        if self._result is None:
            return None
        wait = self._default_timeout if timeout is None else timeout
        try:
            return self._result.get(blocking=blocking, timeout=wait, max_delay=0.05,
                                    preserve=False)
        except TaskException as exc:
            error = exc.metadata.get("error", "unknown error")
            raise TaskFailed(f"{self.task_name} failed on queue {self.queue}: {error}") from None
        except HueyException:
            raise TaskTimedOut(
                f"{self.task_name} did not finish within {wait:.0f} s: is a worker running"
                f" for queue '{self.queue}'? (gradvy worker {self.queue})"
            ) from None

    def ready(self) -> bool:
        return self._result is not None and self._result.is_ready()


class GradvyTask(TaskWrapper):
    """A Huey task wrapper bound to one of our queues, with Celery-style entry points."""

    result_timeout: float = 120.0
    before_enqueue: Callable[..., tuple[tuple[Any, ...], dict[str, Any]]] | None = None

    declared_settings: TaskSettings | None = None

    def __init__(self, func: Callable[..., Any], name: str, queue: str,
                 **settings: Any) -> None:
        # Huey's own __init__ registers the task with a Huey instance at once; ours is bound
        # when the queues are first built (`current()` / `configure`), so defining a task
        # opens nothing.
        self.__doc__ = getattr(func, "__doc__", None)
        self._huey: Huey | None = None
        self.func = func
        self.context = False
        self.name = name
        self.settings = settings
        if "task_base" in settings:
            self.task_base = settings.pop("task_base")
        self.declared_queue = queue
        self._queue_name: str | None = None
        self.task_class = self.create_task(func, False, name, **settings)

    @property
    def queue_name(self) -> str:
        """The queue this task runs on: bound, or where the active configuration routes it."""
        if self._queue_name is None:
            settings = get_config().tasks.get(self.name)
            return settings.queue if settings else self.declared_queue
        return self._queue_name

    @queue_name.setter
    def queue_name(self, value: str) -> None:
        self._queue_name = value

    @property
    def huey(self) -> Huey:
        """The queue's Huey instance; building the queues on first use binds this task."""
        if self._huey is None:
            current()
        assert self._huey is not None
        return self._huey

    @huey.setter
    def huey(self, value: Huey) -> None:
        self._huey = value

    def s(self, *args: Any, **kwargs: Any) -> Any:
        """A task instance; binding first, so it carries the configured retries and limits."""
        self.huey  # noqa: B018 - binds the task (builds the queues on first use)
        return super().s(*args, **kwargs)

    def delay(self, *args: Any, **kwargs: Any) -> TaskResult:
        return self.apply_async(args=list(args), kwargs=kwargs)

    def apply_async(self, args: list[Any] | tuple[Any, ...] | None = None,
                    kwargs: dict[str, Any] | None = None, queue: str | None = None,
                    priority: int | None = None, countdown: float | None = None,
                    eta: Any = None, **_ignored: Any) -> TaskResult:
        self.huey  # noqa: B018 - binds the task (builds the queues on first use)
        if queue is not None and queue != self.queue_name:
            raise GradvyError(
                f"Task {self.name} runs on queue '{self.queue_name}', not '{queue}'; route it in"
                f" config.toml under [tasks.{self.name}] instead.", exit_code=2)
        call_args = tuple(args or ())
        call_kwargs = dict(kwargs or {})
        if self.before_enqueue is not None:
            call_args, call_kwargs = self.before_enqueue(*call_args, **call_kwargs)
        # Stamped for queue latency (oldest waiting age, wait per run); the task never sees it.
        call_kwargs["_enqueued_ms"] = int(time.time() * 1000)
        if countdown is None and eta is None:
            task = self.s(*call_args, **call_kwargs)
            if priority is not None:
                task.priority = priority
            result = self.huey.enqueue(task)
        else:
            result = self.schedule(args=call_args, kwargs=call_kwargs, delay=countdown, eta=eta,
                                   priority=priority)
        return TaskResult(result, self.name or "", self.queue_name, self.result_timeout)

    def apply_settings(self, settings: TaskSettings, result_timeout: float) -> None:
        cls = self.task_class
        cls.default_priority = settings.priority
        cls.default_retries = settings.retries
        cls.default_retry_delay = settings.retry_delay
        cls.default_retry_backoff = settings.retry_backoff if settings.retry_backoff != 1 else 0
        cls.default_timeout = settings.timeout or None
        self.result_timeout = result_timeout


class _WithoutRevocation:
    """We never revoke tasks. Huey checks revocation before every task and deletes a revoke key
    after it: two storage round trips per task (~0.4 ms on Redis here). Skip both."""

    def is_revoked(self, task: Any, timestamp: Any = None, peek: bool = True) -> bool:
        return False

    def delete(self, key: str) -> Any:
        if isinstance(key, str) and key.startswith("r:"):
            return False
        return super().delete(key)  # type: ignore[misc]


class GradvySqliteStorage(SqliteControls, GroupSqliteStorage):
    pass


class GradvyRedisStorage(RedisControls, GroupRedisStorage):
    pass


class GradvySqliteHuey(Pausable, _WithoutRevocation, SqliteHuey):
    storage_class = GradvySqliteStorage


class GradvyRedisHuey(Pausable, _WithoutRevocation, PriorityRedisExpireHuey):
    """Priority queue; results expire (a fire-and-forget `.delay()` must not leave its result
    in Redis forever)."""

    storage_class = GradvyRedisStorage


_TASKS: dict[str, GradvyTask] = {}
_lock = threading.RLock()


class QueueSet:
    """The Huey instances for one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # Signed JSON, never pickle: see serializer.py. One key for every queue and host.
        self.serializer = SignedJsonSerializer(queue_key(config), _report_rejection)
        self.hueys: dict[str, Huey] = {name: self._make(name) for name in QUEUES}

    def _make(self, queue: str) -> Huey:
        huey = self._storage(queue)
        huey.pre_execute(name="once-per-period")(_once_per_period)
        huey.post_execute(name="result-of-a-called-job")(_keep_called_job_result)
        return huey

    def _storage(self, queue: str) -> Huey:
        name = f"gradvy-{queue}"
        if self.config.redis_url:
            from ..live import redis_client

            redis_client(self.config)  # one clear sentence if unreachable
            import redis

            # Above the 1 s blocking read, so an idle BRPOP never times out; a server that
            # stops answering does, after the configured socket timeout.
            pool = redis.ConnectionPool.from_url(
                self.config.redis_url, socket_connect_timeout=3,
                socket_timeout=max(self.config.socket_timeout_seconds, 2.0))
            return GradvyRedisHuey(name, connection_pool=pool, results=True,
                                   blocking=True, read_timeout=1, utc=True,
                                   serializer=self.serializer,
                                   expire_time=int(self.config.ingest.result_ttl_seconds))
        path = private_sqlite(self.config.data_dir / f"queue-{queue}.db")
        # fsync=False: synchronous=NORMAL under WAL, durable across process crashes (the
        # store's inbox, not the queue, is what must never lose an event).
        return GradvySqliteHuey(name, filename=str(path),
                                results=True, fsync=False, timeout=60, utc=True,
                                serializer=self.serializer)

    def close(self) -> None:
        """Embedded queues: checkpoint each file and empty its write-ahead log (messages carry
        events; deleted ones must not linger in the -wal file)."""
        if not self.config.redis_url:
            for queue in QUEUES:
                truncate_wal(self.config.data_dir / f"queue-{queue}.db")

    def __getitem__(self, queue: str) -> Huey:
        return self.hueys[queue]

    def message_values(self) -> Iterator[Any]:
        """The JSON body of every queued and scheduled message (task arguments), decoded as
        JSON only (never run or unpickled), for the PII scan."""
        for huey in self.hueys.values():
            frames = list(huey.storage.enqueued_items()) + list(huey.storage.scheduled_items())
            for frame in frames:
                parts = bytes(frame).split(b".", 3)
                if len(parts) == 4:
                    try:
                        yield orjson.loads(parts[3])
                    except orjson.JSONDecodeError:
                        continue

    def scrub(self, terms: Terms, erase: bool) -> int:
        """Queued and scheduled messages and stored results that hold one of the terms (a
        learner being erased): counted, and with `erase` deleted. A per-event message carries
        one learner's event, whose inbox row the store's erasure removes; a batch message
        carries only inbox receipts; an analysis message, the learner's id."""
        hits = 0
        if self.config.redis_url:
            from ..live.redis import redis_scrub

            for huey in self.hueys.values():
                storage = huey.storage   # its key names use Huey's cleaned queue name
                for kind in ("redis", "schedule", "results"):
                    hits += redis_scrub(storage.conn, f"huey.{kind}.{storage.name}", terms,
                                        erase)
            return hits
        for name in self.hueys:
            path = self.config.data_dir / f"queue-{name}.db"
            if not path.exists():
                continue
            conn = sqlite3.connect(path, timeout=60)
            try:
                conn.execute("PRAGMA secure_delete=ON")
                for table, key, column in (("task", "id", "data"), ("schedule", "id", "data"),
                                           ("kv", "rowid", "value")):
                    try:
                        rows = conn.execute(f"SELECT {key}, {column} FROM {table}").fetchall()
                    except sqlite3.OperationalError:
                        continue   # a queue file Huey has not set up yet
                    found = [k for k, data in rows if terms.in_bytes(bytes(data))]
                    hits += len(found)
                    if erase and found:
                        with conn:
                            conn.executemany(f"DELETE FROM {table} WHERE {key} = ?",
                                             [(k,) for k in found])
            finally:
                conn.close()
            if erase:
                truncate_wal(path)
        return hits

    def depths(self) -> dict[str, dict[str, int]]:
        """Pending and scheduled counts per queue (cheap counts, nothing unpickled), and
        whether it is paused (1) or not (0)."""
        return {name: {"pending": h.pending_count(), "scheduled": h.scheduled_count(),
                       "paused": int(bool(h.storage.paused()))}
                for name, h in self.hueys.items()}

    def depths_and_ages(self, now_ms: int
                        ) -> tuple[dict[str, dict[str, int]], dict[str, float | None]]:
        """`depths()` and every queue's `oldest_age_s`, read together: on Redis in one
        pipeline (28 round trips become one; the console asks every second)."""
        if not self.config.redis_url:
            return self.depths(), {q: self.oldest_age_s(q, now_ms) for q in self.hueys}
        storages = [(name, h.storage) for name, h in self.hueys.items()]
        pipe = storages[0][1].conn.pipeline(transaction=False)
        for _name, s in storages:
            pipe.zcard(s.queue_key)
            pipe.zcard(s.schedule_key)
            pipe.exists(s.paused_key)
            pipe.zrange(s.queue_key, 0, 0)
        answers = pipe.execute()
        depths: dict[str, dict[str, int]] = {}
        ages: dict[str, float | None] = {}
        for i, (name, _s) in enumerate(storages):
            pending, scheduled, paused, head = answers[i * 4:i * 4 + 4]
            depths[name] = {"pending": int(pending), "scheduled": int(scheduled),
                            "paused": int(bool(paused))}
            stamp = enqueued_ms(head[0][8:]) if head else None   # unprefixed, as Huey does
            ages[name] = None if stamp is None else round(max(0, now_ms - stamp) / 1000, 3)
        return depths, ages

    def oldest_age_s(self, queue: str, now_ms: int) -> float | None:
        """Age of the task at the head of the queue: one message read, not the whole queue,
        and only its frame's header (the enqueue time): no payload is decoded."""
        head = self.hueys[queue].storage.enqueued_items(limit=1)
        stamp = enqueued_ms(head[0]) if head else None
        return None if stamp is None else round(max(0, now_ms - stamp) / 1000, 3)


_current: QueueSet | None = None


def configure(config: Config) -> QueueSet:
    """Build the queues for `config` and bind every registered task to them."""
    global _current
    with _lock:
        queues = QueueSet(config)
        for name, wrapper in _TASKS.items():
            _bind(wrapper, queues, config, name)
        _current = queues
        return queues


def close_current() -> None:
    """Close the active queues, if any were built."""
    if _current is not None:
        _current.close()


def current() -> QueueSet:
    """The active queues, configured from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            configure(get_config())
        assert _current is not None
        return _current


def _bind(wrapper: GradvyTask, queues: QueueSet, config: Config, name: str) -> None:
    settings = config.task_settings(name)
    queue = settings.queue if name in config.tasks else wrapper.declared_queue
    huey = queues[queue]
    old = wrapper._huey
    if old is not huey:
        if old is not None:
            try:
                old._registry.unregister(wrapper.task_class)
            except (KeyError, ValueError):
                pass
        wrapper.huey = huey
        huey._registry.register(wrapper.task_class)
    wrapper.queue_name = queue
    defaults = settings if name in config.tasks else (
        wrapper.declared_settings or TaskSettings(queue=queue))
    wrapper.apply_settings(defaults, config.ingest.result_timeout_seconds)


def _schedule_matches(job: str, timestamp: Any) -> bool:
    """Huey's scheduler asks this every minute: does the job's configured crontab match?"""
    return bool(schedule_matcher(current().config.schedule.get(job, ""))(timestamp))


_rejection_hook: RejectionHook | None = None


def set_rejection_hook(hook: RejectionHook) -> None:
    """Install what happens when a queue value fails its signature or shape: `hook(why)`
    (runtime counts it and raises the `bad_queue_message` alert)."""
    global _rejection_hook
    _rejection_hook = hook


def _report_rejection(why: str) -> None:
    if _rejection_hook is not None:
        _rejection_hook(why)


PeriodClaim = Callable[[str, int], bool]
_period_claim: PeriodClaim | None = None


def set_period_claim(claim: PeriodClaim) -> None:
    """Install how a periodic run claims its period: `claim(key, ttl_s)` is true for the first
    caller across every consumer and host (runtime installs live state's `claim`)."""
    global _period_claim
    _period_claim = claim


def _once_per_period(task: Any) -> None:
    """Pre-execute hook: a periodic run enqueued by a scheduler runs only if it is the first
    for its minute across every consumer and host (several pools may share one Redis). A run
    started by `trigger` (stamped `_enqueued_ms`) always runs."""
    if not isinstance(task, PeriodicTask) or "_enqueued_ms" in (task.kwargs or {}):
        return
    if _period_claim is None:
        raise GradvyError("No period claim is installed (import gradvy_console.runtime).")
    minute = int(time.time() // 60)
    if not _period_claim(f"periodic:{task.name}:{minute}", 600):
        raise CancelExecution(retry=False)


def _keep_called_job_result(task: Any, task_value: Any, exc: Exception | None) -> None:
    """Post-execute hook: Huey never stores a periodic task's result, so a job called like
    any task (`update_recommendation_models.apply_async(...).get()`, as the guide does;
    stamped `_enqueued_ms`) would leave its caller waiting. Store it for those calls only:
    scheduled runs have no caller."""
    if (isinstance(task, PeriodicTask) and exc is None and task_value is not None
            and "_enqueued_ms" in (task.kwargs or {})):
        current().hueys[_queue_of(task)].put_result(task.id, task_value)


def _queue_of(task: Any) -> str:
    wrapper = _TASKS.get(task.name)
    return wrapper.queue_name if wrapper is not None else "analytics"


def task(queue: str, name: str | None = None, periodic: str | None = None,
         declared: TaskSettings | None = None) -> Callable[..., GradvyTask]:
    """Register a function as a task on `queue` (the configuration may route it elsewhere).
    With `periodic=JOB`, Huey also enqueues it whenever the job's crontab in [schedule]
    matches (once per period across consumers)."""

    def decorator(func: Callable[..., Any]) -> GradvyTask:
        task_name = name or func.__name__

        @functools.wraps(func)
        def run(*args: Any, _enqueued_ms: int | None = None, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        extra: dict[str, Any] = {}
        if periodic is not None:
            job = periodic
            extra = {"validate_datetime": lambda self, ts: _schedule_matches(job, ts),
                     "task_base": PeriodicTask}
        wrapper = GradvyTask(run, task_name, queue, **extra)
        wrapper.declared_settings = declared
        with _lock:
            _TASKS[task_name] = wrapper
            if _current is not None:  # queues already built: bind now, as configure would
                _bind(wrapper, _current, _current.config, task_name)
        return wrapper

    return decorator


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task at its `soft_time_limit` (process workers): catch it to clean up
    before the hard `time_limit` stops the task."""


_soft_hit: float | None = None


def take_soft_hit() -> float | None:
    """The soft limit (seconds) the task that just ended in this process reached, if it did
    (the run history records it); cleared by reading."""
    global _soft_hit
    hit, _soft_hit = _soft_hit, None
    return hit


@contextlib.contextmanager
def _soft_limit(seconds: float | None) -> Iterator[None]:
    """SIGALRM at `seconds` raises SoftTimeLimitExceeded in the task; Huey's own alarm for the
    hard limit (set just before) is put back for the time that is left. Signals reach only a
    process's main thread: on thread workers the soft limit cannot interrupt (README)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    hard_left, _interval = signal.getitimer(signal.ITIMER_REAL)
    hard_handler = signal.getsignal(signal.SIGALRM)
    if hard_left and hard_left <= seconds:
        yield          # the hard limit comes first: nothing to add
        return

    def soft(signum: int, frame: Any) -> None:
        global _soft_hit
        _soft_hit = seconds
        signal.signal(signal.SIGALRM, hard_handler)
        if hard_left:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, hard_left - seconds))
        raise SoftTimeLimitExceeded(f"soft time limit ({seconds:g} s) exceeded")

    signal.signal(signal.SIGALRM, soft)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGALRM) is soft:   # finished before the soft limit
            signal.signal(signal.SIGALRM, hard_handler)
            if hard_left:
                left = hard_left - seconds + signal.getitimer(signal.ITIMER_REAL)[0]
                signal.setitimer(signal.ITIMER_REAL, max(0.001, left))
            else:
                signal.setitimer(signal.ITIMER_REAL, 0)


def shared_task(func: Callable[..., Any] | None = None, *, queue: str = "analytics",
                name: str | None = None, bind: bool = False, priority: int = 5,
                max_retries: int = 0, default_retry_delay: float = 0.0,
                retry_backoff: float = 1.0, time_limit: float | None = None,
                soft_time_limit: float | None = None) -> Any:
    """A platform's own task, as the guide writes it (Celery's names):

        @shared_task(bind=True, queue="ml", time_limit=300, soft_time_limit=240)
        def resource_intensive_task(self): ...

    It runs on one of the seven queues with the given priority (0-9, higher first), retries
    and retry delay; `time_limit` stops it (process workers: SIGALRM, recorded as a timed-out
    run; thread workers: only where the task calls `self.check_timeout()`), and
    `soft_time_limit` raises SoftTimeLimitExceeded inside it first (process workers only).
    With `bind`, the task gets itself as first argument. `[tasks.NAME]` in config.toml, where
    the name is known to it, overrides these. It shows in task history, retry and the console
    like the product's tasks; the worker imports it from `[general] task_modules`."""
    if queue not in QUEUES:
        raise GradvyError(f"Unknown queue '{queue}'; queues are {', '.join(QUEUES)}.",
                          exit_code=2)
    if soft_time_limit and time_limit and soft_time_limit >= time_limit:
        raise GradvyError("soft_time_limit must be below time_limit.", exit_code=2)

    def decorator(f: Callable[..., Any]) -> GradvyTask:
        holder: dict[str, GradvyTask] = {}

        @functools.wraps(f)
        def limited(*args: Any, **kwargs: Any) -> Any:
            with _soft_limit(soft_time_limit):
                if bind:
                    return f(holder["task"], *args, **kwargs)
                return f(*args, **kwargs)
        wrapper = task(queue, name or f.__name__, declared=TaskSettings(
            queue=queue, priority=priority, retries=max_retries,
            retry_delay=default_retry_delay, retry_backoff=retry_backoff,
            timeout=float(time_limit or 0)))(limited)
        holder["task"] = wrapper
        return wrapper

    return decorator(func) if func is not None else decorator


def import_task_modules(config: Config) -> None:
    """Import the platform's own task modules (`[general] task_modules`), so a worker runs
    their tasks and `retry` finds them."""
    import importlib

    for module in config.task_modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a platform module's own error: one sentence
            raise GradvyError(f"Cannot import the task module '{module}' (from [general] "
                              f"task_modules): {type(exc).__name__}: {exc}.",
                              exit_code=2) from None


def registered_tasks() -> dict[str, GradvyTask]:
    return dict(_TASKS)


def worker_identity(queue: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{queue}"
