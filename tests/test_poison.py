"""One bad event never stops the pipeline: whatever arrives, every payload is accounted for,
no exception escapes, and events queued after a poison one are processed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradvy_console.config import Config
from gradvy_console.ingest import Ingestor, drain_inbox
from gradvy_console.live.sqlite import SqliteLive
from gradvy_console.store.sqlite import SqliteStore

NOW = 1_767_225_600_000
STAMP = "2025-12-31T23:00:00Z"


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def good(n: int, user: str = "u1") -> dict[str, Any]:
    return {"event_id": f"ok-{n}", "user_id": user, "event_type": "search",
            "timestamp": STAMP, "properties": {"query": f"q{n}"}}


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    config = Config(data_dir=tmp_path / "data")
    config.data_dir.mkdir(parents=True)
    store = SqliteStore(config.data_dir / "store.db")
    live = SqliteLive(config.data_dir / "live.db")
    for user in ("u1", "u2"):
        store.record_consent(user, {p: True for p in config.consent.purposes}, method="t",
                             version="1", legal_basis="consent", actor="t", at_ms=0)
    yield config, store, Ingestor(store, live, config)
    store.close()
    live.close()


def test_a_list_nested_300_deep_is_too_deep_and_blocks_nothing(engine: Any) -> None:
    config, store, ingestor = engine
    poison = {**good(0), "properties": {"query": "q", "deep": nested(300)}}
    rows = [orjson.dumps(good(1))]
    try:
        rows.append(orjson.dumps(poison))
    except orjson.JSONEncodeError:  # orjson stops at 255: what a client library may still send
        rows.append(b'{"user_id":"u1","event_type":"search","timestamp":"' + STAMP.encode()
                    + b'","properties":{"deep":' + b"[" * 300 + b"1" + b"]" * 300 + b"}}")
    rows += [orjson.dumps(good(n)) for n in range(2, 3002)]
    store.inbox_put(rows, NOW)
    result = drain_inbox(store, ingestor, config, batch_size=100)
    assert result.processed == 3001 and result.dead_lettered == 1
    assert store.inbox_count() == 0
    letters = store.dead_letters(limit=10)
    assert [d["reason"] for d in letters] == ["too_deep"]


def test_nesting_just_under_the_limit_is_stored(engine: Any) -> None:
    config, store, ingestor = engine
    depth = config.ingest.max_depth - 3   # event > properties > value > ...
    event = {**good(0), "properties": {"query": "q", "deep": nested(depth)}}
    assert ingestor.ingest([(None, event)], at_ms=NOW).processed == 1


hostile_strings = st.one_of(
    st.text(max_size=50),
    st.text(alphabet="\x00\ud7ff\ufffd", max_size=10),
    st.just("jane.doe@example.org"), st.just("+44 20 7946 0958"),
    st.builds(lambda n: "x" * n, st.integers(0, 40_000)),
)
hostile_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=True, allow_infinity=True), hostile_strings),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(hostile_strings, inner, max_size=3)),
    max_leaves=12)
hostile_events = st.one_of(
    hostile_values,
    st.fixed_dictionaries({"user_id": hostile_strings, "event_type": st.sampled_from(
        ["search", "quiz_attempt", "course_interaction", "x"]), "timestamp": st.sampled_from(
        [STAMP, "not a time", "0001-01-01T00:00:00Z", 1e400, None])},
        optional={"event_id": hostile_strings, "session_id": hostile_strings,
                  "properties": st.dictionaries(hostile_strings, hostile_values, max_size=4)}),
    st.builds(lambda d: {**good(9), "properties": {"deep": nested(d)}}, st.integers(0, 400)),
)
raw_lines = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b'{"x": 1e400}', b"\xff\xfe{", b'{"user_id": "u1\x00"}', b"[[[[", b"",
                     b'{"user_id":"u1","event_type":"search","timestamp":"' + STAMP.encode()
                     + b'","properties":{"q":' + b"[" * 600 + b"]" * 600 + b"}}"]),
)


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode("utf-8", "surrogatepass")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(st.one_of(hostile_events.map(_encode), raw_lines), min_size=1,
                      max_size=8))
def test_hostile_payloads_through_the_inbox_are_all_accounted_for(
        engine: Any, batch: list[bytes]) -> None:
    config, store, ingestor = engine
    before = store.counters()
    tag = abs(hash(tuple(batch)))
    tail = [orjson.dumps(good(n, "u2") | {"event_id": f"tail-{tag}-{n}"}) for n in range(3)]
    store.inbox_put(batch + tail, NOW)
    result = drain_inbox(store, ingestor, config, batch_size=4)
    assert store.inbox_count() == 0
    assert result.total + result.skipped == len(batch) + 3
    after = store.counters()
    accounted = sum(after.get(k, 0) - before.get(k, 0)
                    for k in ("processed", "dead_lettered", "duplicates", "no_consent"))
    assert accounted == len(batch) + 3
    # The events queued after the hostile ones were processed.
    stored = {e["event_id"] for e in store.user_events("u2", limit=1_000_000)}
    assert {orjson.loads(row)["event_id"] for row in tail} <= stored


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(hostile_events, min_size=1, max_size=8))
def test_hostile_payloads_ingested_directly_never_raise(engine: Any, batch: list[Any]) -> None:
    _config, _store, ingestor = engine
    result = ingestor.ingest([(None, e) for e in batch], at_ms=NOW)
    assert result.total == len(batch)


def _consent(store: Any, config: Config, user: str) -> None:
    store.record_consent(user, {p: True for p in config.consent.purposes}, method="t",
                         version="1", legal_basis="consent", actor="t", at_ms=0)


def test_an_event_that_breaks_its_batch_is_dead_lettered_alone(
        engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever fails while a batch is processed (here the profile folding, for one user),
    that item becomes an `unprocessable` dead letter in its own transaction; the rest of the
    batch is stored."""
    import gradvy_console.ingest.ingestor as ingestor_module

    config, store, ingestor = engine
    _consent(store, config, "poison")
    real = ingestor_module.accumulate  # type: ignore[attr-defined]

    def breaks_on_poison(events: Any, model: Any) -> Any:
        events = list(events)
        if any(e.user_id == "poison" for e in events):
            raise ValueError("cannot fold this one")
        return real(events, model)

    monkeypatch.setattr(ingestor_module, "accumulate", breaks_on_poison)
    rows = [orjson.dumps(good(n)) for n in range(5)] + [orjson.dumps(good(99, "poison"))] + [
        orjson.dumps(good(n)) for n in range(5, 10)]
    store.inbox_put(rows, NOW)
    result = drain_inbox(store, ingestor, config, batch_size=100)
    assert (result.processed, result.dead_lettered, store.inbox_count()) == (10, 1, 0)
    [letter] = store.dead_letters(limit=10)
    assert letter["reason"] == "unprocessable"
    assert letter["detail"] == "ValueError: cannot fold this one"
    assert store.counters()["rejected:unprocessable"] == 1


