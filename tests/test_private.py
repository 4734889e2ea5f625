"""Personal data is readable by its owner only: a fresh data dir is 0700 and every file in it
0600, whatever the caller's umask; no e-mail address planted in valid, invalid or failed
payloads is readable anywhere in the data dir afterwards."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import orjson
from helpers import Worker, env_for, gradvy


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def _wide(modes: dict[str, int], root: Path) -> dict[str, str]:
    return {name: oct(mode) for name, mode in modes.items()
            if mode & 0o077 or ((root / name).is_dir() and mode != 0o700)}


def test_a_fresh_data_dir_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = env_for(data)
    old = os.umask(0o022)   # the usual umask: files would be 0644, directories 0755
    try:
        assert gradvy(["run", "simulate-data", "--simulate-count", "300", "--users", "20",
                       "--seed", "3"], env, tmp_path).returncode == 0
        out = gradvy(["run", "start", "--detach"], env, tmp_path)
        assert out.returncode == 0, out.stderr
        try:
            assert gradvy(["run", "process-events"], env, tmp_path).returncode == 0
            assert gradvy(["run", "monitor"], env, tmp_path).returncode == 0
        finally:
            assert gradvy(["run", "stop"], env, tmp_path).returncode == 0
        assert gradvy(["run", "update-models"], env, tmp_path).returncode == 0
    finally:
        os.umask(old)
    modes = _modes(data)
    names = set(modes)
    for expected in ("store.db", "live.db", "queue-realtime.db", "queue.key", "supervisor.log",
                     "logs", "logs/worker-realtime.log", "models"):
        assert expected in names, sorted(names)
    assert _wide(modes, data) == {}


EMAIL = "jane.planted@example.org"


def test_no_planted_email_is_readable_anywhere_in_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = env_for(data)
    assert gradvy(["run", "consent", "u1", "--grant", "analytics,behavioral_analysis"], env,
                  tmp_path).returncode == 0
    stamp = "2025-12-31T10:00:00Z"
    events = [
        # valid: an address in a property value
        {"user_id": "u1", "event_type": "search", "timestamp": stamp,
         "properties": {"query": f"mail {EMAIL} please"}},
        # invalid: dead-lettered with the address inside
        {"user_id": "u1", "event_type": "search", "timestamp": "yesterday",
         "properties": {"query": EMAIL}},
        {"user_id": "u1", "event_type": "", "contact": EMAIL},
    ]
    source = tmp_path / "events.ndjson"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n"
                       + f"not json {EMAIL}\n".encode())
    out = gradvy(["run", "ingest", str(source)], env, tmp_path)
    assert out.returncode == 0, out.stderr
    # failed: a task that fails with the address in its arguments
    worker = Worker("realtime", env, tmp_path)
    try:
        worker.wait_ready()
        code = ("from gradvy_console.tasks import self_test_probe\n"
                f"h = self_test_probe.delay({EMAIL!r}, fail=True)\n"
                "try:\n    h.get(timeout=30)\nexcept Exception:\n    pass\n")
        import subprocess
        import sys

        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 90
        while b"failed" not in gradvy(["run", "tasks", "--failed", "--json"], env,
                                      tmp_path).stdout.encode():
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        worker.stop()
    found = [str(p.relative_to(data)) for p in data.rglob("*")
             if p.is_file() and EMAIL.encode() in p.read_bytes()]
    assert found == []
