"""Nothing read from a queue is ever unpickled or executed: messages and results are signed
JSON. A pickle planted where an outsider could write it (a Redis queue, a result key, an
embedded queue file) runs no code in `status`, the console's source, the supervisor or a
consumer; it is dropped, counted and alerted."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import Worker, env_for, gradvy, status
from huey.registry import Message
from huey.utils import SKIPPED, Error

from gradvy_console.errors import GradvyError
from gradvy_console.queues.serializer import (
    BadMessage,
    SignedJsonSerializer,
    enqueued_ms,
)

KEY = b"k" * 32


class _CreatesFile:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_round_trip_keeps_hueys_types() -> None:
    s = SignedJsonSerializer(KEY)
    eta = dt.datetime(2026, 1, 2, 3, 4, 5)
    message = Message("id1", "gradvy_console.tasks.realtime.x", eta, 2, 0.5, 9,
                      ({"user_id": "u", "n": [1, 2.5, None, True]},),
                      {"receipt": "r1", "_enqueued_ms": 1234},
                      None, None, None, None, None, ("cid", 2, 0, None), 0)
    back = s.deserialize(s.serialize(message))
    assert back == message and isinstance(back, Message) and back.eta == eta
    assert isinstance(back.args, tuple) and isinstance(back.chord_config, tuple)
    assert s.deserialize(s.serialize(Error({"error": "boom"}))) == Error({"error": "boom"})
    assert s.deserialize(s.serialize(SKIPPED)) is SKIPPED
    # A payload that looks like one of the tags stays a payload.
    assert s.deserialize(s.serialize({"__m": [1, 2]})) == {"__m": [1, 2]}
    assert enqueued_ms(s.serialize(message)) == 1234
    assert enqueued_ms(s.serialize({"a": 1})) is None


def test_forged_foreign_and_pickled_values_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    reasons: list[str] = []
    s = SignedJsonSerializer(KEY, reasons.append)
    good = s.serialize({"status": "processed"})
    other = SignedJsonSerializer(b"x" * 32).serialize({"status": "processed"})
    tampered = good.replace(b"processed", b"processex")
    for value in (pickle.dumps(_CreatesFile(marker)), other, tampered, b"", b"gv1." + b"0" * 70):
        with pytest.raises(BadMessage):
            s.deserialize(value)
    assert not marker.exists()
    assert len(reasons) == 5
    assert "not a signed Gradvy frame" in reasons[0] and "signature" in reasons[1]
    with pytest.raises(GradvyError, match="must be JSON data"):
        s.serialize({"when": object()})
    with pytest.raises(GradvyError, match="keys must be strings"):
        s.serialize({1: "a"})


def _plant(env: dict[str, str], cwd: Path, marker: Path, result_id: str) -> None:
    """Write a pickle at the head of the realtime queue and under a result key, with the
    queue's own storage (what anyone who can write to Redis or the queue file can do)."""
    import os

    from gradvy_console.config import load_config
    from gradvy_console.queues import QueueSet

    old = dict(os.environ)
    os.environ.update(env)
    try:
        queues = QueueSet(load_config(env=env))
    finally:
        os.environ.clear()
        os.environ.update(old)
    evil = pickle.dumps(_CreatesFile(marker))
    queues["realtime"].storage.enqueue(evil, 9)
    queues["realtime"].storage.put_data(result_id, evil, is_result=True)
    queues["analytics"].storage.enqueue(evil, 0)


def _alerts(env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    out = gradvy(["run", "alerts", "--json"], env, cwd)
    assert out.returncode == 0, out.stderr
    found: list[dict[str, Any]] = json.loads(out.stdout)
    return found


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_planted_pickle_runs_nowhere_and_is_dropped_and_alerted(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    env = env_for(tmp_path / "data", url)
    marker = tmp_path / "pwned"
    assert gradvy(["run", "status"], env, tmp_path).returncode == 0   # makes the queue key
    _plant(env, tmp_path, marker, "planted-result")

    # status reads every queue's head age (the planted message is at the head).
    data = status(env, tmp_path)
    assert data["queues"]["realtime"]["pending"] == 1 and not marker.exists()

    # The console's source reads the same heads and more.
    code = ("import os\nfrom gradvy_console.config import load_config\n"
            "from gradvy_console.console_source import PipelineSource\n"
            "snap = PipelineSource(load_config()).snapshot()\n"
            "assert snap.backend_error is None, snap.backend_error\n"
            "from gradvy_console.queues import TaskResult, current\n"
            "from types import SimpleNamespace\n"
            "from huey.api import Result\n"
            "h = current()['realtime']\n"
            "planted = SimpleNamespace(id='planted-result', revoke_id='r:planted-result')\n"
            "try:\n"
            "    TaskResult(Result(h, planted), 't', 'realtime', 1).get(timeout=1)\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "BadMessage" in out.stdout and "not a signed Gradvy frame" in out.stdout
    assert not marker.exists()

    # A consumer takes the message: dropped, never run; the queue goes on working.
    worker = Worker("realtime", env, tmp_path)
    try:
        worker.wait_ready()
        deadline = time.monotonic() + 30
        while status(env, tmp_path)["queues"]["realtime"]["pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        checked = gradvy(["run", "test", "--wait", "20"], env, tmp_path)
        assert checked.returncode == 0, checked.stdout
    finally:
        worker.stop()
    assert not marker.exists()
    alerts = [a for a in _alerts(env, tmp_path) if a["key"] == "bad_queue_message"]
    assert alerts and "dropped, never run" in alerts[0]["message"]
    counters = gradvy(["run", "status", "--json"], env, tmp_path)
    assert json.loads(counters.stdout)["events"]["queue_messages_rejected"] >= 2


def test_the_supervisor_reads_planted_heads_without_running_them(
        tmp_path: Path, redis_url: str) -> None:
    env = env_for(tmp_path / "data", redis_url)
    marker = tmp_path / "pwned"
    assert gradvy(["run", "status"], env, tmp_path).returncode == 0
    _plant(env, tmp_path, marker, "planted-result")
    out = gradvy(["run", "start", "--detach"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    try:
        deadline = time.monotonic() + 40
        # Every queue drained (the pool's consumers dropped both messages) and the
        # supervisor's 5-second monitoring tick has read the queue heads meanwhile.
        while True:
            data = status(env, tmp_path)
            queues = data["queues"]
            ticked = (data["system"] or {}).get("at_ms", 0) > 0
            if queues["realtime"]["pending"] == 0 and queues["analytics"]["pending"] == 0 \
                    and ticked:
                break
            assert time.monotonic() < deadline, queues
            time.sleep(0.2)
    finally:
        assert gradvy(["run", "stop"], env, tmp_path).returncode == 0
    assert not marker.exists()
    assert any(a["key"] == "bad_queue_message" for a in _alerts(env, tmp_path))
