"""The worker pool: one `gradvy worker QUEUE` process per queue, supervised.

Huey ships no worker registry, no restart policy and no way to scale a running consumer; this
is that. `gradvy run start` runs a Supervisor in the foreground (`--detach`: in the background);
the console starts it detached (`pool.control`). It

- holds `supervisor.pid` in the data dir under an exclusive flock (a second start on the same
  data dir is refused; a crashed supervisor's lock vanishes with it);
- starts one consumer per queue (workers and worker type from config, periodic jobs on);
- restarts a consumer that dies, with exponential backoff (first restart at once, then 1, 2, 4 s
  ... capped), and reports a crash loop (5 deaths within 60 s) instead of hiding it;
- takes `scale` / `restart` / `stop` / `start` commands through live state (sent by
  `pool.control.send_command`), so they work on SQLite and Redis;
- publishes its state (consumers, pids, restarts, states) to live state every second;
- on SIGINT or SIGTERM stops every consumer gracefully (SIGTERM, then SIGKILL after the
  queue's shutdown timeout) and exits when all have exited.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import runtime
from ..config import QUEUES, Config
from ..errors import GradvyError
from ..monitoring import HISTORY_5S, backend_outage, event_alert, tick
from ..private_files import open_private_append, private_dir
from ..queues import current_queue_metrics
from .control import pidfile_path, running_pid, supervisor_id
from .logs import rotate

log = logging.getLogger("gradvy.supervisor")

CRASH_LOOP_DEATHS = 5
CRASH_LOOP_WINDOW_S = 60.0
BACKOFF_CAP_S = 30.0


CONSUMER_NICE = 5


def _die_with_parent(nice: bool = True) -> None:
    """Linux: the child gets SIGTERM if the supervisor dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgid(0, 0)  # own process group: a terminal's ^C reaches the supervisor only
    # Consumers are batch work: under CPU contention an operator's console (and shell) answers
    # first. When the machine is otherwise idle a niced consumer still gets every cycle.
    # The collector is not batch work (a frontend waits for its answer): it is not niced.
    if not nice:
        return
    try:
        os.nice(CONSUMER_NICE)
    except OSError:
        pass


def _die_with_parent_unniced() -> None:
    _die_with_parent(nice=False)


COLLECTOR = "collector"   # the HTTP collector's name among the supervised processes


@dataclass
class Consumer:
    queue: str
    workers: int
    worker_type: str
    periodic: bool = True
    proc: subprocess.Popen[bytes] | None = None
    started_ms: int = 0
    restarts: int = 0
    state: str = "starting"  # running | backoff | crash_loop | stopping | stopped
    next_start: float = 0.0
    deaths: deque[float] = field(default_factory=deque)
    last_exit: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"queue": self.queue, "pid": self.proc.pid if self.proc else None,
                "workers": self.workers, "worker_type": self.worker_type, "state": self.state,
                "restarts": self.restarts, "started_ms": self.started_ms,
                "last_exit": self.last_exit}


