"""Compliance queue: erasure, export and the daily privacy audit. Each task is thin: it gathers
the places a learner's data may be (store, live state, queues, logs, files), calls `privacy`,
and returns a summary that names no learner."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from .. import runtime
from ..analytics.privacy import Terms
from ..insights import update_models
from ..live import LiveState
from ..monitoring import check_alerts, event_alert
from ..privacy import (
    TraceHolder,
    export_user,
    open_requests,
    run_audit,
    run_erasures,
)
from ..queues import QueueSet, current, task


class LiveTraces:
    name = "live"

    def __init__(self, live: LiveState) -> None:
        self.live = live

    def erase(self, user_ids: list[str], terms: Terms) -> int:
        return self.live.erase_users(user_ids, terms)

    def find(self, terms: Terms) -> int:
        return self.live.find_terms(terms)


class QueueTraces:
    name = "queues"

    def __init__(self, queues: QueueSet) -> None:
        self.queues = queues

    def erase(self, user_ids: list[str], terms: Terms) -> int:
        return self.queues.scrub(terms, erase=True)

    def find(self, terms: Terms) -> int:
        return self.queues.scrub(terms, erase=False)


def trace_holders() -> list[TraceHolder]:
    """Every place outside the document store that may hold a learner's data."""
    return [LiveTraces(runtime.live()), QueueTraces(current())]


def log_dir() -> Path:
    return runtime.get_config().data_dir / "logs"


def erase_now(request_ids: list[str]) -> list[dict[str, Any]]:
    """Run these erasure requests (and any other unfinished one) here and now."""
    config, store = runtime.get_config(), runtime.store()
    ids = sorted(set(request_ids) | {d["_id"] for d in open_requests(store)})
    results = run_erasures(config, store, trace_holders(), ids,
                           retrain=lambda: update_models(config, store, refuse=False),
                           log_dir=log_dir())
    failed = [r for r in results if r.status == "failed"]
    event_alert(config, store, "erasure_failed", bool(failed),
                f"{len(failed)} erasure requests failed (step {failed[0].failed_step}); "
                "'gradvy run erasures' shows them, 'gradvy run forget' resumes them"
                if failed else "")
    return [dataclasses.asdict(r) for r in results]


@task("compliance")
def erase_user(request_ids: list[str]) -> list[dict[str, Any]]:
    """Erase the learners of these requests (the message carries request ids, never a learner
    id) everywhere, retrain the models they were part of, verify; resumes unfinished ones."""
    return erase_now(list(request_ids))


@task("compliance")
def export_user_data(user_id: str, out: str | None = None) -> dict[str, Any]:
    """Write one learner's export (Art. 15 and 20); returns its path and size."""
    report = export_user(runtime.get_config(), runtime.store(), runtime.live(), user_id,
                         Path(out) if out else None)
    return dataclasses.asdict(report)


def audit_sources() -> dict[str, Any]:
    """The places the PII scan reads."""
    store, live = runtime.store(), runtime.live()
    logs = log_dir()

    def log_lines() -> Iterator[Any]:
        if logs.is_dir():
            for path in sorted(logs.iterdir()):
                if path.is_file() and ".log" in path.name:
                    yield from path.read_text(encoding="utf-8", errors="replace").splitlines()
    return {
        "events": lambda: store.texts("events"),
        "dead_letters": lambda: store.texts("dead_letters"),
        "task_arguments": lambda: chain(store.texts("task_runs"), current().message_values()),
        "inbox": lambda: store.texts("inbox"),
        "live_state": lambda: live.texts(),
        "logs": log_lines,
    }


def audit_now() -> dict[str, Any]:
    config, store = runtime.get_config(), runtime.store()
    report = run_audit(config, store, runtime.live(), audit_sources())
    check_alerts(config, store, "privacy_audit", "Privacy audit", report.checks)
    return report.as_dict()


@task("compliance", periodic="privacy_compliance_audit")
def privacy_compliance_audit() -> dict[str, Any]:
    """Every privacy check (consent, records, PII, retention, erasure, keys, processing),
    kept with its history; a failed check raises an alert, a passing one clears it."""
    return audit_now()
