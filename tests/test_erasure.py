"""Erasure end to end (issue 18's done-when): a learner is forgotten everywhere, on the embedded
default and on Redis, through the real `gradvy` entry point; the verification finds nothing in
any file of the data dir (write-ahead logs and free pages included) and no Redis key or value;
their next event is suppressed; unsuppress lets the next one in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import env_for, gradvy, run_python

LEARNER = "sim-u00017"
EMAIL = "jane.roe17@example.org"


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    out = gradvy(args, env, cwd, timeout=300)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


def _plant(env: dict[str, str], cwd: Path, data: Path) -> None:
    """Everything a learner leaves behind in a working pipeline, beyond their events."""
    bad = {"user_id": LEARNER, "event_type": "search", "timestamp": "last tuesday",
           "properties": {"query": f"contact {EMAIL}"}}
    (cwd / "bad.ndjson").write_text(json.dumps(bad) + "\n")
    assert "rejected 1" in _run(["run", "ingest", str(cwd / "bad.ndjson")], env, cwd)
    out = run_python(f"""
        from gradvy_console import runtime
        from gradvy_console.config import load_config
        from gradvy_console.insights import analyze_users, recommend_for
        from gradvy_console.privacy import export_user
        from gradvy_console.tasks import analyze_user_behavior, process_analytics_event
        runtime.activate(load_config())
        config, live = runtime.get_config(), runtime.live()
        # What the verbs leave: a live analysis and recommendations, and an export.
        analyze_users(config, runtime.store(), live, "{LEARNER}")
        recommend_for(config, runtime.store(), live, "{LEARNER}")
        export_user(config, runtime.store(), live, "{LEARNER}")
        # Queued work that names the learner (no consumer runs: it waits in the queue).
        process_analytics_event.delay({{"user_id": "{LEARNER}", "event_type": "search",
                                       "timestamp": "2026-01-01T00:00:00Z"}})
        analyze_user_behavior.delay("{LEARNER}")
        store = runtime.store()
        store.add_task_runs([{{"task_id": "t-1", "task": "analyze_user_behavior",
                              "queue": "analytics", "status": "failed", "started_ms": 1,
                              "ended_ms": 2, "duration_s": 1.0,
                              "error": "KeyError: '{LEARNER}'", "args_summary": "{LEARNER}",
                              "args_json": {{"args": ["{LEARNER}"], "kwargs": {{}}}}}}])
        store.record_action({{"action_id": "0000000000001-a", "who": "op",
                             "action": "user.lookup", "params": {{"user_id": "{LEARNER}"}},
                             "started_ms": 1, "ended_ms": 2, "outcome": "ok", "ok": True}})
        runtime.close()
    """, env, cwd)
    assert out.returncode == 0, out.stderr
    logs = data / "logs"
    logs.mkdir(exist_ok=True, mode=0o700)
    (logs / "worker-analytics.log").write_text(
        f"2026-12-01 10:00:00 INFO analysed {LEARNER} in 0.2 s\n"
        "2026-12-01 10:00:01 INFO analysed sim-u00018 in 0.2 s\n")


def _files_holding(data: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(data)) for p in sorted(data.rglob("*"))
            if p.is_file() and needle in p.read_bytes()]


def _redis_holding(url: str, needle: bytes) -> list[str]:
    import redis

    client = redis.Redis.from_url(url)
    found = []
    for key in client.scan_iter(count=1000):
        if needle in key or needle in (client.dump(key) or b""):
            found.append(key.decode())
    return found


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_forget_leaves_nothing_then_suppresses(backend: str, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    data = tmp_path / "data"
    env = env_for(data, url)
    _run(["run", "simulate-data", "--users", "40", "--days", "20", "--simulate-count", "4000",
          "--seed", "3"], env, tmp_path)
    _run(["run", "process-events", "--batch-size", "2000"], env, tmp_path)
    _run(["run", "analyze-users", "--all"], env, tmp_path)
    _run(["run", "update-segments"], env, tmp_path)
    _run(["run", "update-models"], env, tmp_path)
    _plant(env, tmp_path, data)
    learner = LEARNER.encode()
    assert _files_holding(data, learner), "the learner was never stored: nothing to prove"
    before_other = run_python("""
        import json
        from gradvy_console import runtime
        from gradvy_console.config import load_config
        runtime.activate(load_config())
        s = runtime.store()
        print(json.dumps({"events": len(s.user_events("sim-u00018", 100000)),
                          "consent": s.consent_history("sim-u00018")}))
        runtime.close()
    """, env, tmp_path)
    assert before_other.returncode == 0, before_other.stderr

    out = gradvy(["run", "forget", LEARNER, "--reason", f"ticket 42 from {LEARNER}", "--json"],
                 env, tmp_path, timeout=300)
    assert out.returncode == 0, (out.stdout, out.stderr)
    result = json.loads(out.stdout)["requests"][0]
    assert result["status"] == "verified", result
    assert result["had_data"] and result["removed"]["events"] > 0
    for place in ("dead_letters", "inbox", "live", "queues", "exports", "log lines"):
        assert result["removed"].get(place), (place, result["removed"])

    assert _files_holding(data, learner) == []
    assert _files_holding(data, EMAIL.encode()) == []
    if url:
        assert _redis_holding(url, learner) == []
        assert _redis_holding(url, EMAIL.encode()) == []
    # The other learner's log line, events and consent are as before.
    assert b"sim-u00018" in (data / "logs" / "worker-analytics.log").read_bytes()
    after_other = run_python(before_other.args[2], env, tmp_path)
    assert after_other.stdout == before_other.stdout

    # The request holds a subject key, never the id; erasures lists it.
    listed = json.loads(_run(["run", "erasures", "--json"], env, tmp_path))
    assert listed[0]["status"] == "verified" and LEARNER not in json.dumps(listed)

    event = {"user_id": LEARNER, "event_type": "search", "timestamp": "2026-11-30T10:00:00Z",
             "properties": {"query": "again"}}
    (tmp_path / "again.ndjson").write_text(json.dumps(event) + "\n")
    assert "suppressed 1" in _run(["run", "ingest", str(tmp_path / "again.ndjson")], env,
                                  tmp_path)
    assert _files_holding(data, learner) == []
    assert "no longer suppressed" in _run(["run", "unsuppress", LEARNER], env, tmp_path)
    _run(["run", "consent", LEARNER, "--grant", "analytics"], env, tmp_path)
    assert "accepted 1" in _run(["run", "ingest", str(tmp_path / "again.ndjson")], env,
                                tmp_path)
    # Forgetting twice is harmless.
    again = gradvy(["run", "forget", LEARNER, "--json"], env, tmp_path, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["requests"][0]["status"] == \
        "verified"


def test_forget_an_unknown_learner_records_and_suppresses(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    out = gradvy(["run", "forget", "nobody-9"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "No data was held about this learner" in out.stdout
    assert "verified" in out.stdout
    assert gradvy(["run", "unsuppress", "nobody-10"], env, tmp_path).returncode == 2
    no_one = gradvy(["run", "forget"], env, tmp_path)
    assert no_one.returncode == 2 and "Name a learner" in no_one.stderr
    assert "Traceback" not in no_one.stderr