class Supervisor:
    def __init__(self, config: Config, config_path: str | None = None,
                 queues: tuple[str, ...] = QUEUES, log_dir: Path | None = None,
                 collector: bool | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.id = supervisor_id(config)
        self.host = socket.gethostname()
        self.started_ms = int(time.time() * 1000)
        self.log_dir = log_dir or config.data_dir / "logs"
        self.consumers: dict[str, Consumer] = {}
        for queue in queues:
            settings = config.queues[queue]
            self.consumers[queue] = Consumer(queue, settings.workers, settings.worker_type)
        if config.collector.enabled if collector is None else collector:
            # The HTTP collector (`gradvy serve`) is supervised like a consumer: restarted
            # with backoff, its log rotated, its heartbeat in the fleet (queue `collector`).
            self.consumers[COLLECTOR] = Consumer(COLLECTOR, config.collector.workers, "http",
                                                 periodic=False)
        self._stop = threading.Event()
        self._live_down = False
        self._lock_fd: int | None = None
        self._lock = threading.RLock()

    # --- lifecycle ------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the data dir's supervisor lock or raise 'already running (pid N)'."""
        private_dir(self.config.data_dir)
        path = pidfile_path(self.config)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = running_pid(self.config)
            raise GradvyError(f"already running (pid {pid})", exit_code=1) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            try:
                pidfile_path(self.config).unlink(missing_ok=True)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _command(self, consumer: Consumer) -> list[str]:
        cmd = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]
        if self.config_path:
            cmd += ["--config", self.config_path]
        if consumer.queue == COLLECTOR:
            return [*cmd, "serve", "--workers", str(consumer.workers)]
        cmd += ["worker", consumer.queue, "--workers", str(consumer.workers),
                "--worker-type", consumer.worker_type]
        if not consumer.periodic:
            cmd.append("--no-periodic")
        return cmd

    def _spawn(self, consumer: Consumer) -> None:
        logfile = open_private_append(self.log_dir / f"worker-{consumer.queue}.log")
        env = dict(os.environ)
        env["GRADVY_DATA_DIR"] = str(self.config.data_dir)
        if self.config.redis_url:
            env["GRADVY_REDIS_URL"] = self.config.redis_url
        if self.config.mongo_url:
            env["GRADVY_MONGO_URL"] = self.config.mongo_url
        env["GRADVY_SUPERVISOR"] = self.id
        consumer.proc = subprocess.Popen(self._command(consumer), stdout=logfile,
                                         stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=_die_with_parent_unniced
                                         if consumer.queue == COLLECTOR else _die_with_parent)
        os.close(logfile)
        consumer.started_ms = int(time.time() * 1000)
        consumer.state = "running"
        log.info("started %s consumer (pid %s, %s %s workers)", consumer.queue,
                 consumer.proc.pid, consumer.workers, consumer.worker_type)

    def start(self) -> None:
        with self._lock:
            for consumer in self.consumers.values():
                self._spawn(consumer)

    def _reap(self, now: float) -> None:
        for consumer in self.consumers.values():
            proc = consumer.proc
            if consumer.state in ("running",) and proc is not None and proc.poll() is not None:
                consumer.last_exit = proc.returncode
                consumer.deaths.append(now)
                try:  # it cannot remove its own heartbeat any more: show it gone at once
                    runtime.live().delete_json(f"hb:{self.host}:{proc.pid}:{consumer.queue}")
                except Exception:  # noqa: BLE001 - the key expires on its own anyway
                    pass
                while consumer.deaths and now - consumer.deaths[0] > CRASH_LOOP_WINDOW_S:
                    consumer.deaths.popleft()
                recent = len(consumer.deaths)
                delay = 0.0 if recent <= 1 else min(BACKOFF_CAP_S, 2.0 ** (recent - 2))
                consumer.next_start = now + delay
                consumer.state = "crash_loop" if recent >= CRASH_LOOP_DEATHS else "backoff"
                self._died(consumer, proc.pid, proc.returncode)
                log.warning("%s consumer (pid %s) exited with %s; restart in %.1f s%s",
                            consumer.queue, proc.pid, proc.returncode, delay,
                            " (crash loop)" if consumer.state == "crash_loop" else "")
            if consumer.state in ("backoff", "crash_loop") and now >= consumer.next_start:
                consumer.restarts += 1
                self._spawn(consumer)

    def _died(self, consumer: Consumer, pid: int, code: int | None) -> None:
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        try:
            event_alert(self.config, runtime.store(), f"consumer_died:{self.host}:{consumer.queue}",
                        True, f"Consumer {consumer.queue} on {self.host} (pid {pid}) died "
                              f"({how}); restarted")
        except Exception as exc:  # noqa: BLE001 - never let alerting stop a restart
            log.warning("cannot record the alert: %s", exc)

    def _settled(self, now_ms: int) -> None:
        """Clear 'consumer died' alerts once the replacement has run for a minute."""
        for consumer in self.consumers.values():
            if consumer.restarts and consumer.state == "running" and (
                    now_ms - consumer.started_ms > 60_000):
                try:
                    event_alert(self.config, runtime.store(),
                                f"consumer_died:{self.host}:{consumer.queue}", False)
                except Exception:  # noqa: BLE001 - retried at the next tick
                    pass

    def restart(self, queue: str, workers: int | None = None) -> dict[str, Any]:
        """Gracefully stop one queue's consumer and start it again (with `workers` if given)."""
        with self._lock:
            consumer = self._consumer(queue)
            if workers is not None:
                consumer.workers = workers
            consumer.state = "stopping"
            self._terminate([consumer])
            consumer.restarts += 1
            self._spawn(consumer)
            return consumer.describe()

    def stop_queue(self, queue: str) -> dict[str, Any]:
        """Gracefully stop one queue's consumer; it stays stopped until `start_queue`."""
        with self._lock:
            consumer = self._consumer(queue)
            consumer.state = "stopping"
            self._terminate([consumer])
            return consumer.describe()

    def start_queue(self, queue: str) -> dict[str, Any]:
        """Start a stopped queue's consumer (a running one is left as it is)."""
        with self._lock:
            consumer = self._consumer(queue)
            if consumer.state != "running":
                consumer.deaths.clear()
                self._spawn(consumer)
            return consumer.describe()

    def _consumer(self, queue: str) -> Consumer:
        consumer = self.consumers.get(queue)
        if consumer is None:
            raise GradvyError(f"Queue '{queue}' is not supervised here.", exit_code=2)
        return consumer

    def _terminate(self, consumers: list[Consumer]) -> None:
        procs = [c for c in consumers if c.proc is not None and c.proc.poll() is None]
        for consumer in procs:
            assert consumer.proc is not None
            consumer.proc.send_signal(signal.SIGTERM)
        for consumer in procs:
            assert consumer.proc is not None
            settings = self.config.queues.get(consumer.queue)
            # The collector answers its in-flight requests within 10 s of SIGTERM.
            timeout = (settings.shutdown_timeout if settings else 10.0) + 5
            try:
                consumer.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s consumer did not stop in %.0f s: killing it", consumer.queue,
                            timeout)
                consumer.proc.kill()
                consumer.proc.wait(10)
        for consumer in consumers:
            if consumer.proc is not None:
                consumer.last_exit = consumer.proc.returncode
            consumer.state = "stopped"

    def stop_all(self) -> None:
        with self._lock:
            for consumer in self.consumers.values():
                consumer.state = "stopping"
            self._terminate(list(self.consumers.values()))

    # --- state and commands ---------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": os.getpid(),
                "data_dir": str(self.config.data_dir), "started_ms": self.started_ms,
                "beat_ms": int(time.time() * 1000),
                "consumers": [c.describe() for c in self.consumers.values()]}

    def publish(self) -> None:
        try:
            runtime.live().put_json(f"sup:{self.id}", self.describe(), ttl_s=5)
        except Exception as exc:  # noqa: BLE001 - an outage is shown, never fatal
            log.warning("cannot publish supervisor state: %s", exc)
            self._outage(str(exc))
        else:
            self._outage(None)

    def _outage(self, error: str | None) -> None:
        """Raise or clear the live-state backend alert (kept in the store, which is up)."""
        backend = "redis" if self.config.redis_url else "live state"
        if (error is not None) == self._live_down:
            return
        try:
            backend_outage(self.config, runtime.store(), backend, error is not None,
                           error or "")
            self._live_down = error is not None
        except Exception as exc:  # noqa: BLE001 - the store may be down too; keep trying
            log.warning("cannot record the outage: %s", exc)

    def monitor(self) -> None:
        """The 5-second monitoring tick: snapshot, the hour's history, alerts."""
        try:
            now = int(time.time() * 1000)
            store, live = runtime.store(), runtime.live()
            tick(self.config, store, live, HISTORY_5S,
                 current_queue_metrics(self.config, store, live, now), now)
        except Exception as exc:  # noqa: BLE001 - monitoring must never stop the pool
            log.warning("monitoring tick failed: %s", exc)

    def rotate_logs(self) -> None:
        """Keep every consumer's log, and the detached pool's own, under [logs] max_bytes."""
        logs = self.config.logs
        paths = [self.log_dir / f"worker-{q}.log" for q in self.consumers]
        paths.append(self.config.data_dir / "supervisor.log")
        for path in paths:
            try:
                rotate(path, logs.max_bytes, logs.backups)
            except OSError as exc:
                log.warning("cannot rotate %s: %s", path, exc)

    def _handle_commands(self) -> None:
        now = int(time.time() * 1000)
        try:
            commands = runtime.live().scan_json(f"ctl:{self.id}:", now)
        except Exception:  # noqa: BLE001 - retried at the next tick
            return
        for key, command in sorted(commands.items()):
            runtime.live().delete_json(key)
            reply: dict[str, Any]
            try:
                if command.get("cmd") == "scale":
                    reply = {"ok": True, "consumer": self.restart(command["queue"],
                                                                  int(command["workers"]))}
                elif command.get("cmd") == "restart":
                    reply = {"ok": True, "consumer": self.restart(command["queue"])}
                elif command.get("cmd") == "stop":
                    reply = {"ok": True, "consumer": self.stop_queue(command["queue"])}
                elif command.get("cmd") == "start":
                    reply = {"ok": True, "consumer": self.start_queue(command["queue"])}
                else:
                    reply = {"ok": False, "error": f"unknown command {command.get('cmd')!r}"}
            except GradvyError as exc:
                reply = {"ok": False, "error": str(exc)}
            runtime.live().put_json(f"ctl-reply:{command['id']}", reply, ttl_s=60)

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, install_signals: bool = True) -> None:
        """Start, supervise until SIGINT/SIGTERM (or request_stop), stop gracefully."""
        if install_signals:
            signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
            signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        self.start()
        last_publish = last_monitor = 0.0
        try:
            while not self._stop.wait(0.2):
                now = time.monotonic()
                with self._lock:
                    self._reap(now)
                if now - last_publish >= 1.0:
                    self._handle_commands()
                    self.publish()
                    last_publish = now
                if now - last_monitor >= 5.0:
                    if not self._live_down:
                        self.monitor()
                        self._settled(int(time.time() * 1000))
                    self.rotate_logs()
                    last_monitor = now
        finally:
            log.info("stopping the pool")
            self.stop_all()
            try:
                # Stopped on purpose: other pools and consoles must not report it as silent.
                runtime.live().put_json(f"sup-stopped:{self.id}", {"at_ms": int(
                    time.time() * 1000)}, ttl_s=86_400)
                runtime.live().delete_json(f"sup:{self.id}")
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
