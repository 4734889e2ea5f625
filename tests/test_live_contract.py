"""One contract suite for live state: SQLite file and a real Redis server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gradvy_console.live import LiveBatch, LiveState
from gradvy_console.live.sqlite import SqliteLive


@pytest.fixture(params=["sqlite", "redis"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveState]:
    if request.param == "sqlite":
        state: LiveState = SqliteLive(tmp_path / "live.db", session_max=3)
    else:
        import redis

        from gradvy_console.live.redis import RedisLive

        url = request.getfixturevalue("redis_url")
        state = RedisLive(redis.Redis.from_url(url), session_max=3)
    yield state
    state.close()


def now() -> int:
    return int(time.time() * 1000)


def test_record_batch(live: LiveState) -> None:
    t = now()
    batch = LiveBatch(
        user_days={("u1", "2026-01-01"): (t - 5, {"search": 2, "quiz_attempt": 1})},
        sessions={("u1", "s1"): [{"event_id": f"e{i}", "event_type": "search", "ts": t + i}
                                 for i in range(5)]},
        minute_counts={"search": 2, "quiz_attempt": 1},
        counters={"processed": 3},
    )
    live.record_batch(batch, t)
    older = LiveBatch(user_days={("u1", "2026-01-01"): (t - 100, {"search": 1})},
                      counters={"processed": 1, "duplicates": 2})
    live.record_batch(older, t)
    day = live.user_day("u1", "2026-01-01", t)
    assert day == {"last_ms": t - 5, "counts": {"search": 3, "quiz_attempt": 1}}
    # Bounded: the last three events of the session, in order.
    assert [e["event_id"] for e in live.session_events("u1", "s1", t)] == ["e2", "e3", "e4"]
    assert live.events_per_minute(t)[t // 60_000] == {"search": 2, "quiz_attempt": 1}
    assert live.counters() == {"processed": 4, "duplicates": 2}
    assert live.user_day("u1", "2026-01-02", t) is None


def test_concurrent_increments_are_not_lost(live: LiveState) -> None:
    def worker() -> None:
        for _ in range(50):
            live.incr({"processed": 1})
            live.record_batch(LiveBatch(counters={"dead_lettered": 1}), now())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert live.counters() == {"processed": 200, "dead_lettered": 200}


def test_json_values_expire_and_scan(live: LiveState) -> None:
    live.put_json("hb:a", {"pid": 1}, ttl_s=30)
    live.put_json("hb:b", {"pid": 2}, ttl_s=0.05)
    live.put_json("analysis:u1", {"x": 1}, ttl_s=30, user_id="u1")
    assert live.get_json("hb:a", now()) == {"pid": 1}
    deadline = time.monotonic() + 5
    while live.get_json("hb:b", now()) is not None:
        assert time.monotonic() < deadline, "value did not expire"
        time.sleep(0.02)
    assert live.scan_json("hb:", now()) == {"hb:a": {"pid": 1}}
    live.delete_json("hb:a")
    assert live.scan_json("hb:", now()) == {}
    # A narrower prefix within a kind, kinds that share a beginning, and a kind no index
    # keeps (found by scanning) all answer alike.
    live.put_json("ctl:p1:1", {"cmd": "a"}, ttl_s=30)
    live.put_json("ctl:p2:1", {"cmd": "b"}, ttl_s=30)
    live.put_json("sup:p1", {"id": "p1"}, ttl_s=30)
    live.put_json("sup-stopped:p0", {"id": "p0"}, ttl_s=30)
    assert live.scan_json("ctl:p1:", now()) == {"ctl:p1:1": {"cmd": "a"}}
    assert live.scan_json("sup:", now()) == {"sup:p1": {"id": "p1"}}
    assert live.scan_json("sup-stopped:", now()) == {"sup-stopped:p0": {"id": "p0"}}
    assert live.scan_json("analysis:", now()) == {"analysis:u1": {"x": 1}}


def test_user_keys_find_everything_of_a_user(live: LiveState) -> None:
    t = now()
    live.record_batch(LiveBatch(user_days={("u7", "2026-01-01"): (t, {"search": 1})},
                                sessions={("u7", "s1"): [{"event_id": "e", "ts": t}]}), t)
    live.put_json("analysis:u7", {"x": 1}, ttl_s=30, user_id="u7")
    live.put_json("analysis:u8", {"x": 1}, ttl_s=30, user_id="u8")
    keys: Any = live.user_keys("u7", t)
    # Day counts, the session and the cached analysis (Redis also lists its per-user index).
    assert all("u7" in k for k in keys)
    assert any(":d:" in k or "user_day" in k for k in keys)
    assert any(":s:" in k or "session" in k for k in keys)
    assert any("analysis:u7" in k for k in keys)


def test_claim_once_until_expiry(live: LiveState) -> None:
    assert live.claim("periodic:job:1", ttl_s=0.3) is True
    assert live.claim("periodic:job:1", ttl_s=0.3) is False
    assert live.claim("periodic:job:2", ttl_s=0.3) is True
    deadline = time.monotonic() + 5
    while not live.claim("periodic:job:1", ttl_s=30):
        assert time.monotonic() < deadline, "claim never expired"
        time.sleep(0.05)


def test_bounded_lists(live: LiveState) -> None:
    for i in range(7):
        live.push_bounded("history:5s", {"i": i}, max_len=5, ttl_s=30)
    assert live.get_list("history:5s", now()) == [{"i": i} for i in range(2, 7)]
    assert live.get_list("history:5s", now(), last=2) == [{"i": 5}, {"i": 6}]   # newest two
    assert live.get_list("history:5s", now(), last=50) == [{"i": i} for i in range(2, 7)]
    assert live.get_list("history:other", now()) == []


def test_erase_users_removes_a_learners_entries_only(live: LiveState) -> None:
    from gradvy_console.analytics.privacy import terms_for

    t = now()
    live.record_batch(LiveBatch(
        user_days={("u7", "2026-01-01"): (t, {"search": 1}), ("u77", "2026-01-01"): (t, {})},
        sessions={("u7", "s1"): [{"event_id": "e1", "event_type": "search", "ts": t}]}), t)
    live.put_json("analysis:u7", {"user_id": "u7"}, ttl_s=60, user_id="u7")
    live.put_json("analysis:u77", {"user_id": "u77"}, ttl_s=60, user_id="u77")
    live.put_json("metrics:pipeline", {"recent": ["u7"]}, ttl_s=60)
    live.push_bounded("history", {"who": "u7"}, 10, 60)
    live.push_bounded("history", {"who": "u77"}, 10, 60)
    terms = terms_for(["u7"])
    assert live.find_terms(terms) >= 4
    assert live.erase_users(["u7"], terms) >= 4
    assert live.find_terms(terms) == 0
    assert live.user_keys("u7", now()) == []
    assert live.get_json("analysis:u77", now()) == {"user_id": "u77"}
    assert live.get_list("history", now()) == [{"who": "u77"}]
