"""Run the real `gradvy` entry point in a subprocess, and a real worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]


def env_for(data_dir: Path, redis_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADVY_")}
    env["GRADVY_DATA_DIR"] = str(data_dir)
    if redis_url:
        env["GRADVY_REDIS_URL"] = redis_url
    return env


def gradvy(args: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(GRADVY + args, env=env, cwd=cwd, input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, timeout=timeout)


def status(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    out = gradvy(["run", "status", "--json"], env, cwd)
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


class Worker:
    """`gradvy worker QUEUE` as a real process."""

    def __init__(self, queue: str, env: dict[str, str], cwd: Path, *extra: str) -> None:
        self.log = cwd / f"worker-{queue}-{time.monotonic_ns()}.log"
        self.handle = open(self.log, "wb")
        self.proc = subprocess.Popen(GRADVY + ["worker", queue, *extra], env=env, cwd=cwd,
                                     stdout=self.handle, stderr=subprocess.STDOUT)
        self.env, self.cwd, self.queue = env, cwd, queue

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text()}")
            consumers = status(self.env, self.cwd)["consumers"]
            if any(c["pid"] == self.proc.pid and c["alive"] for c in consumers):
                return
            time.sleep(0.1)
        raise AssertionError(f"worker never sent a heartbeat: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.handle.close()
        return code


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition",
             interval: float = 0.1) -> Any:
    """Poll `predicate` until it returns something truthy (tests wait, never sleep blindly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def run_python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter, as a user's script would."""
    import textwrap

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
