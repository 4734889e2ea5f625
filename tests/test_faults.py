"""Faults with real processes: a failing task is retried per its policy then recorded failed
(and can be retried by hand); a poisoned event goes to dead letters while the rest of its batch
is processed; a Redis restart under load loses nothing and the pool carries on."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RedisServer
from helpers import GRADVY, Worker, env_for, gradvy, status, wait_for
from helpers import run_python as _python


@pytest.fixture(params=["sqlite", "redis"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    config = tmp_path / "config.toml"
    # Two retries, 0.2 s apart (then 0.4 s): the policy, fast enough for a test.
    config.write_text("[tasks.self_test_probe]\nqueue = 'realtime'\nretries = 2\n"
                      "retry_delay = 0.2\nretry_backoff = 2.0\n")
    out = env_for(tmp_path / "data", url)
    out["GRADVY_CONFIG"] = str(config)
    return out


def test_failing_task_is_retried_then_recorded_failed(env: dict[str, str],
                                                      tmp_path: Path) -> None:
    worker = Worker("realtime", env, tmp_path)
    try:
        worker.wait_ready()
        out = _python("""
            from gradvy_console.tasks import self_test_probe
            handle = self_test_probe.delay('boom', fail=True)
            print(handle.id)
            try:
                handle.get(timeout=60)
            except Exception as exc:
                print('ERROR', exc)
            """, env, tmp_path)
        assert out.returncode == 0, out.stderr
        task_id = out.stdout.split()[0]
        assert "ERROR self_test_probe failed on queue realtime: ProbeFailure" in out.stdout

        def history() -> list[dict]:  # type: ignore[type-arg]
            got = gradvy(["run", "tasks", "--json", "--limit", "50"], env, tmp_path)
            return [r for r in json.loads(got.stdout) if r["task_id"] == task_id]

        runs = wait_for(lambda: len(history()) == 3 and history(), what="three attempts")
        assert [r["status"] for r in reversed(runs)] == ["retrying", "retrying", "failed"]
        assert all("ProbeFailure: self-test failure requested (boom)" in r["error"] for r in runs)
        # The failed run keeps its traceback (where it raised) and its arguments, for reading.
        detail = json.loads(gradvy(["run", "task", task_id[:8], "--json"], env, tmp_path).stdout)
        assert detail["status"] == "failed"
        assert detail["traceback"].startswith("Traceback (most recent call last)")
        assert "ProbeFailure: self-test failure requested (boom)" in detail["traceback"]
        assert "self_test_probe" in detail["traceback"] and detail["args_json"]
        shown = gradvy(["run", "task", task_id], env, tmp_path).stdout
        assert "Traceback (most recent call last)" in shown and "failed" in shown.splitlines()[0]
        assert gradvy(["run", "task", "nonexistent"], env, tmp_path).returncode == 2
        listed = gradvy(["run", "tasks", "--failed"], env, tmp_path)
        assert task_id[:8] in listed.stdout and "failed" in listed.stdout
        retried = gradvy(["run", "retry", task_id[:8]], env, tmp_path)
        assert retried.returncode == 0 and "Re-enqueued self_test_probe as task" in retried.stdout
        new_id = retried.stdout.strip().split()[-1].rstrip(".")
        wait_for(lambda: any(r["task_id"] == new_id for r in json.loads(gradvy(
            ["run", "tasks", "--json"], env, tmp_path).stdout)), what="the retried run")
        queues = status(env, tmp_path)["queues"]["realtime"]
        assert queues["recent_failures"][0]["error"].startswith("ProbeFailure")
        assert gradvy(["run", "retry", "nonexistent"], env, tmp_path).returncode == 2
    finally:
        assert worker.stop() == 0


def test_poisoned_event_is_dead_lettered_rest_of_batch_processed(env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    assert gradvy(["run", "consent", "u1", "--grant", "analytics,behavioral_analysis"], env,
                  tmp_path).returncode == 0
    worker = Worker("realtime", env, tmp_path)
    try:
        worker.wait_ready()
        out = _python("""
            from gradvy_console.tasks import batch_process_events
            deep = {}
            node = deep
            for _ in range(400):          # deeper than any JSON encoder accepts
                node['x'] = {}
                node = node['x']
            events = [{'event_id': f'ok{i}', 'user_id': 'u1', 'event_type': 'search',
                       'timestamp': '2025-12-31T10:00:00Z',
                       'properties': {'query': 'sql', 'results_count': 1}} for i in range(99)]
            events.insert(50, {'event_id': 'poison', 'user_id': 'u1', 'event_type': 'search',
                               'timestamp': '2025-12-31T10:00:00Z', 'properties': deep})
            print(batch_process_events.delay(events).get(timeout=60))
            """, env, tmp_path)
        assert out.returncode == 0, out.stderr
    finally:
        assert worker.stop() == 0
    events = status(env, tmp_path)["events"]
    assert events["processed"] == 99 and events["dead_lettered"] == 1
    assert events["pending"] == 0


def test_redis_restart_under_load(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    env = env_for(tmp_path / "data", server.url)
    count = 20_000
    try:
        assert gradvy(["run", "simulate-data", "--simulate-count", str(count), "--seed", "9"],
                      env, tmp_path).returncode == 0
        assert gradvy(["run", "start", "--detach"], env, tmp_path).returncode == 0
        wait_for(lambda: len([c for c in status(env, tmp_path)["consumers"] if c["alive"]]) == 7,
                 what="7 consumers")
        runner = subprocess.Popen(GRADVY + ["run", "process-events", "--batch-size", "50",
                                            "--json"], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        inbox = sqlite3.connect(tmp_path / "data" / "store.db")
        # The first batches are done: the outage comes in the middle of the run.
        wait_for(lambda: inbox.execute("SELECT count(*) FROM inbox").fetchone()[0] < count,
                 what="progress", interval=0.005)
        inbox.close()
        server.stop()               # Redis goes away under load ...
        time.sleep(3)
        server.start()              # ... and comes back on the same port, empty
        said = runner.communicate(timeout=300)
        # Whatever the run said, nothing accepted is lost: finish what is pending.
        out = gradvy(["run", "process-events", "--json"], env, tmp_path)
        assert out.returncode == 0, out.stderr
        data = status(env, tmp_path)
        events = data["events"]
        assert events["pending"] == 0, (runner.returncode, said, out.stdout)
        if runner.returncode:       # the run saw the outage: one sentence, no traceback
            assert said[1].strip().startswith("gradvy: "), said[1]
            assert "Traceback" not in said[1]
        assert (events["processed"] + events["dead_lettered"] + events["duplicates"]
                + events["no_consent"]) == count
        # The pool reconnected: every consumer is alive again on the restarted server.
        wait_for(lambda: len([c for c in status(env, tmp_path)["consumers"] if c["alive"]]) == 7,
                 what="consumers back after the outage")
        # The outage was an alert, raised while Redis was down and cleared when it came back.
        outage = wait_for(lambda: [a for a in json.loads(gradvy(
            ["run", "alerts", "--all", "--json"], env, tmp_path).stdout)
            if a["kind"] == "backend_unreachable" and a.get("cleared_ms")],
            what="a cleared outage alert")
        assert "redis unreachable" in outage[0]["message"]
    finally:
        gradvy(["run", "stop"], env, tmp_path)
        server.stop()
