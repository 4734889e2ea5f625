from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gradvy_console.analytics.events import (
    Event,
    Limits,
    Rejection,
    derive_event_id,
    mask_text,
    normalise_event,
    parse_timestamp_ms,
)

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
LIMITS = Limits(max_payload_bytes=2000, max_future_ms=3_600_000)


def ev(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event_id": "e1", "user_id": "u1", "event_type": "learning_session",
                            "timestamp": "2025-12-31T23:00:00Z", "properties": {}}
    base.update(over)
    return base


def ok(raw: Any) -> Event:
    out = normalise_event(raw, NOW, LIMITS)
    assert isinstance(out, Event), out
    return out


def rejected(raw: Any) -> Rejection:
    out = normalise_event(raw, NOW, LIMITS)
    assert isinstance(out, Rejection), out
    return out


def test_timestamps_z_offset_naive() -> None:
    assert parse_timestamp_ms("2026-01-01T00:00:00Z") == NOW
    assert parse_timestamp_ms("2026-01-01T01:00:00+01:00") == NOW
    assert parse_timestamp_ms("2026-01-01T00:00:00") == NOW  # naive means UTC
    assert parse_timestamp_ms("yesterday") is None


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("not an object", "not_object"),
        ({"event_type": "search", "timestamp": "2025-12-31T23:00:00Z"}, "missing_field"),
        (ev(user_id=42), "bad_type"),
        (ev(properties=[1, 2]), "bad_type"),
        (ev(timestamp="soon"), "bad_timestamp"),
        (ev(timestamp="2026-01-01T01:00:01Z"), "future_timestamp"),
        (ev(properties={"pad": "x" * 3000}), "too_large"),
        (ev(properties={"duration": "long"}), "bad_type"),
        (ev(properties={"completion_rate": 140}), "out_of_range"),
        (ev(event_type="quiz_attempt", properties={"score": 11, "total_questions": 10}),
         "out_of_range"),
    ],
)
def test_rejections_have_reason_codes(raw: Any, reason: str) -> None:
    assert rejected(raw).reason == reason


def test_one_hour_in_future_is_accepted() -> None:
    assert ok(ev(timestamp="2026-01-01T01:00:00Z")).ts == NOW + 3_600_000


def test_units_are_normalised() -> None:
    e = ok(ev(properties={"duration_ms": 90_000, "completion_rate": 85}))
    assert e.properties == {"duration": 90.0, "completion_rate": 0.85}
    # A "duration" above a day can only be milliseconds.
    assert ok(ev(properties={"duration": 120_000})).properties["duration"] == 120.0
    assert ok(ev(properties={"duration": 600, "completion_rate": 0.5})).properties == {
        "duration": 600, "completion_rate": 0.5}
    q = ok(ev(event_type="quiz_attempt",
              properties={"questions_total": 10, "questions_correct": 7, "time_taken_ms": 5000}))
    assert q.properties == {"total_questions": 10, "score": 7, "time_taken": 5.0}


def test_session_id_top_level_or_in_properties() -> None:
    assert ok(ev(properties={"session_id": "s9"})).session_id == "s9"
    assert ok(ev(session_id="s1")).session_id == "s1"


def test_pii_masked_and_secrets_dropped() -> None:
    e = ok(ev(event_type="search", properties={
        "query": "mail bob@example.com or call +44 20 7946 0958 from 192.168.1.20",
        "password": "hunter2", "nested": {"api_key": "k", "note": "x@y.io"}}))
    assert e.properties["query"] == "mail [email] or call [phone] from [ip]"
    assert "password" not in e.properties and "api_key" not in e.properties["nested"]
    assert e.properties["nested"]["note"] == "[email]"
    assert (e.pii_masked, e.keys_dropped) == (4, 2)


def test_mask_leaves_ids_and_urls_alone() -> None:
    for text in ("c0042", "/courses/c0042", "python sql", "button-12", "version 3.11.7"):
        assert mask_text(text) == (text, 0)


def test_derived_event_id_is_deterministic() -> None:
    raw = ev()
    del raw["event_id"]
    assert ok(raw).event_id == ok(dict(raw)).event_id == derive_event_id(raw)
    other = dict(raw, user_id="u2")
    assert derive_event_id(other) != derive_event_id(raw)


