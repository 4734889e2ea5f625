"""Realtime queue: event ingestion tasks. Each is thin: load, call the engine, return counts."""

from __future__ import annotations

import os
import socket
from typing import Any

import orjson

from .. import runtime
from ..analytics.events import UNPROCESSABLE, Rejection, nesting_depth
from ..clock import now_ms
from ..errors import GradvyError
from ..ingest import IngestResult, dead_letter, drain_inbox
from ..monitoring import drain_failing, pipeline_metrics
from ..queues import task
from ..queues.group_commit import groupable


def _persist_one(event_data: Any, receipt: str | None = None) -> tuple[tuple[Any, ...],
                                                                      dict[str, Any]]:
    """Before enqueueing, put the event in the store's inbox: the message never holds the only
    copy. If the message is lost, the pending-events job finds the event again."""
    if receipt is None:
        receipt = runtime.store().inbox_put([_encode(event_data)], now_ms(), _lease_ms())[0]
    return (event_data,), {"receipt": receipt}


def _persist_many(events: list[Any] | None = None, receipts: list[str] | None = None
                  ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if receipts is None and events is not None:
        store = runtime.store()
        payloads: list[bytes] = []
        unstorable: list[Rejection] = []
        for event in events:
            try:
                payloads.append(_encode(event))
            except GradvyError as exc:
                # One event of the batch can never be stored: it becomes a dead letter now,
                # before anything is queued, and the rest of the batch goes on.
                unstorable.append(Rejection(UNPROCESSABLE, str(exc), event))
        dead_letter(store, unstorable)
        receipts = store.inbox_put(payloads, now_ms(), _lease_ms())
        # The inbox holds the payloads now; the message carries only their receipts.
        events = None
    return (), {"events": events, "receipts": receipts}


def _lease_ms() -> int:
    """Rows written for a task start leased: the periodic pending-events job (which recovers
    lost work) leaves them to their task unless the lease runs out."""
    return int(runtime.get_config().ingest.inbox_lease_seconds * 1000)


# Deepest event a queue message can carry: the signed message frame adds levels of its own
# (the message, its arguments) and orjson stops at 255. Deeper than `[ingest] max_depth` it
# would be dead-lettered `too_deep` anyway.
MESSAGE_DEPTH_MAX = 200


def _encode(value: Any) -> bytes:
    """The event as the inbox stores it. What can never be stored (not JSON data, or nested
    past what a queue message can carry) is refused here, before anything is written or
    queued."""
    if nesting_depth(value, MESSAGE_DEPTH_MAX) > MESSAGE_DEPTH_MAX:
        raise GradvyError(f"This event cannot be stored: it nests more than "
                          f"{MESSAGE_DEPTH_MAX} levels deep (events are JSON objects of at "
                          "most [ingest] max_depth nested levels).", exit_code=2)
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise GradvyError(f"This event cannot be stored: {exc} (events are JSON objects of "
                          "at most [ingest] max_depth nested levels).", exit_code=2) from None


def _outcome(result: IngestResult, event_id: str | None = None) -> dict[str, Any]:
    if result.processed:
        status = "processed"
    elif result.duplicates:
        status = "duplicate"
    elif result.no_consent:
        status = "no_consent"
    elif result.dead_lettered:
        status = "dead_lettered"
    elif result.replayed:
        status = "replayed"
    else:
        status = "already_processed"
    out: dict[str, Any] = {"status": status, **result.as_dict()}
    if event_id:
        out["event_id"] = event_id
    return out


@task("realtime")
def process_analytics_event(event_data: Any, receipt: str | None = None) -> dict[str, Any]:
    """Ingest one event. Returns {'status': processed|duplicate|no_consent|dead_lettered|...}."""
    result = runtime.ingestor().ingest([(receipt, event_data)])
    event_id = event_data.get("event_id") if isinstance(event_data, dict) else None
    return _outcome(result, event_id)


process_analytics_event.before_enqueue = _persist_one


def _ingest_group(tasks: list[Any]) -> list[dict[str, Any]]:
    """Waiting `process_analytics_event` tasks, ingested in one transaction (group commit):
    each task's value is what it would have returned alone."""
    items: list[tuple[str | None, Any]] = []
    for t in tasks:
        kwargs = dict(t.kwargs or {})
        event = t.args[0] if t.args else kwargs.pop("event_data")
        items.append((kwargs.get("receipt"), event))
    each = runtime.ingestor().ingest_each(items)
    return [_outcome(result, event.get("event_id") if isinstance(event, dict) else None)
            for result, (_receipt, event) in zip(each, items, strict=True)]


groupable("process_analytics_event", _ingest_group)


@task("realtime")
def batch_process_events(events: list[Any] | None = None, receipts: list[str] | None = None
                         ) -> dict[str, Any]:
    """Ingest many events in one transaction. With only receipts, the payloads are read from
    the inbox (rows another worker already took are skipped)."""
    if receipts is not None and events is None:
        items: list[tuple[str | None, Any]] = list(runtime.store().inbox_get(receipts))
        gone = len(receipts) - len(items)
    elif receipts is not None and events is not None:
        items = list(zip(receipts, events, strict=True))
        gone = 0
    else:
        items = [(None, e) for e in (events or [])]
        gone = 0
    result = runtime.ingestor().ingest(items)
    result.skipped += gone
    return result.as_dict()


batch_process_events.before_enqueue = _persist_many


@task("realtime", periodic="process_pending_events")
def process_pending_events(batch_size: int = 1000, max_batches: int = 1000) -> dict[str, Any]:
    """Drain the inbox: everything pending, including work whose queue message was lost.
    Failing twice running raises the `pending_drain_failing` alert; a run that works clears
    it."""
    config, live = runtime.get_config(), runtime.live()
    try:
        result = drain_inbox(runtime.store(), runtime.ingestor(), config,
                             batch_size=batch_size, max_batches=max_batches).as_dict()
    except Exception as exc:
        failures = int((live.get_json(DRAIN_FAILURES, now_ms()) or {}).get("runs", 0)) + 1
        live.put_json(DRAIN_FAILURES, {"runs": failures}, ttl_s=86_400)
        if failures >= 2:
            drain_failing(config, runtime.store(), True, failures, exc)
        raise
    if live.get_json(DRAIN_FAILURES, now_ms()):
        live.delete_json(DRAIN_FAILURES)
        drain_failing(config, runtime.store(), False)
    return result


DRAIN_FAILURES = "drain:failures"


@task("realtime", periodic="update_realtime_metrics")
def update_realtime_metrics() -> dict[str, Any]:
    """Aggregate pipeline counters and rates into live state (`metrics:pipeline`, 5 min)."""
    metrics = pipeline_metrics(runtime.store(), runtime.live(), now_ms())
    runtime.live().put_json("metrics:pipeline", metrics, ttl_s=300)
    return metrics


@task("realtime")
def self_test_event(event_data: dict[str, Any]) -> dict[str, Any]:
    """The self-test's event, ingested by a consumer as any event is, answering with what it
    wrote (its counters, its live per-minute counts and when), so the self-test can take
    every trace of it back. Its runs are not kept in the task history."""
    result = runtime.ingestor().ingest([(None, event_data)])
    return {**_outcome(result, event_data.get("event_id")), "counters": result.counters,
            "minute_counts": result.minute_counts, "at_ms": result.at_ms}


class ProbeFailure(RuntimeError):
    """Raised on request by the self-test probe, to exercise retries and failure handling."""


@task("realtime")
def self_test_probe(token: str, fail: bool = False) -> dict[str, Any]:
    """Echo a token with the worker's identity: proves a consumer ran it. With `fail`, raise,
    so the retry policy and the failed-task history can be checked end to end."""
    if fail:
        raise ProbeFailure(f"self-test failure requested ({token})")
    return {"token": token, "host": socket.gethostname(), "pid": os.getpid()}
