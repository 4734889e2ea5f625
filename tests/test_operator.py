"""Operator actions as the console runs them, on the real engine: each is logged with who,
what, when and outcome; mistakes and outages are outcomes, never exceptions."""

from __future__ import annotations

from pathlib import Path

import orjson

from gradvy_console import runtime
from gradvy_console.config import load_config
from gradvy_console.operator_actions import Operator


def operator(tmp_path: Path) -> Operator:
    config = load_config(env={"GRADVY_DATA_DIR": str(tmp_path / "data")})
    runtime.activate(config)
    return Operator(config)


def test_actions_are_logged_and_failures_are_outcomes(tmp_path: Path) -> None:
    op = operator(tmp_path)
    done = op.perform("simulate", {"count": 300, "users": 20, "days": 5, "seed": 3})
    assert done.ok and "Simulated 300 events" in done.message
    processed = op.perform("process")
    assert processed.ok and "Processed" in processed.message
    refused = op.perform("stop_queue", {"queue": "ml"})
    assert not refused.ok and "not running" in refused.message
    wrong = op.perform("scale_queue", {"queue": "nowhere", "workers": 2})
    assert not wrong.ok and "Unknown queue 'nowhere'" in wrong.message
    log = runtime.store().actions()
    assert [a["action"] for a in log] == ["scale_queue", "stop_queue", "process", "simulate"]
    assert all(a["who"] and a["started_ms"] and a["ended_ms"] for a in log)
    assert [a["ok"] for a in log] == [False, False, True, True]
    assert log[-1]["params"] == {"count": 300, "users": 20, "days": 5, "seed": 3}


def test_dead_letter_replay_puts_the_payload_back(tmp_path: Path) -> None:
    op = operator(tmp_path)
    store = runtime.store()
    store.inbox_put([orjson.dumps({"event_type": "search", "properties": {}})], 1)
    assert op.perform("process").ok
    letters = store.dead_letters()
    assert [d["reason"] for d in letters] == ["missing_field"]
    replayed = op.perform("replay_dead_letter", {"id": letters[0]["id"]})
    assert replayed.ok and "pending again" in replayed.message
    assert store.inbox_count() == 1 and store.dead_letters() == []
    assert store.counters()["replayed"] == 1
    again = op.perform("replay_dead_letter", {"id": letters[0]["id"]})
    assert not again.ok and "No dead letter" in again.message
