"""Redis with a password works and the password never shows; a server that accepts
connections but never answers fails a command after the socket timeout; Redis out of memory
is one sentence."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import redis
from conftest import _free_port, _redis_binary
from helpers import env_for, gradvy

SECRET = "s3cret-passw0rd"


def _redis(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen([_redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_redis_password_works_and_never_shows(tmp_path: Path) -> None:
    proc, port = _redis(tmp_path, "--requirepass", SECRET)
    try:
        env = env_for(tmp_path / "data", f"redis://:{SECRET}@127.0.0.1:{port}/0")
        assert gradvy(["run", "simulate-data", "--simulate-count", "50"], env,
                      tmp_path).returncode == 0
        out = gradvy(["run", "status", "--json"], env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert '"queue": "redis"' in out.stdout and SECRET not in out.stdout
        wrong = env_for(tmp_path / "data", f"redis://:wrong-{SECRET}@127.0.0.1:{port}/0")
        out = gradvy(["run", "status"], wrong, tmp_path)
        assert out.returncode == 2 and "Cannot reach Redis at redis://:***@127.0.0.1" in out.stderr
        assert SECRET not in out.stderr and "Traceback" not in out.stderr
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_server_that_never_answers_fails_after_the_socket_timeout(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)          # accepted, never answered

    threading.Thread(target=accept, daemon=True).start()
    config = tmp_path / "c.toml"
    config.write_text("[backends]\nsocket_timeout_seconds = 2.0\n")
    env = env_for(tmp_path / "data", f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    env["GRADVY_CONFIG"] = str(config)
    started = time.monotonic()
    out = gradvy(["run", "status"], env, tmp_path, timeout=60)
    took = time.monotonic() - started
    listener.close()
    assert out.returncode == 2 and "Cannot reach Redis" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert took < 15, f"took {took:.1f} s"


def test_redis_out_of_memory_is_one_sentence(tmp_path: Path) -> None:
    proc, port = _redis(tmp_path, "--maxmemory", "1mb", "--maxmemory-policy", "noeviction")
    try:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:   # fill it: from now on, writes are refused
            for n in range(10_000):
                client.set(f"filler:{n}", "x" * 1000)
        except redis.ResponseError:
            pass
        env = env_for(tmp_path / "data", url)
        assert gradvy(["run", "simulate-data", "--simulate-count", "200"], env,
                      tmp_path).returncode == 0
        out = gradvy(["run", "process-events"], env, tmp_path)
        assert out.returncode == 2, out.stderr
        assert "Redis is out of memory" in out.stderr and "Traceback" not in out.stderr
    finally:
        proc.terminate()
        proc.wait(10)