def test_unknown_types_are_kept() -> None:
    assert ok(ev(event_type="video_watch", properties={"x": 1})).event_type == "video_watch"


def test_naive_timestamps_are_read_in_the_given_zone() -> None:
    from zoneinfo import ZoneInfo

    tokyo, la = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles")
    assert parse_timestamp_ms("2026-01-01T09:00:00", tokyo) == NOW            # UTC+9
    assert parse_timestamp_ms("2025-12-31T16:00:00", la) == NOW               # UTC-8 in winter
    assert parse_timestamp_ms("2026-07-01T05:00:00", la) == parse_timestamp_ms(
        "2026-07-01T12:00:00Z")                                               # UTC-7 in summer
    assert parse_timestamp_ms("2026-01-01T00:00:00Z", tokyo) == NOW           # an offset wins
    assert parse_timestamp_ms("2026-01-01T01:00:00+01:00", la) == NOW


def test_the_guide_s_snippet_stores_the_right_instant_in_any_zone(tmp_path: Path) -> None:
    """datetime.now().isoformat() (a naive local time) ingested on a host in Tokyo and in Los
    Angeles is stored at the instant it was taken; naive_timezone = "UTC" reads it as UTC."""
    import json
    import os
    import subprocess
    import sys

    code = """
import json, sys, time
from datetime import datetime
from gradvy_console.config import load_config
from gradvy_console.ingest import Ingestor
from gradvy_console.live.sqlite import SqliteLive
from gradvy_console.store.sqlite import SqliteStore
config = load_config(env={"GRADVY_DATA_DIR": sys.argv[1]})
store = SqliteStore(config.data_dir / "store.db")
store.record_consent("u1", {"analytics": True}, method="t", version="1",
                     legal_basis="consent", actor="t", at_ms=0)
taken = int(time.time() * 1000)
event = {"user_id": "u1", "event_type": "search", "timestamp": datetime.now().isoformat(),
         "properties": {"query": "python"}}
Ingestor(store, SqliteLive(config.data_dir / "live.db"), config).ingest([(None, event)])
stored = store.user_events("u1")[0]["ts"]
print(json.dumps({"taken": taken, "stored": stored, "counters": store.counters()}))
"""
    for zone in ("Asia/Tokyo", "America/Los_Angeles", "UTC"):
        data = tmp_path / zone.replace("/", "-")
        data.mkdir()
        env = {**os.environ, "TZ": zone}
        out = subprocess.run([sys.executable, "-c", code, str(data)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert abs(got["stored"] - got["taken"]) < 2000, (zone, got)
        assert got["counters"]["naive_timestamps"] == 1
    # Told that naive means UTC, a Los Angeles host stores its wall clock as UTC: hours behind
    # (in Tokyo the same event would be 9 h in the future, and refused as future_timestamp).
    data = tmp_path / "told"
    data.mkdir()
    (data / "config.toml").write_text('[ingest]\nnaive_timezone = "UTC"\n')
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    os.chmod(data / "config.toml", 0o600)
    out = subprocess.run([sys.executable, "-c", code.replace(
        'load_config(env={"GRADVY_DATA_DIR": sys.argv[1]})',
        'load_config(str(sys.argv[1]) + "/config.toml", env={"GRADVY_DATA_DIR": sys.argv[1]})'),
        str(data)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    offset = ZoneInfo("America/Los_Angeles").utcoffset(datetime.now())
    assert offset is not None
    assert abs(got["stored"] - got["taken"] - offset.total_seconds() * 1000) < 2000


def test_a_naive_timezone_that_is_not_a_zone_is_refused(tmp_path: Path) -> None:
    from gradvy_console.config import load_config
    from gradvy_console.errors import GradvyError

    cfg = tmp_path / "config.toml"
    cfg.write_text('[ingest]\nnaive_timezone = "Mars/Olympus"\n')
    cfg.chmod(0o600)
    with pytest.raises(GradvyError, match="ingest.naive_timezone .* not 'Mars/Olympus'"):
        load_config(str(cfg), env={"GRADVY_DATA_DIR": str(tmp_path)})
