from __future__ import annotations

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