def test_a_backend_failure_is_never_blamed_on_the_events(
        engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    import gradvy_console.ingest.ingestor as ingestor_module

    config, store, ingestor = engine

    def disk_gone(events: Any, model: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ingestor_module, "accumulate", disk_gone)
    store.inbox_put([orjson.dumps(good(n)) for n in range(3)], NOW)
    with pytest.raises(sqlite3.OperationalError):
        drain_inbox(store, ingestor, config, batch_size=100)
    assert store.inbox_count() == 3 and store.count_dead_letters() == 0


def test_dead_letters_are_masked_and_cut_to_the_size_limit(engine: Any) -> None:
    _config, store, ingestor = engine
    huge = {**good(1), "event_type": "", "properties": {"q": "jane.doe@example.org " * 20_000}}
    small = {"user_id": "u1", "contact": "jane.doe@example.org", "phone": "+44 20 7946 0958"}
    result = ingestor.ingest([(None, huge), (None, small)], at_ms=NOW)
    assert result.dead_lettered == 2
    for letter in store.dead_letters(limit=10):
        assert "jane.doe" not in letter["payload"] and "7946" not in letter["payload"]
        assert len(letter["payload"].encode()) <= 16_384
    cut = [d for d in store.dead_letters(limit=10) if "cut to 16384" in d["detail"]]
    assert len(cut) == 1 and "sha256" in cut[0]["detail"]


def test_delay_refuses_what_can_never_be_stored_before_queueing_anything(
        tmp_path: Path) -> None:
    from gradvy_console import runtime
    from gradvy_console.errors import GradvyError
    from gradvy_console.tasks import process_analytics_event

    runtime.activate(Config(data_dir=tmp_path / "data"))
    store = runtime.store()
    for poison in ({**good(1), "properties": {"deep": nested(300)}},
                   {**good(2), "properties": {"when": object()}}):
        with pytest.raises(GradvyError, match="cannot be stored"):
            process_analytics_event.delay(poison)
    assert store.inbox_count() == 0
    from gradvy_console.queues import current

    assert current().depths()["realtime"]["pending"] == 0


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(st.one_of(hostile_events.map(_encode), raw_lines), min_size=1,
                      max_size=8))
