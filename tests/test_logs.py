"""Logs stay bounded: a backend outage is one line when it starts and one a minute while it
lasts (with the count), never a traceback per poll; logs rotate by size."""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path

import redis
from conftest import RedisServer
from helpers import Worker, env_for

from gradvy_console.pool.logs import MaskingFilter, OutageFilter, rotate


def _logger(stream: io.StringIO, clock: list[float]) -> logging.Logger:
    logger = logging.getLogger(f"test.outage.{id(stream)}")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.addFilter(OutageFilter(60.0, clock=lambda: clock[0]))
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    return logger


def test_an_outage_is_one_line_then_one_a_minute_with_the_count() -> None:
    stream, clock = io.StringIO(), [1000.0]
    logger = _logger(stream, clock)
    for _ in range(500):
        try:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        except redis.ConnectionError:
            logger.exception("Error reading from queue")
        clock[0] += 0.1
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "Traceback" not in stream.getvalue()
    assert lines[0].startswith("Error reading from queue: ConnectionError: Error 111")
    clock[0] += 11    # past the minute since the first line
    try:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")
    except redis.ConnectionError:
        logger.exception("Error reading from queue")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "(499 more like it in the last 60 s)" in lines[1]
    # Anything that is not a backend failure keeps its traceback.
    try:
        raise ValueError("a bug of ours, jane@example.org")
    except ValueError:
        logger.exception("task failed")
    text = stream.getvalue()
    assert "Traceback" in text and "ValueError: a bug of ours, [email]" in text


def test_a_failure_logged_as_an_argument_is_collapsed_too() -> None:
    """`log.warning("heartbeat failed: %s", exc)` every 5 s (and the supervisor's state every
    second) during an outage: one line, then one a minute with the count, kept apart by
    message; a warning whose argument is no failure is untouched."""
    stream, clock = io.StringIO(), [1000.0]
    logger = _logger(stream, clock)
    down = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6391. Connection refused.")
    for _ in range(12):                 # a minute of heartbeats, and of supervisor states
        logger.warning("heartbeat failed: %s", down)
        for _ in range(5):
            logger.warning("cannot publish supervisor state: %s", down)
            clock[0] += 1
    logger.warning("heartbeat failed: %s", down)
    logger.warning("cannot publish supervisor state: %s", down)
    logger.warning("slow task: %s", 12.5)
    lines = stream.getvalue().splitlines()
    assert lines[0] == ("heartbeat failed: Error 111 connecting to [ip]:6391. Connection "
                        "refused. (repeats are logged once a minute while it lasts)")
    assert lines[1].startswith("cannot publish supervisor state: Error 111")
    assert lines[2].endswith("(11 more like it in the last 60 s)")
    assert lines[3].endswith("(59 more like it in the last 60 s)")
    assert lines[4] == "slow task: 12.5" and len(lines) == 5


def test_rotation_copies_then_truncates_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "worker-realtime.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for generation in range(5):
            os.write(fd, f"generation {generation}\n".encode() * 1000)
            assert rotate(path, 10_000, backups=3)
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"after\n"
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["worker-realtime.log", "worker-realtime.log.1", "worker-realtime.log.2",
                    "worker-realtime.log.3"]
    assert (tmp_path / "worker-realtime.log.1").read_text().startswith("generation 4")
    assert (tmp_path / "worker-realtime.log.3").read_text().startswith("generation 2")
    assert not rotate(path, 10_000, backups=3)


def test_a_consumer_log_stays_bounded_while_redis_is_down(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    env = env_for(tmp_path / "data", server.url)
    # A beat a second: a heartbeat that logged each failure would say it eight times.
    config = tmp_path / "config.toml"
    config.write_text("[live]\nheartbeat_ttl_seconds = 3\n")
    config.chmod(0o600)
    env["GRADVY_CONFIG"] = str(config)
    worker = Worker("realtime", env, tmp_path)
    try:
        worker.wait_ready()
        before = len(worker.log.read_text().splitlines())
        server.stop()
        time.sleep(8)     # an outage: the consumer polls many times a second
        during = worker.log.read_text().splitlines()[before:]
    finally:
        worker.proc.kill()
        worker.proc.wait(10)
        server.stop()
    assert 1 <= len(during) <= 12, "\n".join(during)
    assert not any("Traceback" in line for line in during)
    # Within the first minute each kind of failure is said once (the heartbeat's too).
    said = [line.split(" ", 2)[2] for line in during]
    assert len(said) == len(set(said)), "\n".join(during)
