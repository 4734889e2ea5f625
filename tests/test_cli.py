"""The CLI as a user runs it: real entry point, real SQLite files, real Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import env_for, gradvy, status


def _accounting(env: dict[str, str], cwd: Path, count: int) -> dict[str, Any]:
    out = gradvy(["run", "simulate-data", "--simulate-count", str(count), "--seed", "1"], env, cwd)
    assert out.returncode == 0, out.stderr
    assert f"Simulated {count:,} events" in out.stdout
    assert status(env, cwd)["events"]["pending"] == count
    out = gradvy(["run", "process-events"], env, cwd)
    assert out.returncode == 0, out.stderr
    assert "processing in-process" in out.stderr
    events: dict[str, Any] = status(env, cwd)["events"]
    return events


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_simulate_process_status_accounts_for_every_event(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    env = env_for(tmp_path / "data", url)
    events = _accounting(env, tmp_path, 5000)
    total = (events["processed"] + events["dead_lettered"] + events["duplicates"]
             + events["no_consent"])
    assert total == 5000 and events["pending"] == 0
    assert events["processed_24h"] == events["processed"]
    assert events["processed"] > 4000 and events["dead_lettered"] >= 75
    assert set(events["rejected"]) == {"missing_field", "future_timestamp", "bad_timestamp"}
    data = status(env, tmp_path)
    assert data["backends"] == {"queue": backend, "live": backend, "store": "sqlite"}
    assert set(data["queues"]) == {"realtime", "analytics", "ml", "reports", "maintenance",
                                   "compliance", "monitoring"}
    assert data["queues"]["realtime"]["pending"] == 0
    assert data["queues"]["realtime"]["scheduled"] == 0
    assert data["users"]["total"] == 100


def test_same_seed_same_data(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        env = env_for(tmp_path / name)
        out = gradvy(["run", "simulate-data", "--simulate-count", "300", "--seed", "7",
                      "--end", "2026-06-01T00:00:00Z", "--json"], env, tmp_path)
        assert out.returncode == 0, out.stderr
        outs.append(json.loads(out.stdout))
    assert outs[0] == outs[1]


def test_ingest_file_with_malformed_lines(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    assert gradvy(["run", "consent", "u1", "--grant", "analytics,behavioral_analysis"], env,
                  tmp_path).returncode == 0
    lines = [
        '{"event_id": "a", "user_id": "u1", "event_type": "search", '
        '"timestamp": "2025-12-31T10:00:00Z", "properties": {"query": "sql", "results_count": 2}}',
        "this is not json",
        '{"user_id": "u1", "timestamp": "2025-12-31T10:00:00Z"}',
        '{"event_id": "a", "user_id": "u1", "event_type": "search", '
        '"timestamp": "2025-12-31T10:00:00Z", "properties": {"query": "sql", "results_count": 2}}',
        "",
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines))
    out = gradvy(["run", "ingest", str(path)], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "accepted 1, duplicate 1, no consent 0, rejected 2" in out.stdout
    assert "rejected bad_json: 1" in out.stdout and "rejected missing_field: 1" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    # From stdin, as a JSON array.
    out = gradvy(["run", "ingest", "-", "--json"], env, tmp_path,
                 stdin=b'[{"user_id": "u1", "event_type": "link_click", '
                       b'"timestamp": "2025-12-31T10:00:00Z"}]')
    assert out.returncode == 0 and json.loads(out.stdout)["processed"] == 1


@pytest.mark.parametrize("content", [b"\x00\x01binary garbage\n", b"hello world\nbye\n",
                                     b"[1, 2,"])
def test_ingest_not_json_exits_2_with_one_sentence(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    out = gradvy(["run", "ingest", str(path)], env_for(tmp_path / "data"), tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "JSON" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_file_and_bad_config(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    out = gradvy(["run", "ingest", "nope.json"], env, tmp_path)
    assert out.returncode == 2 and "No such file" in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[ingest]\nbatch_sise = 1\n")
    out = gradvy(["--config", str(bad), "run", "status"], env, tmp_path)
    assert out.returncode == 2
    assert "ingest.batch_sise" in out.stderr and str(bad) in out.stderr
    assert "Traceback" not in out.stderr


def test_unreachable_servers_exit_2(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data", "redis://127.0.0.1:1/0")
    out = gradvy(["run", "status"], env, tmp_path)
    assert out.returncode == 2 and "Cannot reach Redis at redis://127.0.0.1:1/0" in out.stderr
    assert "GRADVY_REDIS_URL" in out.stderr and "Traceback" not in out.stderr
    env = env_for(tmp_path / "data")
    env["GRADVY_MONGO_URL"] = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"
    out = gradvy(["run", "status"], env, tmp_path)
    assert out.returncode == 2 and "Cannot reach MongoDB" in out.stderr
    assert "Traceback" not in out.stderr


def test_consent_verb_and_history(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    out = gradvy(["run", "consent", "u9", "--grant", "analytics,marketing", "--method", "form"],
                 env, tmp_path)
    assert out.returncode == 0 and "granted analytics, marketing" in out.stdout
    out = gradvy(["run", "consent", "u9", "--revoke", "marketing"], env, tmp_path)
    assert "granted analytics." in out.stdout
    out = gradvy(["run", "consent", "u9"], {**env, "COLUMNS": "120"}, tmp_path)
    rows = [line.split() for line in out.stdout.splitlines()[2:]]
    assert len(rows) == 3 and ["marketing", "revoked", "cli"] == rows[-1][2:5], out.stdout
    history = json.loads(gradvy(["run", "consent", "u9", "--json"], env, tmp_path).stdout)
    assert [(h["purpose"], h["granted"]) for h in history] == [
        ("analytics", True), ("marketing", True), ("marketing", False)]
    out = gradvy(["run", "consent", "u9", "--grant", "telepathy"], env, tmp_path)
    assert out.returncode == 2 and "Unknown consent purpose 'telepathy'" in out.stderr


def test_self_test_without_worker_fails_clearly(tmp_path: Path) -> None:
    out = gradvy(["run", "test", "--wait", "1"], env_for(tmp_path / "data"), tmp_path)
    assert out.returncode == 1
    assert re.search(r"FAIL\s+queue round trip\s+no realtime consumer is running", out.stdout)
    assert "PASS  in-process ingestion" in out.stdout and "PASS  idempotency" in out.stdout
