"""Controlling a pool from outside it: its pidfile and lock, commands through live state
(scale, restart, stop and start one queue), starting it detached and stopping it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .. import runtime
from ..config import Config
from ..errors import GradvyError
from ..private_files import open_private_append, private_dir


def supervisor_id(config: Config) -> str:
    """Stable id of the pool for this host and data dir."""
    digest = hashlib.blake2b(str(config.data_dir.resolve()).encode(), digest_size=4).hexdigest()
    return f"{socket.gethostname()}:{digest}"


def pidfile_path(config: Config) -> Path:
    return config.data_dir / "supervisor.pid"


def running_pid(config: Config) -> int | None:
    """The pid of the supervisor holding this data dir's lock, or None."""
    path = pidfile_path(config)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = path.read_text().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def send_command(config: Config, command: dict[str, Any], timeout: float = 60.0
                 ) -> dict[str, Any]:
    """Send a command to this data dir's running supervisor and wait for its reply."""
    if running_pid(config) is None:
        raise GradvyError("The worker pool is not running here (start it: gradvy run start).",
                          exit_code=1)
    command = {**command, "id": uuid.uuid4().hex}
    live = runtime.live()
    live.put_json(f"ctl:{supervisor_id(config)}:{command['id']}", command, ttl_s=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = live.get_json(f"ctl-reply:{command['id']}", int(time.time() * 1000))
        if reply is not None:
            live.delete_json(f"ctl-reply:{command['id']}")
            if not reply.get("ok"):
                raise GradvyError(reply.get("error", "command failed"), exit_code=1)
            return dict(reply)
        time.sleep(0.1)
    raise GradvyError(f"The pool did not answer within {timeout:.0f} s.", exit_code=1)


def start_detached(config: Config, config_path: str | None = None, timeout: float = 30.0
                   ) -> int:
    """Start the pool as a background process in its own session (it outlives the caller,
    e.g. the console); return its pid once it holds the data dir's lock."""
    pid = running_pid(config)
    if pid is not None:
        raise GradvyError(f"already running (pid {pid})", exit_code=1)
    private_dir(config.data_dir)
    cmd = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]
    if config_path:
        cmd += ["--config", config_path]
    cmd += ["run", "start"]
    env = dict(os.environ)
    env["GRADVY_DATA_DIR"] = str(config.data_dir)
    env["GRADVY_ACTION_LOGGED"] = "1"      # the caller's action log entry covers the start
    if config.redis_url:
        env["GRADVY_REDIS_URL"] = config.redis_url
    if config.mongo_url:
        env["GRADVY_MONGO_URL"] = config.mongo_url
    log_file = open_private_append(config.data_dir / "supervisor.log")
    try:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    finally:
        os.close(log_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(config) == proc.pid:
            return proc.pid
        if proc.poll() is not None:
            raise GradvyError(f"The pool exited at start (code {proc.returncode}); see "
                              f"{config.data_dir / 'supervisor.log'}.", exit_code=1)
        time.sleep(0.1)
    raise GradvyError(f"The pool did not start within {timeout:.0f} s.", exit_code=1)


def wait_for_consumers(config: Config, pid: int, timeout: float = 60.0) -> int:
    """Wait until every queue's consumer of the pool `pid` sends its heartbeat; return how
    many are up. The pool exiting meanwhile, or a consumer not up in time, is one sentence."""
    import psutil

    from ..config import QUEUES
    from ..monitoring import live_consumers

    pool = supervisor_id(config)
    needed = set(QUEUES) | ({"collector"} if config.collector.enabled else set())
    deadline = time.monotonic() + timeout
    up: set[str] = set()
    while time.monotonic() < deadline:
        up = {c["queue"] for c in live_consumers(runtime.live(),
                                                stale_after_s=config.live.heartbeat_ttl_seconds)
              if c.get("supervisor") == pool}
        if up >= needed:
            return len(up)
        if not psutil.pid_exists(pid) or running_pid(config) != pid:
            raise GradvyError(f"The pool (pid {pid}) exited while starting; see "
                              f"{config.data_dir / 'supervisor.log'}.", exit_code=1)
        time.sleep(0.2)
    missing = ", ".join(q for q in sorted(needed) if q not in up)
    raise GradvyError(f"The pool (pid {pid}) runs, but these consumers did not come up within "
                      f"{timeout:.0f} s: {missing}; see {config.data_dir / 'logs'}.",
                      exit_code=1)


def stop_running(config: Config, timeout: float = 120.0) -> int:
    """SIGTERM the running supervisor and wait until it (and so every consumer) exited."""
    pid = running_pid(config)
    if pid is None or pid <= 0:
        raise GradvyError("The worker pool is not running here.", exit_code=1)
    import psutil

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(config) is None:
            try:  # the lock is released just before exit: wait for the process itself
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return pid
            except psutil.NoSuchProcess:
                return pid
        time.sleep(0.05)
    raise GradvyError(f"The pool (pid {pid}) did not stop within {timeout:.0f} s.",
                      exit_code=1)
