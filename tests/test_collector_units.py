"""The collector's pure parts on hand-computed cases: bodies, the clock correction, token
buckets, keys, the write-key settings, and the Prometheus families built from status data."""

from __future__ import annotations

import base64
import gzip
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from gradvy_console.collector.body import (
    BodyError,
    check_content_type,
    check_encoding,
    correct_clock,
    gunzip,
    parse_items,
)
from gradvy_console.collector.keys import Bucket, KeyRing, key_hash, new_key, presented_key
from gradvy_console.collector.metrics import render_pipeline
from gradvy_console.config import config_from_table, load_config
from gradvy_console.errors import ConfigError
from gradvy_console.queues.metrics import duration_counters, task_histograms


# --- bodies ----------------------------------------------------------------------------------
def test_the_three_shapes_of_a_body() -> None:
    one, sent = parse_items(b'{"a": 1}', "json", 10)
    assert [i.value for i in one] == [{"a": 1}] and sent is None
    many, _ = parse_items(b'[{"a": 1}, 2]', "json", 10)
    assert [i.value for i in many] == [{"a": 1}, 2]
    batch, sent = parse_items(b'{"batch": [{"a": 1}], "sent_at": "2026-01-01T00:00:00Z"}',
                              "json", 10)
    assert [i.value for i in batch] == [{"a": 1}] and sent == "2026-01-01T00:00:00Z"
    lines, _ = parse_items(b'{"a": 1}\n\nnope\n{"b": 2}\n', "ndjson", 10)
    assert [(i.value, i.error) for i in lines] == [({"a": 1}, None),
                                                  (None, "this line is not JSON"),
                                                  ({"b": 2}, None)]
    # A JSON body that is several lines of objects is read as NDJSON too.
    assert len(parse_items(b'{"a": 1}\n{"b": 2}', "json", 10)[0]) == 2


