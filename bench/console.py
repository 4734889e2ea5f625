"""Console benchmark: start-up time, idle CPU, and key-press latency while the pool processes
events. Prints one table; run:  python bench/console.py [--events 200000] [--redis]

The console runs as a user runs it: `gradvy-console` in a pseudo-terminal (200x50), on a fresh
data dir (embedded default, or queues and live state on a private redis-server with --redis).
- start-up: from spawning the process to the first painted dashboard, and to the first
  snapshot with the worker pool it started;
- idle CPU: the console process's CPU (% of one core) over --idle-seconds with the pool idle
  (1 s refresh), right after the pool is up and again once it is a minute old;
- key-press latency: while `gradvy run process-events` pushes --events simulated events
  through the pool's realtime queue, the time from writing a key (switching between the
  dashboard and the tasks screen) to the new screen's text appearing on the terminal.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import start_redis  # noqa: E402

GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]
CONSOLE = [sys.executable, "-c", "from gradvy_console.console_main import main; main()"]


class Terminal:
    """A pseudo-terminal running the console; everything it prints is kept with times."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, size: tuple[int, int]
                 ) -> None:
        self.master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=cwd, start_new_session=True)
        os.close(slave)
        self.output = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.output += chunk

    def mark(self) -> int:
        with self.lock:
            return len(self.output)

    def wait_for(self, text: str, since: int = 0, timeout: float = 30.0) -> float:
        """Monotonic time at which `text` was first seen after byte `since`."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.output.find(needle, since) >= 0:
                    return time.monotonic()
            time.sleep(0.002)
        raise TimeoutError(f"{text!r} did not appear within {timeout} s")

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())


SWITCH = [("2", "Tasks: recent runs"), ("1", "Consumers")]      # screen switch, full repaint
MOVE = [("\x1b[B", "analytics"), ("\x1b[A", "realtime")]          # cursor down/up in Queues


def presses(term: Terminal, keys: list[tuple[str, str]], count: int | None = None,
            until: subprocess.Popen[str] | None = None) -> list[float]:
    """Seconds from writing each key to its marker text appearing on the terminal."""
    out: list[float] = []
    i = 0
    while (count is None or i < count) and (until is None or until.poll() is None):
        key, marker = keys[i % len(keys)]
        since = term.mark()
        pressed = time.monotonic()
        term.press(key)
        out.append(term.wait_for(marker, since, timeout=30) - pressed)
        i += 1
        time.sleep(0.25)
    return out


def summary(latencies: list[float]) -> str:
    return (f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 "
            f"{percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
            f"({len(latencies)} presses)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def cpu_percent_over(process: psutil.Process, seconds: float) -> float:
    """The process's CPU over the next `seconds`, in % of one core."""
    before = process.cpu_times()
    t0 = time.monotonic()
    time.sleep(seconds)
    after = process.cpu_times()
    return (after.user + after.system - before.user - before.system) / (
        time.monotonic() - t0) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--redis", action="store_true", help="queues and live state on Redis")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gradvy-bench-console-"))
    env = {**os.environ, "GRADVY_DATA_DIR": str(work / "data"), "TERM": "xterm-256color",
           "COLUMNS": "200", "LINES": "50"}
    env.pop("GRADVY_CONFIG", None)
    redis = None
    if args.redis:
        redis, url = start_redis(work)
        env["GRADVY_REDIS_URL"] = url
    deployment = "Redis" if args.redis else "embedded"
    rows: list[tuple[str, str]] = []
    term = Terminal(CONSOLE, env, work, (200, 50))
    try:
        painted = term.wait_for("Consumers") - term.started
        with_pool = term.wait_for("pool pid", timeout=60) - term.started
        rows.append(("start-up: first painted dashboard", f"{painted:.2f} s"))
        rows.append(("start-up: first snapshot with the pool it started", f"{with_pool:.2f} s"))
        # Let the pool settle (consumers up, first monitoring ticks), then measure idle.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = subprocess.run(GRADVY + ["run", "status", "--json"], env=env, cwd=work,
                                    capture_output=True, text=True)
            if status.returncode == 0 and status.stdout.count('"alive": true') >= 7:
                break
            time.sleep(0.5)
        time.sleep(3)
        console = psutil.Process(term.proc.pid)
        idle = cpu_percent_over(console, args.idle_seconds)
        rows.append((f"idle CPU over {args.idle_seconds:.0f} s, pool just up (1 s refresh)",
                     f"{idle:.1f} % of one core"))
        # And once the pool is past its first minute: uptimes no longer tick by the second
        # and the consumers' first figures have settled. This is the console left open.
        settled_from = term.started + with_pool + 60
        time.sleep(max(0.0, settled_from - time.monotonic()))
        settled = cpu_percent_over(console, args.idle_seconds)
        rows.append((f"idle CPU over {args.idle_seconds:.0f} s, pool a minute old",
                     f"{settled:.1f} % of one core"))

        idle_switch = presses(term, SWITCH, 10)
        rows.append(("key press idle: screen switch", summary(idle_switch)))
        rows.append(("  to the tasks screen / to the dashboard",
                     f"p50 {percentile(idle_switch[0::2], 50) * 1000:.0f} ms / "
                     f"{percentile(idle_switch[1::2], 50) * 1000:.0f} ms"))
        presses(term, [("1", "Consumers")], 1)
        rows.append(("key press idle: cursor move", summary(presses(term, MOVE, 10))))

        subprocess.run(GRADVY + ["run", "simulate-data", "--simulate-count", str(args.events),
                                 "--users", "2000", "--days", "30", "--seed", "1"],
                       env=env, cwd=work, check=True, capture_output=True)
        load = subprocess.Popen(GRADVY + ["run", "process-events", "--batch-size", "1000"],
                                env=env, cwd=work, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        busy_before = console.cpu_times()
        t_load = time.monotonic()
        switch = presses(term, SWITCH, 16, until=load)
        presses(term, [("1", "Consumers")], 1)
        move = presses(term, MOVE, until=load) if load.poll() is None else []
        out, err = load.communicate()
        busy_after = console.cpu_times()
        load_s = time.monotonic() - t_load
        busy = (busy_after.user + busy_after.system - busy_before.user
                - busy_before.system) / load_s * 100
        if load.returncode != 0:
            raise SystemExit(f"process-events failed: {err.strip()}")
        rows.append((f"processing {args.events:,} events through the pool",
                     f"{load_s:.1f} s ({out.strip()[:60]}...)" if out else f"{load_s:.1f} s"))
        rows.append(("key press under load: screen switch", summary(switch)))
        rows.append(("  to the tasks screen / to the dashboard",
                     f"p50 {percentile(switch[0::2], 50) * 1000:.0f} ms / "
                     f"{percentile(switch[1::2], 50) * 1000:.0f} ms"))
        if move:
            rows.append(("key press under load: cursor move", summary(move)))
        rows.append(("console CPU under load", f"{busy:.1f} % of one core"))
    finally:
        term.press("q")
        time.sleep(1.0)
        term.press("s")  # stop the pool it started
        try:
            term.proc.wait(60)
        except subprocess.TimeoutExpired:
            term.proc.kill()
        subprocess.run(GRADVY + ["run", "stop"], env=env, cwd=work, capture_output=True)
        if redis is not None:
            redis.terminate()
    print(f"gradvy-console benchmark ({deployment}, {os.cpu_count()} cores, terminal 200x50)")
    width = max(len(label) for label, _v in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    main()
