"""Tasks through real queues and real worker processes, on SQLite and on Redis."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import Worker, env_for, gradvy, status
from helpers import run_python as _python

SNIPPET_USAGE = """
from datetime import datetime
from gradvy_console.tasks import process_analytics_event

# Process a single event
event_data = {
    'user_id': 'user123',
    'event_type': 'course_interaction',
    'properties': {
        'course_id': 'course456',
        'action': 'enroll',
        'timestamp': datetime.now().isoformat()
    },
    'timestamp': datetime.now().isoformat()
}

task = process_analytics_event.delay(event_data)
result = task.get()
print(result)
"""

SNIPPET_QUEUE = """
from datetime import datetime
from gradvy_console.tasks import process_analytics_event, update_recommendation_models
event_data = {'user_id': 'user123', 'event_type': 'search',
              'properties': {'query': 'python', 'results_count': 3},
              'timestamp': datetime.utcnow().isoformat()}

# Process event in real-time queue
result = process_analytics_event.apply_async(
    args=[event_data],
    queue='realtime',
    priority=9
)
print(result.get())

# Update ML models in ML queue
models = update_recommendation_models.apply_async(
    queue='ml',
    priority=5
)
print("MODELS:", sorted(models.get()))
try:
    process_analytics_event.apply_async(args=[event_data], queue='ml', priority=5)
except Exception as exc:
    print("REFUSED:", exc)