@pytest.mark.parametrize("body,status,code", [
    (b"", 400, "empty_body"), (b"[]", 400, "empty_body"), (b"nope", 400, "bad_json"),
    (b"[1,2,3]", 413, "too_many_events"), (b"1\n2\n3\n", 413, "too_many_events"),
])
def test_bodies_that_cannot_be_taken(body: bytes, status: int, code: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_items(body, "json", 2)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_content_types_and_encodings() -> None:
    assert check_content_type("application/json; charset=utf-8") == "json"
    assert check_content_type("text/plain;charset=UTF-8") == "json"
    assert check_content_type("application/x-ndjson") == "ndjson"
    for bad in (None, "", "text/html", "multipart/form-data"):
        with pytest.raises(BodyError) as caught:
            check_content_type(bad)
        assert caught.value.status == 415
    assert check_encoding(None) is False and check_encoding("gzip") is True
    with pytest.raises(BodyError) as caught:
        check_encoding("deflate")
    assert caught.value.status == 415


def test_gunzip_stops_a_bomb_at_the_limit() -> None:
    assert gunzip(gzip.compress(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(BodyError) as caught:
        gunzip(gzip.compress(b"x" * 101), 100)
    assert caught.value.status == 413
    with pytest.raises(BodyError) as caught:
        gunzip(gzip.compress(b"x" * 10_000_000), 1000)   # never inflated past 1,001 bytes
    assert caught.value.status == 413
    with pytest.raises(BodyError) as caught:
        gunzip(gzip.compress(b"x" * 100)[:-10], 1000)
    assert caught.value.code == "bad_gzip"


def test_the_clock_correction_on_a_hand_computed_case() -> None:
    # The client's clock is 1 h 0 m 10 s fast: it stamped the event at 12:00:00 and sent it at
    # 12:00:30 by its clock; we received it at 11:00:20. The event happened 30 s before the
    # send, so at 10:59:50.
    received = 1_767_265_220_000          # 2026-01-01T11:00:20Z
    fixed = correct_clock({"timestamp": "2026-01-01T12:00:00Z"}, "2026-01-01T12:00:30Z",
                          received)
    assert fixed == {"timestamp": "2026-01-01T10:59:50.000Z"}
    # An event's own sent_at wins and is not kept; without any, nothing changes.
    own = correct_clock({"timestamp": "2026-01-01T12:00:00Z",
                         "sent_at": "2026-01-01T12:00:00Z"}, "2026-01-01T13:00:00Z", received)
    assert own == {"timestamp": "2026-01-01T11:00:20.000Z"}
    assert correct_clock({"timestamp": "x"}, "2026-01-01T12:00:30Z", received) == \
        {"timestamp": "x"}
    assert correct_clock({"timestamp": "2026-01-01T12:00:00Z"}, None, received) == \
        {"timestamp": "2026-01-01T12:00:00Z"}


# --- keys and rates --------------------------------------------------------------------------
def test_a_token_bucket_on_a_hand_computed_case() -> None:
    bucket = Bucket(rate=2.0, burst=4.0, stamp=100.0)
    assert bucket.take(3, now=100.0) == 0.0          # 4 -> 1
    assert bucket.take(2, now=100.0) == pytest.approx(0.5)   # 1 there, 1 more in 0.5 s
    assert bucket.take(2, now=100.5) == 0.0          # 1 + 0.5 s * 2 = 2 -> 0
    assert bucket.take(1, now=110.0) == 0.0          # refilled to the burst (4), not 20
    assert bucket.tokens == 3.0
    # More than a whole burst: the wait is for a full bucket, then it is taken on credit and
    # the next request waits for the debt to be paid: 9 from 4 leaves -5, 1 more needs 3 s.
    assert bucket.take(9, now=110.0) == pytest.approx(0.5)
    assert bucket.take(9, now=110.5) == 0.0
    assert bucket.tokens == -5.0
    assert bucket.take(1, now=110.5) == pytest.approx(3.0)
    unlimited = Bucket(rate=0.0, burst=1.0)
    assert all(unlimited.take(10**6) == 0.0 for _ in range(3))


@given(st.lists(st.tuples(st.integers(1, 50), st.floats(0, 5)), max_size=60))
def test_a_bucket_never_grants_more_than_one_burst_plus_rate_times_time(
        asks: list[tuple[int, float]]) -> None:
    """Whatever the requests, what is granted by time t is at most the larger of a burst and
    the biggest request, plus rate x t (a request bigger than a burst is taken on credit)."""
    bucket = Bucket(rate=10.0, burst=20.0, stamp=0.0)
    now = granted = 0.0
    biggest = 0
    for n, gap in asks:
        now += gap
        if bucket.take(n, now=now) == 0.0:
            granted += n
            biggest = max(biggest, n)
    assert granted <= max(20.0, biggest) + 10.0 * now + 1e-6


def test_presented_keys() -> None:
    basic = base64.b64encode(b"k1:").decode()
    assert presented_key("Bearer k1", None, None) == "k1"
    assert presented_key(f"Basic {basic}", None, None) == "k1"
    assert presented_key("Basic !!!", None, None) == ""
    assert presented_key("Token k1", "k2", None) == ""     # an Authorization we cannot read
    assert presented_key(None, "k2", "k3") == "k2"
    assert presented_key(None, None, "k3") == "k3"
    assert presented_key(None, None, None) is None


def test_the_key_ring_knows_keys_by_hash_and_shares_rates_over_processes() -> None:
    key = new_key()
    assert key.startswith("gk_") and len(key) > 40 and new_key() != key
    config = config_from_table({"collector": {"keys": [
        {"name": "web", "sha256": key_hash(key), "events_per_second": 100.0,
         "origins": ["https://a.example"]}]}}, "test")
    ring = KeyRing(config.collector, processes=2)
    client = ring.find(key)
    assert client is not None and client.name == "web"
    assert (client.bucket.rate, client.bucket.burst) == (50.0, 100.0)
    assert ring.find(key + "x") is None
    assert ring.allows_origin("https://a.example") and not ring.allows_origin("https://b.x")


@pytest.mark.parametrize("key,message", [
    ({"name": "has space", "sha256": "a" * 64}, "must be 1-32 letters"),
    ({"name": "web", "sha256": "abc"}, "must be 64 hex digits"),
    ({"name": "web", "sha256": "a" * 64, "origins": ["app.example"]}, "is not an origin"),
    ({"name": "web", "sha256": "a" * 64, "events_per_second": -1}, "must not be negative"),
])
def test_bad_write_keys_are_one_sentence(key: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_table({"collector": {"keys": [key]}}, "config.toml")


def test_a_name_used_twice_and_a_port_out_of_range_are_refused() -> None:
    twice = [{"name": "web", "sha256": "a" * 64}, {"name": "web", "sha256": "b" * 64}]
    with pytest.raises(ConfigError, match="used twice"):
        config_from_table({"collector": {"keys": twice}}, "config.toml")
    with pytest.raises(ConfigError, match="at most 65535"):
        config_from_table({"collector": {"port": 70000}}, "config.toml")


def test_a_write_key_from_the_environment_is_kept_as_its_hash() -> None:
    env = {"GRADVY_COLLECTOR_KEY_WEB": "s3cret-key-of-16+chars"}
    config = load_config(env=env)
    (key,) = config.collector.keys
    assert key.name == "web"
    assert key.sha256 == hashlib.sha256(b"s3cret-key-of-16+chars").hexdigest()
    assert "s3cret" not in repr(config)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_config(env={"GRADVY_COLLECTOR_KEY_WEB": "short"})


# --- metrics ---------------------------------------------------------------------------------
def test_task_duration_buckets_on_a_hand_computed_case() -> None:
    runs: list[dict[str, Any]] = [{"task": "t", "status": "complete", "duration_s": 0.003},
            {"task": "t", "status": "failed", "duration_s": 0.2},
            {"task": "t", "status": "complete", "duration_s": 4000.0},
            {"task": "t", "status": "retrying", "duration_s": 1.0},     # not finished
            {"task": "u", "status": "complete", "duration_s": None}]
    counters = duration_counters(runs)
    assert counters == {"taskdur:t:le:0.005": 1, "taskdur:t:le:0.25": 1,
                        "taskdur:t:le:inf": 1, "taskdur:t:count": 3,
                        "taskdur:t:sum_us": 4_000_203_000}
    ((task, (buckets, count, total)),) = task_histograms(counters).items()
    assert task == "t" and count == 3 and total == pytest.approx(4000.203)
    cumulative = dict(buckets)
    assert (cumulative["0.005"], cumulative["0.1"], cumulative["0.25"], cumulative["1800"],
            cumulative["+Inf"]) == (1, 1, 2, 2, 3)


def test_pipeline_families_from_status_data() -> None:
    data = {
        "events": {"processed": 7, "duplicates": 2, "no_consent": 1, "dead_lettered": 3,
                   "suppressed": 0, "pending": 4, "oldest_pending_age_s": 1.5,
                   "pii_masked": 5, "collector_accepted": 9,
                   "rejected": {"bad_json": 2, "missing_field": 1},
                   "stored_by_type": {"search": 7}},
        "users": {"total": 3, "active_24h": 2},
        "queues": {"realtime": {"pending": 6, "scheduled": 1, "oldest_age_s": None,
                                "consumers": 2}},
        "consumers": [{"queue": "collector", "alive": True}, {"queue": "realtime",
                                                              "alive": True}],
        "alerts": [{"kind": "cpu", "severity": "warning"}, {"kind": "cpu",
                                                              "severity": "warning"}],
        "live_counters": {"taskdur:t:le:0.01": 2, "taskdur:t:count": 2,
                          "taskdur:t:sum_us": 12_000},
    }
    text = render_pipeline(data).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("gradvy_events_total", (("outcome", "duplicate"),))] == 2
    assert samples[("gradvy_dead_letters_total", (("reason", "bad_json"),))] == 2
    assert samples[("gradvy_events_stored_total", (("type", "search"),))] == 7
    assert samples[("gradvy_inbox_events", ())] == 4
    assert samples[("gradvy_inbox_oldest_age_seconds", ())] == 1.5
    assert samples[("gradvy_queue_depth", (("queue", "realtime"),))] == 6
    assert samples[("gradvy_queue_oldest_waiting_seconds", (("queue", "realtime"),))] == 0
    assert samples[("gradvy_queue_consumers", (("queue", "realtime"),))] == 2
    assert samples[("gradvy_collector_processes", ())] == 1
    assert samples[("gradvy_alerts_active", (("kind", "cpu"), ("severity", "warning")))] == 2
    assert samples[("gradvy_task_duration_seconds_bucket", (("le", "0.01"), ("task", "t")))] \
        == 2
    assert samples[("gradvy_task_duration_seconds_sum", (("task", "t"),))] == 0.012
    assert "# TYPE gradvy_events_total counter" in text


def test_found_keys_are_remembered_and_strangers_are_not() -> None:
    key = new_key()
    config = config_from_table({"collector": {"keys": [
        {"name": "web", "sha256": key_hash(key)}]}}, "test")
    ring = KeyRing(config.collector)
    for n in range(3000):
        assert ring.find(f"gk_stranger_{n}") is None
    assert ring.find(key) is not None and list(ring._found) == [key]


def test_recent_ids_are_two_bounded_generations(tmp_path: Any) -> None:
    """A retried id is known from either generation; the memory stays within two of them."""
    from gradvy_console.collector.intake import Intake
    from gradvy_console.store.sqlite import SqliteStore

    config = config_from_table({}, "test")
    store = SqliteStore(tmp_path / "store.db")
    intake = Intake(config, store, None, lambda receipts: None)   # type: ignore[arg-type]
    intake._generation_max = 10
    for n in range(25):
        intake._committed({f"e{n}": f"h{n}"})
        assert len(intake._recent) + len(intake._older) <= 20
        assert (intake._recent.get(f"e{n}") or intake._older.get(f"e{n}")) == f"h{n}"
    assert set(intake._older) == {f"e{n}" for n in range(10, 20)}
    assert set(intake._recent) == {f"e{n}" for n in range(20, 25)}
