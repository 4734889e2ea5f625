"""One contract suite for every document store backend: SQLite, mongomock, and a real MongoDB
whenever GRADVY_TEST_MONGO_URL is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import mongo_store_factory

from gradvy_console.analytics.events import Event, Rejection
from gradvy_console.analytics.scoring import ScoringModel, accumulate
from gradvy_console.store.base import DocumentStore
from gradvy_console.store.sqlite import SqliteStore

BACKENDS = ["sqlite", "mongomock"] + (["mongodb"] if os.environ.get("GRADVY_TEST_MONGO_URL")
                                      else [])


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        s: Any = SqliteStore(tmp_path / "store.db")
    else:
        s = mongo_store_factory()
    yield s
    if request.param == "mongodb":
        s.client.drop_database(s.db.name)


def event(eid: str, user: str = "u1", ts: int = 1_000, h: str = "h1") -> Event:
    return Event(eid, user, "search", ts, "s1", {"query": "q"}, h)


def test_events_insert_and_existing(store: DocumentStore) -> None:
    with store.transaction() as tx:
        inserted, raced = tx.insert_events([event("e1"), event("e2", ts=2_000)],
                                           {"e1": "7", "e2": None})
        assert [e.event_id for e in inserted] == ["e1", "e2"] and raced == {}
    with store.transaction() as tx:
        found = tx.existing_events(["e1", "e2", "e3"])
    assert set(found) == {"e1", "e2"}
    assert found["e1"].receipt == "7" and found["e1"].content_hash == "h1"
    assert store.count_events() == 2
    events = store.user_events("u1")
    assert [e["event_id"] for e in events] == ["e1", "e2"]
    assert events[0]["properties"] == {"query": "q"}


def test_inbox_claim_lease_and_take(store: DocumentStore) -> None:
    receipts = store.inbox_put([b'{"a":1}', b'{"a":2}', b'{"a":3}'], at_ms=10)
    assert len(set(receipts)) == 3 and store.inbox_count() == 3
    assert store.inbox_oldest_ms() == 10
    first = store.inbox_claim(2, lease_ms=1000, now_ms=100)
    assert [p for _, p in first] == [b'{"a":1}', b'{"a":2}']
    # Leased rows are not offered again until the lease runs out.
    assert [p for _, p in store.inbox_claim(5, 1000, 200)] == [b'{"a":3}']
    assert store.inbox_claim(5, 1000, 300) == []
    assert len(store.inbox_claim(5, 1000, 1150)) == 2  # row 3 stays leased until 1200
    with store.transaction() as tx:
        taken = tx.take_receipts([first[0][0], "999999"])
    assert taken == {first[0][0]}
    assert store.inbox_count() == 2
    assert store.inbox_get([first[1][0]]) == [first[1]]


def test_inbox_release_offers_leased_rows_again(store: DocumentStore) -> None:
    receipts = store.inbox_put([b'{"a":1}', b'{"a":2}', b'{"a":3}'], at_ms=10)
    claimed = store.inbox_claim(3, lease_ms=60_000, now_ms=100)
    assert store.inbox_claim(3, 60_000, 200) == []
    with store.transaction() as tx:  # one row was processed meanwhile: releasing skips it
        tx.take_receipts([receipts[0]])
    assert store.inbox_release([r for r, _ in claimed]) == 2
    assert [p for _, p in store.inbox_claim(3, 60_000, 300)] == [b'{"a":2}', b'{"a":3}']
    assert store.inbox_release([]) == 0


def test_inbox_receipts_name_their_own_rows(store: DocumentStore) -> None:
    """Each receipt `inbox_put` returns is the row of the payload at its place, across the
    statement chunks and after rows were taken (ids derived, not read back)."""
    first = store.inbox_put([b'{"n":-1}'], at_ms=1)
    with store.transaction() as tx:
        tx.take_receipts(first)
    for size in (1, 7, 400, 1001):
        payloads = [b'{"n":%d}' % i for i in range(size)]
        receipts = store.inbox_put(payloads, at_ms=5)
        assert len(set(receipts)) == size
        got = dict(store.inbox_get(receipts))
        assert [got[r] for r in receipts] == payloads
        with store.transaction() as tx:
            tx.take_receipts(receipts[::2])
    assert store.inbox_count() == sum(size // 2 for size in (1, 7, 400, 1001))


def test_dead_letters_keep_payload_and_reason(store: DocumentStore) -> None:
    with store.transaction() as tx:
        tx.add_dead_letters([Rejection("missing_field", "user_id is required", {"x": 1},
                                       None, None),
                             Rejection("bad_json", "line 3", b"{nope", None, "u9")],
                            ["5", None], at_ms=42)
    with store.transaction() as tx:  # same receipt again: a replay adds nothing
        tx.add_dead_letters([Rejection("missing_field", "again", {"x": 1})], ["5"], at_ms=43)
    letters = store.dead_letters()
    assert store.count_dead_letters() == 2
    assert {d["reason"] for d in letters} == {"missing_field", "bad_json"}
    by_reason = {d["reason"]: d for d in letters}
    assert by_reason["missing_field"]["payload"] == '{"x":1}'
    assert by_reason["bad_json"]["payload"] == "{nope" and by_reason["bad_json"]["user_id"] == "u9"
    assert [d["reason"] for d in store.dead_letters(reason="bad_json")] == ["bad_json"]
    assert store.dead_letter(by_reason["bad_json"]["id"]) == by_reason["bad_json"]
    removed = store.remove_dead_letter(by_reason["bad_json"]["id"])
    assert removed is not None and removed["payload"] == "{nope"
    assert store.remove_dead_letter(by_reason["bad_json"]["id"]) is None
    assert store.remove_dead_letter("no-such-id") is None
    assert [d["reason"] for d in store.dead_letters()] == ["missing_field"]


def test_iter_events_in_batches(store: DocumentStore) -> None:
    with store.transaction() as tx:
        tx.insert_events([event(f"e{i}", user=f"u{i % 3}", ts=1000 + i) for i in range(7)],
                         {f"e{i}": None for i in range(7)})
    batches = list(store.iter_events(batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [e for b in batches for e in b]
    assert sorted(e["ts"] for e in flat) == list(range(1000, 1007))
    assert flat[0]["properties"] == {"query": "q"} and flat[0]["event_type"] == "search"
    assert len([e for b in store.iter_events(since_ms=1005) for e in b]) == 2


def test_action_log_newest_first(store: DocumentStore) -> None:
    for i, outcome in enumerate(["running", "done"]):
        store.record_action({"action_id": "0000000000001-a", "who": "op", "action": "process",
                             "params": {}, "started_ms": 1, "outcome": outcome, "ok": i == 1})
    store.record_action({"action_id": "0000000000002-b", "who": "op", "action": "simulate",
                         "params": {"count": 5}, "started_ms": 2, "outcome": "ok", "ok": True})
    log = store.actions()
    assert [a["action"] for a in log] == ["simulate", "process"]
    assert log[1]["outcome"] == "done" and log[0]["params"] == {"count": 5}
    assert len(store.actions(limit=1)) == 1


def test_consent_and_history(store: DocumentStore) -> None:
    assert store.consent_for(["u1"]) == {}
    granted = store.record_consent("u1", {"analytics": True, "marketing": True}, method="form",
                                   version="2", legal_basis="consent", actor="t", at_ms=1)
    assert granted == {"analytics", "marketing"}
    granted = store.record_consent("u1", {"marketing": False}, method="api", version="3",
                                   legal_basis="consent", actor="t", at_ms=2)
    assert granted == {"analytics"}
    assert store.consent_for(["u1", "u2"]) == {"u1": {"analytics"}}
    assert store.get_users(["u1", "u2"]) == {"u1": store.get_user("u1")}
    history = store.consent_history("u1")
    assert [(h["purpose"], h["granted"], h["method"]) for h in history] == [
        ("analytics", True, "form"), ("marketing", True, "form"), ("marketing", False, "api")]


def test_profile_deltas_add_up(store: DocumentStore) -> None:
    store.record_consent("u1", {"analytics": True}, method="t", version="1",
                         legal_basis="consent", actor="t", at_ms=1)
    d1 = {"n": {"search": 2}, "eng": {"5": 100}, "first": 50, "last": 90}
    d2 = {"n": {"search": 1, "quiz_attempt": 1}, "eng": {"5": 10, "6": 1}, "first": 40,
          "last": 80, "quiz": {"n": 1, "ratio": 500_000}}
    with store.transaction() as tx:
        tx.apply_profile_deltas({"u1": d1, "u2": d2}, at_ms=100)
    with store.transaction() as tx:
        tx.apply_profile_deltas({"u1": d2}, at_ms=200)
    user = store.get_user("u1")
    assert user is not None
    assert user["acc"] == {"n": {"search": 3, "quiz_attempt": 1}, "eng": {"5": 110, "6": 1},
                           "first": 40, "last": 90, "quiz": {"n": 1, "ratio": 500_000}}
    assert user["consent"] == {"analytics": True}  # profile writes keep consent
    assert store.count_users() == 2
    assert store.count_users_active_since(85) == 1
    assert [u["user_id"] for u in store.iter_users(batch=1)] == ["u1", "u2"]


def test_counters_and_anon_counts(store: DocumentStore) -> None:
    with store.transaction() as tx:
        tx.add_counters({"processed": 3, "duplicates": 0})
        tx.add_anon_counts({("2026-01-01", "search"): 2})
    with store.transaction() as tx:
        tx.add_counters({"processed": 2, "dead_lettered": 1})
        tx.add_anon_counts({("2026-01-01", "search"): 1})
    assert store.counters() == {"processed": 5, "dead_lettered": 1}
    assert store.anon_counts() == {("2026-01-01", "search"): 3}


def test_counters_taken_back_are_as_if_never_counted(store: DocumentStore) -> None:
    with store.transaction() as tx:
        tx.add_counters({"processed": 5, "rejected:missing_field": 1, "duplicates": 2})
    store.take_back_counters({"processed": 2, "rejected:missing_field": 1, "duplicates": 2,
                              "never_counted": 0})
    assert store.counters() == {"processed": 3}


def test_documents(store: DocumentStore) -> None:
    store.put_documents("courses", [{"_id": "c1", "category": "x"}, {"_id": "c2"}])
    store.put_documents("courses", [{"_id": "c1", "category": "y"}])
    store.put_documents("truth", [{"_id": "t1", "user_id": "u1", "persona": "casual"}])
    assert store.get_documents("courses") == [{"_id": "c1", "category": "y"}, {"_id": "c2"}]
    assert store.get_documents("truth", user_id="u1")[0]["persona"] == "casual"
    assert store.get_documents("truth", user_id="u2") == []


def test_task_runs_bounded_and_queried(store: DocumentStore) -> None:
    runs = [{"task_id": f"t{i}", "task": "batch_process_events", "queue": "realtime",
             "status": "failed" if i % 5 == 0 else "complete", "ended_ms": 1000 + i,
             "duration_s": 0.01 * i, "error": "boom" if i % 5 == 0 else None,
             "args_json": "[]"} for i in range(30)]
    store.add_task_runs(runs[:20], keep=10)
    store.add_task_runs(runs[20:], keep=10)
    newest = store.task_runs(limit=100)
    assert newest[0]["task_id"] == "t29"
    completes = [r for r in newest if r["status"] == "complete"]
    assert {r["task_id"] for r in completes} <= {f"t{i}" for i in range(20, 30)}
    failed = store.task_runs(failed_only=True, limit=100)
    assert [r["task_id"] for r in failed] == ["t25", "t20", "t15", "t10", "t5", "t0"]
    assert store.task_run("t15")["error"] == "boom"  # type: ignore[index]
    assert store.task_run("nope") is None
    assert len(store.task_runs(since_ms=1025, limit=100)) == 5
    assert store.count_failed_runs(since_ms=0) == 6
    assert store.count_failed_runs(since_ms=1015) == 3


def test_alert_history(store: DocumentStore) -> None:
    store.record_alert({"alert_id": "a1", "kind": "cpu", "severity": "warning",
                        "raised_ms": 10, "cleared_ms": None})
    store.record_alert({"alert_id": "a2", "kind": "disk", "severity": "critical",
                        "raised_ms": 20, "cleared_ms": None})
    store.record_alert({"alert_id": "a1", "kind": "cpu", "severity": "warning",
                        "raised_ms": 10, "cleared_ms": 30})
    assert [a["alert_id"] for a in store.alerts(active_only=True)] == ["a2"]
    assert [a["alert_id"] for a in store.alerts()] == ["a2", "a1"]
    assert store.alerts()[1]["cleared_ms"] == 30


def test_inbox_peek_partitions_and_leases(store: DocumentStore) -> None:
    receipts = store.inbox_put([b'{"n":%d}' % i for i in range(6)], at_ms=0)
    leased = store.inbox_put([b'{"n":99}'], at_ms=0, lease_ms=10_000)  # a task is on its way
    ids = [int(r) for r in receipts]
    evens = store.inbox_peek(10, now_ms=5, partition=(2, 0))
    odds = store.inbox_peek(10, now_ms=5, partition=(2, 1))
    assert sorted(int(r) for r, _ in evens + odds) == ids  # disjoint, complete, lease respected
    assert all(int(r) % 2 == 0 for r, _ in evens)
    assert [r for r, _ in store.inbox_peek(2, now_ms=5, after=ids[2])] == receipts[3:5]
    assert leased[0] in [r for r, _ in store.inbox_peek(10, now_ms=2**62)]
    assert store.inbox_count() == 7  # peeking takes nothing


# --- privacy: erasure, search, suppression, consent rows, retention ----------------------------

def _plant_learner(store: DocumentStore, user: str, other: str) -> None:
    from gradvy_console.analytics.events import MISSING_FIELD

    with store.transaction() as tx:
        tx.insert_events([event(f"{user}-e1", user), event(f"{user}-e2", user, ts=2_000),
                          event(f"{other}-e1", other)], {})
        tx.apply_profile_deltas({user: {"events": 2}, other: {"events": 1}}, 5)
        tx.add_dead_letters([Rejection(MISSING_FIELD, "event_type is required",
                                       {"user_id": user, "mail": "x"}, None, None)], [None], 5)
    store.inbox_put([f'{{"user_id": "{user}", "event_type": "search"}}'.encode(),
                     f'{{"user_id": "{other}", "event_type": "search"}}'.encode()], 5)
    store.record_consent(user, {"analytics": True}, method="form", version="1",
                         legal_basis="consent", actor="t", at_ms=1)
    store.record_consent(other, {"analytics": True}, method="form", version="1",
                         legal_basis="consent", actor="t", at_ms=1)
    store.put_documents("user_analysis", [{"_id": f"{user}:1", "user_id": user, "as_of_ms": 1},
                                          {"_id": f"{other}:1", "user_id": other,
                                           "as_of_ms": 1}])
    store.put_documents("action_log", [{"_id": "a1", "action_id": "a1", "action": "consent",
                                        "params": {"user_id": user}, "started_ms": 1}])
    store.add_task_runs([{"task_id": "t1", "task": "analyze_user_behavior", "queue": "analytics",
                          "status": "failed", "started_ms": 1, "ended_ms": 2, "duration_s": 1,
                          "error": f"boom for {user}", "args_summary": user,
                          "args_json": {"args": [user]}}])


def test_erase_users_removes_the_learner_and_keeps_the_other(store: DocumentStore) -> None:
    from gradvy_console.analytics.privacy import terms_for

    _plant_learner(store, "u7", "u77")
    terms = terms_for(["u7"])
    assert store.find_terms(terms)
    removed = store.erase_users(["u7"], terms, "erased:s-1")
    assert removed["events"] == 2 and removed["users"] == 1 and removed["consent_history"] == 1
    assert removed["dead_letters"] == 1 and removed["inbox"] == 1
    assert removed["user_analysis"] == 1
    assert store.find_terms(terms) == {}
    # The other learner, whose id contains this one's, is untouched.
    assert [e["event_id"] for e in store.user_events("u77")] == ["u77-e1"]
    assert store.get_user("u77") is not None and store.consent_for(["u77"]) == {
        "u77": {"analytics"}}
    assert store.inbox_count() == 1
    assert store.get_documents("user_analysis", user_id="u77")
    # Records about others are pseudonymised, not lost.
    log = store.get_documents("action_log")
    assert log[0]["params"] == {"user_id": "erased:s-1"}
    run = store.task_run("t1")
    assert run is not None and run["args_json"] is None and "u7" not in str(run)
    assert store.erase_users(["u7"], terms, "erased:s-1") == {}   # idempotent


def test_events_counted_by_event_time(store: DocumentStore) -> None:
    hour = 3_600_000
    with store.transaction() as tx:
        tx.insert_events([event("e1", "u1", ts=10 * hour + 5), event("e2", "u1", ts=10 * hour),
                          event("e3", "u2", ts=11 * hour + hour - 1),
                          event("e4", "u2", ts=9 * hour + 1)], {})
    assert store.event_counts(10 * hour, hour) == {10 * hour: 2, 11 * hour: 1}
    assert store.event_counts(0, 24 * hour) == {0: 4}
    assert store.event_counts(12 * hour, hour) == {}


def test_known_ids_and_events_in_a_time_range(store: DocumentStore) -> None:
    _plant_learner(store, "u7", "u8")
    assert {"u7", "u8"} <= store.known_user_ids()
    assert store.count_user_events("u7", 0, 1_500) == 1
    assert store.count_user_events("u7", 0, 3_000) == 2


def test_suppression_inside_the_ingest_transaction(store: DocumentStore) -> None:
    with store.transaction() as tx:
        assert not tx.any_suppressed()
    store.suppress("s-abc", {"request_id": "r1", "at_ms": 1})
    with store.transaction() as tx:
        assert tx.any_suppressed()
        assert tx.suppressed(["s-abc", "s-def"]) == {"s-abc"}
    assert store.unsuppress("s-abc") and not store.unsuppress("s-abc")


def test_consent_rows_are_idempotent_and_newest_wins(store: DocumentStore) -> None:
    from gradvy_console.analytics.privacy import ConsentRow

    rows = [ConsentRow("u1", {"analytics": True}, "form", "2", "consent", 2_000),
            ConsentRow("u1", {"analytics": False}, "form", "1", "consent", 1_000)]
    assert store.record_consents(rows, "import") == 2
    assert store.record_consents(rows, "import") == 0
    assert store.consent_for(["u1"]) == {"u1": {"analytics"}}   # the newer grant stands
    assert len(store.consent_history("u1")) == 2


def test_retention_oldest_count_and_expire(store: DocumentStore) -> None:
    with store.transaction() as tx:
        tx.insert_events([event(f"e{i}", ts=i * 1_000) for i in range(1, 11)], {})
    assert store.oldest_ms("events") == 1_000
    assert store.count_older("events", 5_500) == 5
    assert store.expire("events", 5_500, 3) == 3
    assert store.expire("events", 5_500, 3) == 2
    assert store.count_events() == 5 and store.oldest_ms("events") == 6_000
    assert store.oldest_ms("dead_letters") is None


def test_checkpoints_aside_reach_the_database_file(tmp_path: Path) -> None:
    """After `checkpoint_aside`, this thread's commits never checkpoint (no stall in them), yet
    the rows reach the database file: the background thread checkpoints them; `close` stops it."""
    import time

    store = SqliteStore(tmp_path / "store.db")
    store.checkpoint_aside(interval=0.2)
    path = tmp_path / "store.db"
    before = path.stat().st_size
    for _ in range(40):
        store.inbox_put([b"x" * 1000] * 50, at_ms=1)    # 2 MB, far past 1,000 WAL pages
    deadline = time.monotonic() + 10
    while path.stat().st_size < before + 1_500_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= before + 1_500_000
    thread = store._checkpointer
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive() and store.inbox_count() == 2000


def test_mongo_store_has_no_checkpoints_to_move() -> None:
    store: Any = mongo_store_factory()
    store.checkpoint_aside()    # nothing to do, and no failure


def test_find_users_by_prefix_most_recently_active_first(store: DocumentStore) -> None:
    day = 86_400_000
    events = [Event(f"e{i}", user, "search", 1_700_000_000_000 + i * day, None, {}, f"h{i}")
              for i, user in enumerate(["sim-u00002", "sim-u00001", "sim-u00003", "other"])]
    with store.transaction() as tx:
        tx.insert_events(events, {})
        tx.apply_profile_deltas(accumulate(events, ScoringModel()), 1_800_000_000_000)
    found = store.find_users("sim-u", limit=2)
    assert [u["user_id"] for u in found] == ["sim-u00003", "sim-u00001"]
    assert [u["user_id"] for u in store.find_users("oth")] == ["other"]
    assert store.find_users("nobody") == []