def test_hostile_lines_through_ingest_are_all_accounted_for(
        engine: Any, tmp_path_factory: pytest.TempPathFactory, batch: list[bytes]) -> None:
    from gradvy_console.errors import InputError
    from gradvy_console.ingest import ingest_source

    _config, store, ingestor = engine
    path = tmp_path_factory.mktemp("in") / "events.ndjson"
    lines = [line.replace(b"\n", b" ") for line in batch]
    # An object first: the file is NDJSON, one payload per line (arrays: test_ingest_stream).
    path.write_bytes(b"\n".join([orjson.dumps(good(0, "u2"))] + lines
                                 + [orjson.dumps(good(1, "u2"))]))
    before = store.counters()
    try:
        ingest_source(store, ingestor, str(path), batch_size=3)
    except InputError:
        pass   # a file that is not JSON at all says so, after dead-lettering its lines
    after = store.counters()
    accounted = sum(after.get(k, 0) - before.get(k, 0)
                    for k in ("processed", "dead_lettered", "duplicates", "no_consent"))
    non_blank = sum(1 for line in lines if line.strip()) + 2
    assert accounted == non_blank


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(hostile_events, min_size=1, max_size=6))
def test_hostile_events_through_delay_are_refused_or_processed(
        tmp_path_factory: pytest.TempPathFactory, batch: list[Any]) -> None:
    """`.delay()` either refuses an event with one sentence (it can never be stored) or
    accepts it; every accepted one is processed by the pending drain, and so is the event
    sent after them all."""
    from gradvy_console import runtime
    from gradvy_console.errors import GradvyError
    from gradvy_console.tasks import process_analytics_event

    config = Config(data_dir=tmp_path_factory.mktemp("data"))
    runtime.activate(config)
    store = runtime.store()
    accepted = 0
    for event in batch + [good(7)]:
        try:
            process_analytics_event.delay(event)
            accepted += 1
        except GradvyError as exc:
            assert "cannot be stored" in str(exc)
    result = drain_inbox(store, runtime.ingestor(), config, batch_size=4, ignore_leases=True)
    assert result.total == accepted and store.inbox_count() == 0
    runtime.close()


def test_the_pending_drain_failing_twice_running_raises_an_alert_and_a_success_clears_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradvy_console.tasks.realtime as realtime
    from gradvy_console import runtime
    from gradvy_console.tasks import process_pending_events

    runtime.activate(Config(data_dir=tmp_path / "data"))
    store = runtime.store()

    def active() -> set[str]:
        return {a["key"] for a in store.alerts(active_only=True)}

    real = realtime.drain_inbox  # type: ignore[attr-defined]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("the drain is broken")

    monkeypatch.setattr(realtime, "drain_inbox", broken)
    for runs in (1, 2):
        with pytest.raises(ValueError):
            process_pending_events.func()
        assert ("pending_drain_failing" in active()) is (runs == 2)
    [alert] = [a for a in store.alerts(active_only=True) if a["key"] == "pending_drain_failing"]
    assert "failed 2 times running" in alert["message"]
    monkeypatch.setattr(realtime, "drain_inbox", real)
    process_pending_events.func()
    assert "pending_drain_failing" not in active()
    runtime.close()


def test_values_nested_past_orjsons_own_limit_are_too_deep_not_bad_json(
        engine: Any, tmp_path: Path) -> None:
    """orjson refuses past 1,024 levels with a decode error: that is `too_deep` whichever way
    the event came (the inbox, a file)."""
    config, store, ingestor = engine
    deep = (b'{"user_id":"u1","event_type":"search","timestamp":"' + STAMP.encode()
            + b'","properties":{"deep":' + b"[" * 2000 + b"]" * 2000 + b"}}")
    store.inbox_put([deep, orjson.dumps(good(1))], NOW)
    result = drain_inbox(store, ingestor, config, batch_size=10)
    assert result.processed == 1 and dict(result.reasons) == {"too_deep": 1}
    file = tmp_path / "deep.ndjson"
    file.write_bytes(deep + b"\n" + orjson.dumps(good(2)) + b"\n")
    from gradvy_console.ingest import ingest_source

    again = ingest_source(store, ingestor, str(file))
    assert again.processed == 1 and dict(again.reasons) == {"too_deep": 1}
