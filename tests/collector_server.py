"""A real `gradvy serve` process on a free loopback port, for the collector tests."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from helpers import GRADVY, env_for

KEY_WEB = "gk_test_web_0123456789abcdefghij"
KEY_SLOW = "gk_test_slow_0123456789abcdefghi"
ORIGIN = "https://app.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def key_entry(name: str, key: str, rate: float, burst: int = 0,
              origins: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    shown = ", ".join(f'"{o}"' for o in origins)
    return (f'[[collector.keys]]\nname = "{name}"\nsha256 = "{digest}"\n'
            f"events_per_second = {rate}\nburst = {burst}\norigins = [{shown}]\n\n")


class Collector:
    """`gradvy serve` with two write keys: `web` (fast, one allowed browser origin) and `slow`
    (2 events/s, a burst of 3)."""

    def __init__(self, tmp: Path, collector: str = "", extra: str = "", workers: int = 1
                 ) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.port = free_port()
        self.config = tmp / "config.toml"
        self.config.write_text(
            "[collector]\nmax_events = 50\nmax_bytes = 20000\n" + collector + "\n"
            + key_entry("web", KEY_WEB, 100000, origins=(ORIGIN,))
            + key_entry("slow", KEY_SLOW, 2, burst=3) + extra)
        self.env = env_for(self.data)
        self.log = tmp / f"serve-{self.port}.log"
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [*GRADVY, "--config", str(self.config), "serve", "--port", str(self.port),
             "--workers", str(workers)],
            env=self.env, cwd=tmp, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the collector did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def gradvy(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GRADVY, "--config", str(self.config), *args], env=self.env,
                              cwd=self.tmp, capture_output=True, text=True, timeout=timeout)

    def post(self, path: str, body: Any = None, key: str | None = KEY_WEB,
             content: bytes | None = None, headers: dict[str, str] | None = None
             ) -> httpx.Response:
        sent = {"Content-Type": "application/json"}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        sent.update(headers or {})
        if content is None:
            import orjson

            content = orjson.dumps(body)
        return self.http.post(path, content=content, headers=sent)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()