"""


@pytest.fixture(params=["sqlite", "redis"])
def backend_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return env_for(tmp_path / "data", url)


def test_guide_snippets_through_a_worker(backend_env: dict[str, str], tmp_path: Path) -> None:
    assert gradvy(["run", "consent", "user123", "--grant", "analytics,behavioral_analysis"],
                  backend_env, tmp_path).returncode == 0
    worker = Worker("realtime", backend_env, tmp_path)
    ml = Worker("ml", backend_env, tmp_path)
    try:
        worker.wait_ready()
        ml.wait_ready()
        out = _python(SNIPPET_USAGE, backend_env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert "'status': 'processed'" in out.stdout
        out = _python(SNIPPET_QUEUE, backend_env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert "'status': 'processed'" in out.stdout
        assert ("MODELS: ['at_ms', 'dropout', 'excluded_bot_users', 'pruned_versions', "
            "'recommender']") in out.stdout
        assert "REFUSED: Task process_analytics_event runs on queue 'realtime', not 'ml'" in (
            out.stdout)
        # The enqueued event went through the inbox, and nothing is left there.
        assert status(backend_env, tmp_path)["events"]["pending"] == 0
        out = gradvy(["run", "test"], backend_env, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "PASS  queue round trip" in out.stdout
    finally:
        assert worker.stop(signal.SIGTERM) == 0, worker.log.read_text()
        assert ml.stop(signal.SIGTERM) == 0, ml.log.read_text()


def test_process_events_uses_the_queue_when_a_consumer_runs(backend_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    out = gradvy(["run", "simulate-data", "--simulate-count", "2000", "--seed", "3"],
                 backend_env, tmp_path)
    assert out.returncode == 0, out.stderr
    worker = Worker("realtime", backend_env, tmp_path)
    try:
        worker.wait_ready()
        out = gradvy(["run", "process-events", "--batch-size", "250"], backend_env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert "sending batches through the queue" in out.stderr
        assert "queue, batches of 250)" in out.stdout or "Nothing was pending" in out.stdout
        events = status(backend_env, tmp_path)["events"]
        assert events["pending"] == 0
        assert (events["processed"] + events["dead_lettered"] + events["duplicates"]
                + events["no_consent"]) == 2000
    finally:
        assert worker.stop(signal.SIGINT) == 0, worker.log.read_text()


def test_lost_message_loses_no_event(tmp_path: Path) -> None:
    """Enqueue with no consumer, then drop the queue: the inbox still has the event."""
    env = env_for(tmp_path / "data")
    code = """
    from gradvy_console.tasks import process_analytics_event
    from gradvy_console.queues import current
    process_analytics_event.delay({'user_id': 'u1', 'event_type': 'search',
                                   'timestamp': '2025-12-31T10:00:00Z'})
    current()['realtime'].flush()   # the message is gone, as after a crash
    print(current()['realtime'].pending_count())
    """
    out = _python(code, env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
    assert status(env, tmp_path)["events"]["pending"] == 1
    out = gradvy(["run", "process-events"], env, tmp_path)
    assert out.returncode == 0
    assert status(env, tmp_path)["events"]["no_consent"] == 1


def test_worker_rejects_unknown_queue(tmp_path: Path) -> None:
    out = gradvy(["worker", "nowhere"], env_for(tmp_path / "data"), tmp_path)
    assert out.returncode == 2 and "Unknown queue 'nowhere'" in out.stderr


def test_sigterm_lets_a_running_task_finish(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    worker = Worker("realtime", env, tmp_path, "--verbose")
    try:
        worker.wait_ready()
        code = """
        from gradvy_console.tasks import batch_process_events
        events = [{'user_id': 'u1', 'event_type': 'search', 'timestamp': '2025-12-31T10:00:00Z',
                   'properties': {'query': 'q%d' % i}} for i in range(20000)]
        r = batch_process_events.delay(events)
        print(r.id)
        """
        out = _python(code, env, tmp_path)
        assert out.returncode == 0, out.stderr
        task_id = out.stdout.strip()
        deadline = time.monotonic() + 30
        # This task's own start (a periodic job may log "Executing" first: not the one).
        while not any("Executing" in line and task_id in line
                      for line in worker.log.read_text().splitlines()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        exit_code = worker.stop(signal.SIGTERM)
    assert exit_code == 0
    events = status(env, tmp_path)["events"]
    # The batch that was running when SIGTERM arrived finished: nothing left pending.
    assert events["no_consent"] == 20000 and events["pending"] == 0


def test_process_workers_report_done_counts_in_their_heartbeat(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    worker = Worker("realtime", env, tmp_path, "--worker-type", "process", "--workers", "2")
    try:
        worker.wait_ready()
        out = _python("""
            from gradvy_console.tasks import self_test_probe
            for h in [self_test_probe.delay('x') for _ in range(6)]:
                h.get(timeout=60)
            """, env, tmp_path)
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 30
        while True:
            beat = next(c for c in status(env, tmp_path)["consumers"]
                        if c["pid"] == worker.proc.pid)
            if beat["done"] >= 6:
                break
            assert time.monotonic() < deadline, beat
            time.sleep(0.5)
        assert beat["worker_type"] == "process" and beat["failed"] == 0
    finally:
        assert worker.stop() == 0


def test_a_failed_enqueue_hands_its_claimed_events_back(tmp_path: Path, redis_server: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis dropping mid-run: the run fails with one sentence, and no event it had claimed
    waits for its lease to run out (the next run takes them all at once)."""
    import redis

    from gradvy_console import pipeline
    from gradvy_console.config import load_config
    from gradvy_console.errors import lost_backend
    from gradvy_console.ingest import Ingestor, now_ms
    from gradvy_console.live import open_live
    from gradvy_console.queues import configure
    from gradvy_console.store import open_store
    from gradvy_console.tasks import batch_process_events

    config = load_config(env={"GRADVY_DATA_DIR": str(tmp_path / "data"),
                              "GRADVY_REDIS_URL": redis_server.url})
    configure(config)
    store, live = open_store(config), open_live(config)
    store.inbox_put([b'{"n": %d}' % i for i in range(50)], at_ms=now_ms())
    calls = []

    def enqueue(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["kwargs"]["receipts"])
        if len(calls) == 3:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1. Connection refused.")
        return type("Handle", (), {"ready": lambda self: False})()

    monkeypatch.setattr(batch_process_events, "apply_async", enqueue)
    with pytest.raises(redis.ConnectionError) as failure:
        pipeline.process_pending(config, store, live, Ingestor(store, live, config),
                                 batch_size=10, use_queue=True)
    assert len(calls) == 3 and store.inbox_count() == 50
    # Every claimed row (two batches sent, one not) is offered again now.
    assert len(store.inbox_claim(100, 60_000, now_ms())) == 50
    sentence = lost_backend(failure.value)
    assert sentence is not None and sentence.startswith("Lost the connection to Redis")
    assert lost_backend(ValueError("x")) is None
    import pymongo.errors

    mongo = lost_backend(pymongo.errors.ServerSelectionTimeoutError("no primary\nmore"))
    assert mongo == ("Lost the connection to MongoDB (no primary); nothing accepted is lost: "
                     "run the command again once it is back.")
    store.close()
    live.close()


