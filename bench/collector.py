"""Collector benchmark. Prints one table; run:  python bench/collector.py [--seconds 6]

Starts `gradvy serve` on a fresh embedded data dir (loopback, a free port) and drives it from
this process with a load generator (asyncio over keep-alive HTTP/1.1 connections; every phase
bounded in requests and in seconds):
- batches: events/s in requests of 100 events (8 connections), answered only once durable in
  the inbox (the figure is checked against the inbox's row count afterwards);
- singles: requests/s of one event each (32 connections);
- latency: p50 and p99 at a fixed 500 single-event requests/s (open loop: each request's
  latency counts from the moment it was due, so a stall is not hidden);
- the ceiling: the same framework (Starlette on uvicorn, the collector's options) answering 200
  to the same bodies without doing anything; and FastAPI's, the other candidate, the same way.

Every event is new (unique ids), so each one is judged, written and queued for real.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
GRADVY = [sys.executable, "-c", "from gradvy_console.cli import main; main()"]
KEY = "gk_bench_0123456789abcdefghijklmnopqrstuvwxyz"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str = "/healthz", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1):
                return
        except urllib.error.HTTPError:
            return     # it answers
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the server on port {port} did not come up in {timeout:.0f} s")


def events(prefix: str, n: int) -> list[dict[str, object]]:
    stamp = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    return [{"event_id": f"{prefix}-{i}", "user_id": f"u{i % 2000:05d}",
             "event_type": "course_interaction", "timestamp": stamp, "session_id": f"s{i % 700}",
             "properties": {"course_id": f"c{i % 120}", "action": "view", "duration": 30}}
            for i in range(n)]


def request_bytes(body: bytes) -> bytes:
    head = (f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def batch_requests(prefix: str, requests: int, size: int) -> list[bytes]:
    out = []
    for r in range(requests):
        out.append(request_bytes(orjson.dumps(events(f"{prefix}{r}", size))))
    return out


def single_requests(prefix: str, requests: int) -> list[bytes]:
    return [request_bytes(orjson.dumps(e)) for e in events(prefix, requests)]


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> int:
        """One request; its status code once the whole answer is read."""
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            n = int(lower[at + 15:lower.index(b"\r\n", at)])
            if n:
                await self.reader.readexactly(n)
        return status

    def close(self) -> None:
        self.writer.close()


@dataclass
class Run:
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    client_cpu: float = 0.0

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] * 1000


async def closed_loop(port: int, bodies: list[bytes], connections: int, seconds: float) -> Run:
    """`connections` clients, each sending its next request as soon as the last is answered,
    until the bodies run out or `seconds` pass."""
    run = Run()
    conns = [await Connection.open(port) for _ in range(connections)]
    next_body = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def client(conn: Connection) -> None:
        nonlocal next_body
        while next_body < len(bodies) and loop.time() < deadline:
            data = bodies[next_body]
            next_body += 1
            t0 = loop.time()
            status = await conn.send(data)
            run.latencies.append(loop.time() - t0)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            run.requests += 1
    cpu0, t0 = time.process_time(), loop.time()
    await asyncio.gather(*(client(c) for c in conns))
    run.seconds = loop.time() - t0
    run.client_cpu = (time.process_time() - cpu0) / run.seconds
    for conn in conns:
        conn.close()
    return run


async def fixed_rate(port: int, bodies: list[bytes], rate: float, seconds: float,
                     connections: int = 64) -> Run:
    """Requests due at a fixed rate, each on a free connection; latency from when it was
    due (an answer that waits for a free connection counts that wait)."""
    run = Run()
    loop = asyncio.get_running_loop()
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(await Connection.open(port))
    total = min(len(bodies), int(rate * seconds))
    start = loop.time() + 0.05
    pending = []

    async def one(data: bytes, due: float) -> None:
        conn = await free.get()
        status = await conn.send(data)
        run.latencies.append(loop.time() - due)
        run.statuses[status] = run.statuses.get(status, 0) + 1
        run.requests += 1
        free.put_nowait(conn)
    cpu0 = time.process_time()
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(loop.create_task(one(bodies[i], due)))
    await asyncio.gather(*pending)
    run.seconds = loop.time() - start
    run.client_cpu = (time.process_time() - cpu0) / run.seconds
    while not free.empty():
        free.get_nowait().close()
    return run


def run_async(coro: Callable[..., Awaitable[Run]], *args: Any) -> Run:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro(*args))   # type: ignore[arg-type]
    return uvloop.run(coro(*args))   # type: ignore[arg-type]


def start_gradvy(workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], int, Path]:
    data = workdir / "data"
    config = workdir / "config.toml"
    import hashlib

    digest = hashlib.sha256(KEY.encode()).hexdigest()
    config.write_text(f'[general]\ndata_dir = "{data}"\n\n[collector]\nmax_backlog = 100000000\n'
                      f'\n[[collector.keys]]\nname = "bench"\nsha256 = "{digest}"\n'
                      "events_per_second = 0\n")
    config.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen([*GRADVY, "--config", str(config), "serve", "--port", str(port),
                             "--workers", str(workers)], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port)
    return proc, port, data


def start_ceiling(factory: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", f"bench.collector_ceiling:{factory}",
           "--host", HOST, "--port", str(port), "--loop", "uvloop", "--http", "httptools",
           "--no-access-log", "--log-level", "warning", "--no-server-header"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, "/v1/events-not-there")  # any answer (404) means it listens
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def inbox_rows(data: Path) -> int:
    conn = sqlite3.connect(data / "store.db", timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
    finally:
        conn.close()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def spread(values: list[float], scale: float = 1.0, fmt: str = ",.0f") -> str:
    """`median (min-max)` of a figure over the rounds."""
    return (f"{median(values) * scale:{fmt}} ({min(values) * scale:{fmt}}-"
            f"{max(values) * scale:{fmt}})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="bound of each round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of each phase, ours and the ceiling's taking turns")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--rate", type=float, default=500.0, help="fixed-rate requests/s")
    args = parser.parse_args()
    seconds, rounds = args.seconds, args.rounds
    batch_n = int(30_000 / 100 * seconds) + 50         # enough for 30,000 events/s
    single_n = int(6_000 * seconds) + 100              # enough for 6,000 requests/s
    rate_n = int(args.rate * seconds)
    print(f"building bodies ({batch_n * rounds:,} batches of 100, "
          f"{(single_n + rate_n) * rounds:,} single events)...", file=sys.stderr)
    batches = [batch_requests(f"b{r}-", batch_n, 100) for r in range(rounds)]
    singles = [single_requests(f"s{r}-", single_n) for r in range(rounds)]
    ceiling_singles = single_requests("c-", single_n)
    paced = single_requests("r", rate_n * 2)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="gradvy-bench-collector-") as tmp:
        workdir = Path(tmp)
        proc, port, data = start_gradvy(workdir, args.workers)
        ceiling, ceiling_port = start_ceiling("starlette_app", args.workers)
        ours_b: list[Run] = []
        ours_s: list[Run] = []
        ceil_b: list[Run] = []
        ceil_s: list[Run] = []
        try:
            before = inbox_rows(data)
            # Ours and the ceiling take turns, so a slower spell of this shared machine
            # falls on both alike; each figure is the median over the rounds.
            for r in range(rounds):
                ours_b.append(run_async(closed_loop, port, batches[r], 8, seconds))
                ceil_b.append(run_async(closed_loop, ceiling_port, batches[r], 8, seconds))
            stored = inbox_rows(data) - before
            for r in range(rounds):
                ours_s.append(run_async(closed_loop, port, singles[r], 32, seconds))
                ceil_s.append(run_async(closed_loop, ceiling_port, ceiling_singles, 32,
                                        seconds))
            time.sleep(1.0)
            paced_run = run_async(fixed_rate, port, paced, args.rate, seconds * 2)
        finally:
            stop(proc)
            stop(ceiling)
        fast, fast_port = start_ceiling("fastapi_app", args.workers)
        try:
            fastapi_s = run_async(closed_loop, fast_port, ceiling_singles, 32, seconds)
        finally:
            stop(fast)
    answered = sum(run.statuses.get(200, 0) for run in ours_b)
    rows.append(("batches of 100: events/s into the inbox",
                 spread([run.statuses.get(200, 0) * 100 / run.seconds for run in ours_b]),
                 ">= 20,000"))
    rows.append(("  requests answered 200; inbox rows added", f"{answered:,}; {stored:,}",
                 "rows = 100 x 200s"))
    rows.append(("  latency p50 / p99 (8 connections)",
                 f"{median([r.pct(50) for r in ours_b]):.1f} / "
                 f"{median([r.pct(99) for r in ours_b]):.1f} ms", ""))
    rows.append(("single events: requests/s (32 connections)",
                 spread([r.rate() for r in ours_s]), ">= 1,500"))
    rows.append(("ceiling, Starlette doing nothing: single requests/s",
                 spread([r.rate() for r in ceil_s]), ""))
    ratios = [o.rate() / c.rate() for o, c in zip(ours_s, ceil_s, strict=True)]
    rows.append(("  single events vs the ceiling (round by round)",
                 spread(ratios, 100, ".0f") + " %", ">= 50 %"))
    rows.append(("ceiling, Starlette doing nothing: batch events/s",
                 spread([r.rate() * 100 for r in ceil_b]), ""))
    rows.append((f"fixed {args.rate:g} requests/s for {seconds * 2:g} s: p50 / p99 / max",
                 f"{paced_run.pct(50):.1f} / {paced_run.pct(99):.1f} / "
                 f"{paced_run.pct(100):.1f} ms", "p99 < 25 ms"))
    statuses: dict[int, int] = {}
    for run in [*ours_b, *ours_s, paced_run]:
        for code, n in run.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    rows.append(("  status codes seen", ", ".join(f"{c}: {n:,}" for c, n in
                                                  sorted(statuses.items())), "all 200"))
    rows.append(("FastAPI doing nothing: single requests/s", f"{fastapi_s.rate():,.0f}",
                 "the other candidate"))
    rows.append(("load generator CPU (share of one core), singles ours / ceiling",
                 f"{median([r.client_cpu for r in ours_s]):.0%} / "
                 f"{median([r.client_cpu for r in ceil_s]):.0%}", ""))
    width = max(len(r[0]) for r in rows) + 2
    print(f"\ncollector (embedded, {os.cpu_count()} cores, {args.workers} server process"
          f"{'es' if args.workers > 1 else ''}, {rounds} rounds of {seconds:g} s; median "
          "(min-max))")
    print(f"{'':{width}}{'figure':<30}target")
    for label, figure, target in rows:
        print(f"{label:{width}}{figure:<30}{target}")


if __name__ == "__main__":
    main()
