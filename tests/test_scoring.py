from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradvy_console.analytics.events import Event
from gradvy_console.analytics.scoring import (
    DAY_MS,
    ScoringModel,
    accumulate,
    fold_event,
    merge,
    mongo_update,
    profile_view,
)

MODEL = ScoringModel()
T0 = 20_000 * DAY_MS  # a day boundary


def e(etype: str, props: dict[str, Any], ts: int = T0 + 3_600_000, user: str = "u",
      eid: str = "") -> Event:
    return Event(eid or f"{etype}-{ts}-{sorted(props.items())}", user, etype, ts, None, props, "h")


def view(p: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return profile_view(accumulate([e(**x) if isinstance(x, dict) else x for x in p["events"]],
                                   MODEL)["u"], MODEL, **kw)


def test_views_and_enroll_same_day() -> None:
    events = [e("course_interaction", {"action": "view"}, T0 + 1000),
              e("course_interaction", {"action": "view"}, T0 + 2000),
              e("course_interaction", {"action": "enroll", "course_category": "Design"}, T0 + 3000)]
    p = profile_view(accumulate(events, MODEL)["u"], MODEL)
    assert p["engagement_score"] == pytest.approx(0.07)  # 0.01 + 0.01 + 0.05
    assert p["enrolled_categories"] == ["design"]
    assert p["active_days"] == 1 and p["events"] == 3


def test_learning_session_velocity_and_bonus() -> None:
    # 90 % in 10 minutes: 0.09 per minute; > 80 % and > 300 s earns +0.03.
    p = profile_view(accumulate([e("learning_session", {"duration": 600.0,
                                                        "completion_rate": 0.9})], MODEL)["u"],
                     MODEL)
    assert p["learning_velocity"] == pytest.approx(0.09)
    assert p["engagement_score"] == pytest.approx(0.03)
    # Two sessions the same day: mean of 0.09 and 0.5/5 = 0.1 -> 0.095; bonus only once.
    p2 = profile_view(accumulate([
        e("learning_session", {"duration": 600.0, "completion_rate": 0.9}, T0 + 1),
        e("learning_session", {"duration": 300.0, "completion_rate": 0.5}, T0 + 2)], MODEL)["u"],
        MODEL)
    assert p2["learning_velocity"] == pytest.approx(0.095)
    assert p2["engagement_score"] == pytest.approx(0.03)


def test_quiz_risk_rule() -> None:
    events = [e("quiz_attempt", {"score": 3, "total_questions": 10}, T0 + 1),   # +0.05
              e("quiz_attempt", {"score": 9, "total_questions": 10}, T0 + 2),   # -0.02
              e("quiz_attempt", {"score": 6, "total_questions": 10}, T0 + 3)]   # 0
    p = profile_view(accumulate(events, MODEL)["u"], MODEL)
    assert p["quiz_signal"] == pytest.approx(0.03)
    assert p["quiz_average"] == pytest.approx(0.6)
    only_good = profile_view(accumulate(events[1:2], MODEL)["u"], MODEL)
    assert only_good["quiz_signal"] == 0.0  # capped at 0


def test_time_decay_half_life() -> None:
    # An enroll 14 days (one half-life) before a view counts half: 0.025 + 0.01.
    events = [e("course_interaction", {"action": "enroll"}, T0),
              e("course_interaction", {"action": "view"}, T0 + 14 * DAY_MS)]
    p = profile_view(accumulate(events, MODEL)["u"], MODEL)
    assert p["engagement_score"] == pytest.approx(0.035)
    # Seen 28 days after the last event: both decay, 0.035 / 4.
    later = profile_view(accumulate(events, MODEL)["u"], MODEL, as_of_ms=T0 + 42 * DAY_MS)
    assert later["engagement_score"] == pytest.approx(0.035 / 4)


def test_search_and_ui() -> None:
    events = [e("search", {"query": "Python SQL", "results_count": 3}, T0 + 1),
              e("search", {"query": "python", "results_count": 0}, T0 + 2),
              e("button_click", {"element_id": "enroll-btn"}, T0 + 3),
              e("link_click", {"element_id": "nav"}, T0 + 4)]
    p = profile_view(accumulate(events, MODEL)["u"], MODEL)
    assert p["engagement_score"] == pytest.approx(0.005 + 0.001 + 0.001)
    assert p["search"] == {"volume": 2, "zero_result_rate": 0.5, "top_terms": ["python", "sql"]}
    assert p["ui_interactions"] == {"button_click": 1, "link_click": 1}


def test_engagement_is_capped() -> None:
    events = [e("course_interaction", {"action": "enroll"}, T0 + i) for i in range(30)]
    assert profile_view(accumulate(events, MODEL)["u"], MODEL)["engagement_score"] == 1.0


def test_peak_hours() -> None:
    hours = [9, 9, 9, 14, 14, 20]
    events = [e("link_click", {}, T0 + h * 3_600_000 + i) for i, h in enumerate(hours)]
    assert profile_view(accumulate(events, MODEL)["u"], MODEL)["peak_hours"] == [9, 14, 20]


def test_mongo_update_shape() -> None:
    acc = accumulate([e("course_interaction", {"action": "view"}, T0 + 5)], MODEL)["u"]
    update = mongo_update(acc)
    assert update["$min"] == {"acc.first": T0 + 5} and update["$max"] == {"acc.last": T0 + 5}
    assert update["$inc"]["acc.n.course_interaction"] == 1
    assert update["$inc"][f"acc.eng.{T0 // DAY_MS}"] == 10_000


# --- invariants ----------------------------------------------------------------------------

_props = st.one_of(
    st.fixed_dictionaries({"action": st.sampled_from(["view", "enroll", "complete"]),
                           "course_category": st.sampled_from(["a", "b.c", "$d"])}),
    st.fixed_dictionaries({"duration": st.floats(1, 5000), "completion_rate": st.floats(0, 1)}),
    st.fixed_dictionaries({"score": st.integers(0, 10), "total_questions": st.just(10)}),
    st.fixed_dictionaries({"query": st.text(max_size=20), "results_count": st.integers(0, 3)}),
)
_types = {0: "course_interaction", 1: "learning_session", 2: "quiz_attempt", 3: "search"}
_event = st.builds(
    lambda kind, props, ts, user: Event(f"{user}-{ts}-{kind}", user, _types[kind], ts, None,
                                        props, "h"),
    st.integers(0, 3), _props, st.integers(T0, T0 + 60 * DAY_MS), st.sampled_from(["u", "v"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(_event, max_size=40), st.randoms())
def test_batch_equals_streaming_in_any_order(events: list[Event], rnd: Any) -> None:
    batch = accumulate(events, MODEL)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    streamed: dict[str, dict[str, Any]] = {}
    for event in shuffled:  # one event at a time, as per-event tasks would
        delta: dict[str, Any] = {}
        fold_event(delta, event, MODEL)
        merge(streamed.setdefault(event.user_id, {}), delta)
    assert streamed == batch
    for user in batch:
        assert profile_view(streamed[user], MODEL) == profile_view(batch[user], MODEL)


@settings(max_examples=100, deadline=None)
@given(st.lists(_event, max_size=30), st.integers(1, 5))
def test_split_batches_merge_to_the_same(events: list[Event], parts: int) -> None:
    whole = accumulate(events, MODEL)
    merged: dict[str, dict[str, Any]] = {}
    for i in range(parts):
        for user, delta in accumulate(events[i::parts], MODEL).items():
            merge(merged.setdefault(user, {}), delta)
    assert merged == whole