GROUPED = """
import sys
from collections import Counter
from gradvy_console.tasks import process_analytics_event
def ev(i, minute=0, user='u1'):
    return {'event_id': f'g{i}', 'user_id': user, 'event_type': 'search',
            'timestamp': f'2025-12-31T10:{minute:02d}:00Z',
            'properties': {'query': 'sql', 'results_count': 1}}
events = [ev(i) for i in range(150)] + [ev(3), ev(4, minute=9), ev(200, user='nobody'),
                                        {'user_id': 'u1', 'event_type': 'search'}]
handles = [process_analytics_event.delay(e) for e in events]   # no consumer yet: they wait
print('enqueued', flush=True)
sys.stdin.readline()                                            # the test starts a worker
print(' '.join(h.get(timeout=60)['status'] for h in handles))
"""


def test_waiting_per_event_tasks_are_grouped_and_each_gets_its_outcome(
        backend_env: dict[str, str], tmp_path: Path) -> None:
    """Per-event tasks that wait for a consumer are ingested in groups (group commit) through a
    real worker; each task's own result says what became of its event."""
    import json
    import subprocess
    import sys

    assert gradvy(["run", "consent", "u1", "--grant", "analytics,behavioral_analysis"],
                  backend_env, tmp_path).returncode == 0
    caller = subprocess.Popen([sys.executable, "-c", GROUPED], env=backend_env, cwd=tmp_path,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert caller.stdout is not None and caller.stdout.readline().strip() == "enqueued"
    worker = Worker("realtime", backend_env, tmp_path)
    try:
        worker.wait_ready()
        out, err = caller.communicate("go\n", timeout=120)
        assert caller.returncode == 0, err
    finally:
        assert worker.stop(signal.SIGTERM) == 0, worker.log.read_text()
    statuses = out.split()
    # Two worker threads run two groups at once: of an event and its resend (or its
    # collision) either may commit first; exactly one of each pair is stored.
    assert {statuses[3], statuses[150]} == {"processed", "duplicate"}
    assert {statuses[4], statuses[151]} == {"processed", "dead_lettered"}
    others = statuses[:3] + statuses[5:150]
    assert others == ["processed"] * 148
    assert statuses[152:] == ["no_consent", "dead_lettered"]
    events = status(backend_env, tmp_path)["events"]
    assert (events["processed"], events["duplicates"], events["no_consent"],
            events["dead_lettered"], events["pending"]) == (150, 1, 1, 2, 0)
    runs = json.loads(gradvy(["run", "tasks", "--json", "--limit", "500"], backend_env,
                             tmp_path).stdout)
    assert sum(r["task"] == "process_analytics_event" for r in runs) == 154
    # They ran in groups: the worker's log of Huey's per-task lines is off, so ask the runs:
    # grouped tasks of one group end at the same millisecond.
    ends = {r["ended_ms"] for r in runs if r["task"] == "process_analytics_event"}
    assert len(ends) < 20
