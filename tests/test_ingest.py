"""The ingestion path on both store backends: consent, dedupe, dead letters, replay, and the
invariants (idempotency; batch equals per-event in any order) as property tests."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import mongo_store_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradvy_console.config import Config
from gradvy_console.ingest import Ingestor
from gradvy_console.live.sqlite import SqliteLive
from gradvy_console.store.sqlite import SqliteStore

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # each example makes its own temp dirs


def make(tmp_path: Path, backend: str) -> Ingestor:
    store: Any = (SqliteStore(tmp_path / "store.db") if backend == "sqlite"
                  else mongo_store_factory())
    live = SqliteLive(tmp_path / "live.db")
    ing = Ingestor(store, live, Config(data_dir=tmp_path))
    for user in ("u1", "u2"):
        store.record_consent(user, {"analytics": True, "behavioral_analysis": True},
                             method="t", version="1", legal_basis="consent", actor="t", at_ms=0)
    store.record_consent("stored-only", {"analytics": True}, method="t", version="1",
                         legal_basis="consent", actor="t", at_ms=0)
    return ing


def ev(eid: str, user: str = "u1", etype: str = "course_interaction", minute: int = 0,
       **props: Any) -> dict[str, Any]:
    return {"event_id": eid, "user_id": user, "event_type": etype,
            "timestamp": f"2025-12-31T10:{minute:02d}:00Z",
            "session_id": "s1", "properties": props or {"action": "view", "course_id": "c1"}}


@pytest.fixture(params=["sqlite", "mongomock"])
def ing(request: pytest.FixtureRequest, tmp_path: Path) -> Ingestor:
    return make(tmp_path, request.param)


def test_every_item_lands_in_one_bucket(ing: Ingestor) -> None:
    items = [ev("a"), ev("b", minute=1), ev("a"), ev("b", minute=2),  # dupe, collision
             ev("c", user="nobody"), {"user_id": "u1"}, b"{broken"]
    result = ing.ingest([(None, i) for i in items], at_ms=NOW)
    assert (result.processed, result.duplicates, result.no_consent, result.dead_lettered) == (
        2, 1, 1, 3)
    assert result.reasons == {"id_collision": 1, "missing_field": 1, "bad_json": 1}
    assert result.total == len(items)
    counters = ing.store.counters()
    assert counters["processed"] == 2 and counters["dead_lettered"] == 3
    assert ing.store.anon_counts() == {("2025-12-31", "course_interaction"): 1}


def test_each_item_gets_its_own_outcome(ing: Ingestor) -> None:
    """`ingest_each` (a group of per-event tasks): one transaction, one outcome per item."""
    import orjson

    ing.ingest([(None, ev("old"))], at_ms=NOW)
    receipts = ing.store.inbox_put([orjson.dumps(ev("r1", minute=7))] * 2, 0)
    with ing.store.transaction() as tx:         # a pending drain took the second row already
        tx.take_receipts([receipts[1]])
    items = [ev("a"), ev("old"), ev("a"), ev("a", minute=1), ev("c", user="nobody"),
             {"user_id": "u1"}, b"{broken", ev("r1", minute=7), ev("r2", minute=7)]
    each = ing.ingest_each([(None, i) for i in items[:7]] + [(receipts[0], items[7]),
                                                             (receipts[1], items[8])], at_ms=NOW)
    got = [(r.processed, r.duplicates, r.no_consent, r.dead_lettered, r.skipped, dict(r.reasons))
           for r in each]
    assert got == [(1, 0, 0, 0, 0, {}),                           # new
                   (0, 1, 0, 0, 0, {}),                           # stored before: duplicate
                   (0, 1, 0, 0, 0, {}),                           # same batch, same content
                   (0, 0, 0, 1, 0, {"id_collision": 1}),          # same id, other content
                   (0, 0, 1, 0, 0, {}),                           # no consent
                   (0, 0, 0, 1, 0, {"missing_field": 1}),
                   (0, 0, 0, 1, 0, {"bad_json": 1}),
                   (1, 0, 0, 0, 0, {}),                           # its inbox row, taken now
                   (0, 0, 0, 0, 1, {})]                           # its row was taken before
    assert ing.store.counters()["processed"] == 3


def test_second_delivery_changes_nothing(ing: Ingestor) -> None:
    ing.ingest([(None, ev("a")), (None, ev("b", minute=3))], at_ms=NOW)
    before = ing.store.get_user("u1")
    again = ing.ingest([(None, ev("a")), (None, ev("b", minute=3))], at_ms=NOW)
    assert again.duplicates == 2 and again.processed == 0
    assert ing.store.get_user("u1") == before
    collision = ing.ingest([(None, ev("a", minute=9))], at_ms=NOW)
    assert collision.reasons == {"id_collision": 1}
    assert ing.store.get_user("u1") == before


def test_consent_fails_closed(ing: Ingestor) -> None:
    result = ing.ingest([(None, ev("x", user="stranger")), (None, ev("y", user="stored-only"))],
                        at_ms=NOW)
    assert result.no_consent == 1 and result.processed == 1
    assert ing.store.user_events("stranger") == []
    assert ing.store.get_user("stranger") is None
    assert [e["event_id"] for e in ing.store.user_events("stored-only")] == ["y"]
    user = ing.store.get_user("stored-only")
    assert user is not None and user["acc"] == {}  # stored, never profiled
    assert ing.store.counters()["no_profile_consent"] == 1


def test_pii_masked_before_storage(ing: Ingestor) -> None:
    ing.ingest([(None, ev("p", etype="search", query="mail me a@b.com", results_count=1,
                          token="t0k"))], at_ms=NOW)
    stored = ing.store.user_events("u1")[0]["properties"]
    assert stored == {"query": "mail me [email]", "results_count": 1}
    counters = ing.store.counters()
    assert counters["pii_masked"] == 1 and counters["keys_dropped"] == 1


def test_inbox_receipts_taken_once(ing: Ingestor) -> None:
    import orjson

    receipts = ing.store.inbox_put([orjson.dumps(ev("r1")), orjson.dumps(ev("r2", minute=1))], 0)
    items: list[tuple[str | None, Any]] = list(ing.store.inbox_get(receipts))
    first = ing.ingest(items, at_ms=NOW)
    second = ing.ingest(items, at_ms=NOW)  # e.g. a task and the pending drain both got it
    assert first.processed == 2 and second.skipped == 2 and second.total == 0
    assert ing.store.inbox_count() == 0


def test_replay_of_half_done_receipt_is_not_a_duplicate(tmp_path: Path) -> None:
    """MongoDB has no multi-document transaction: an interrupted batch is replayed from the
    inbox, and events already stored from the same receipt are recognised."""
    import orjson

    ing = make(tmp_path, "mongomock")
    receipts = ing.store.inbox_put([orjson.dumps(ev("m1"))], 0)
    event = ing.ingest([(None, ev("m1"))], at_ms=NOW)  # stored, but under no receipt
    assert event.processed == 1
    with ing.store.transaction() as tx:  # simulate: stored with its receipt, inbox not deleted
        tx.existing_events(["m1"])
    store: Any = ing.store
    store.db.events.update_one({"_id": "m1"}, {"$set": {"receipt": receipts[0]}})
    replay = ing.ingest(list(ing.store.inbox_get(receipts)), at_ms=NOW)
    assert replay.replayed == 1 and replay.duplicates == 0 and replay.processed == 0
    assert ing.store.inbox_count() == 0


def test_live_state_follows(ing: Ingestor) -> None:
    at = NOW - 13 * 3_600_000  # 2025-12-31T11:00Z, within the hour of the events
    ing.ingest([(None, ev("a")), (None, ev("b", minute=5, action="enroll"))], at_ms=at)
    day = ing.live.user_day("u1", "2025-12-31", at)
    assert day is not None and day["counts"] == {"course_interaction": 2}
    assert [e["event_id"] for e in ing.live.session_events("u1", "s1", at)] == ["a", "b"]
    assert ing.live.counters()["processed"] == 2


def test_live_state_skips_what_would_already_be_stale(ing: Ingestor) -> None:
    """A backfill of last month writes no session lists or user-days (they expire after 1 h and
    24 h); it still counts in events per minute and the counters."""
    ing.ingest([(None, ev("old"))], at_ms=NOW + 30 * 86_400_000)
    assert ing.live.user_day("u1", "2025-12-31", NOW) is None
    assert ing.live.session_events("u1", "s1", NOW) == []
    assert ing.live.counters()["processed"] == 1


# --- invariants through the real store -----------------------------------------------------

_actions = st.sampled_from(["view", "enroll", "complete"])
_raw = st.builds(
    lambda i, user, minute, action: ev(f"e{i}", user=user, minute=minute, action=action,
                                       course_category="cat"),
    st.integers(0, 25), st.sampled_from(["u1", "u2"]), st.integers(0, 59), _actions)


def _unique_by_id(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        seen.setdefault(e["event_id"], e)
    return list(seen.values())


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(st.lists(_raw, min_size=1, max_size=30), st.integers(0, 10_000))
def test_batch_equals_per_event_any_order_with_duplicates(
        tmp_path_factory: pytest.TempPathFactory, raws: list[dict[str, Any]], seed: int) -> None:
    events = _unique_by_id(raws)
    batch = make(tmp_path_factory.mktemp("b"), "sqlite")
    batch.ingest([(None, e) for e in events], at_ms=NOW)

    rnd = random.Random(seed)
    stream_items = events + [rnd.choice(events) for _ in range(len(events) // 2)]  # resent
    rnd.shuffle(stream_items)
    streaming = make(tmp_path_factory.mktemp("s"), "sqlite")
    for item in stream_items:
        streaming.ingest([(None, item)], at_ms=NOW)

    for user in ("u1", "u2"):
        a, b = batch.store.get_user(user), streaming.store.get_user(user)
        assert a is not None and b is not None
        assert a["acc"] == b["acc"]
    assert batch.store.counters()["processed"] == streaming.store.counters()["processed"]


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(st.lists(_raw, min_size=1, max_size=30), st.lists(st.integers(0, 29), max_size=10))
def test_a_group_of_events_ends_as_each_alone(tmp_path_factory: pytest.TempPathFactory,
                                              raws: list[dict[str, Any]],
                                              resent: list[int]) -> None:
    """Group commit: what each item of a group became, and the profiles it left, are what
    ingesting the items one by one, in the same order, gives."""
    items = raws + [raws[i % len(raws)] for i in resent]
    group = make(tmp_path_factory.mktemp("g"), "sqlite")
    each = group.ingest_each([(None, e) for e in items], at_ms=NOW)
    alone = make(tmp_path_factory.mktemp("a"), "sqlite")
    one_by_one = [alone.ingest([(None, e)], at_ms=NOW) for e in items]
    assert [r.as_dict() for r in each] == [r.as_dict() for r in one_by_one]
    for user in ("u1", "u2"):
        assert group.store.get_user(user) == alone.store.get_user(user)
    assert group.store.counters() == alone.store.counters()


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(st.lists(_raw, min_size=1, max_size=30))
def test_processing_twice_changes_nothing(tmp_path_factory: pytest.TempPathFactory,
                                          raws: list[dict[str, Any]]) -> None:
    events = _unique_by_id(raws)
    ing = make(tmp_path_factory.mktemp("i"), "sqlite")
    ing.ingest([(None, e) for e in events], at_ms=NOW)
    snapshot = [ing.store.get_user(u) for u in ("u1", "u2")], ing.store.count_events()
    again = ing.ingest([(None, e) for e in events], at_ms=NOW)
    assert again.duplicates == len(events) and again.processed == 0
    assert ([ing.store.get_user(u) for u in ("u1", "u2")], ing.store.count_events()) == snapshot
