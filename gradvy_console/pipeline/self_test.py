"""`gradvy run test`: end-to-end checks through a real queue, store and live state, leaving
no trace: the test learner (consent, events, profile, dead letter, live keys) is erased, and
every counter the checks added is taken back, so `status` and every insight read as before."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..analytics.events import iso_from_ms
from ..clock import now_ms
from ..config import Config
from ..ingest import Ingestor, IngestResult
from ..live import LiveState
from ..monitoring import live_consumers
from ..store import DocumentStore


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def self_test(config: Config, store: DocumentStore, live: LiveState, ingestor: Ingestor,
              wait_s: float = 20.0) -> list[Check]:
    """End-to-end checks through a real queue, store and live state. A realtime consumer is
    needed for the queue check; without one the check says so and fails. Whatever happens,
    what the checks wrote is taken back at the end (the last check says so)."""
    checks: list[Check] = []
    token = uuid.uuid4().hex[:12]
    user = f"selftest-{token}"
    at = now_ms()
    wrote: list[tuple[int, dict[str, int], dict[str, int]]] = []   # (at, counters, minute)

    def keep(result: IngestResult) -> IngestResult:
        wrote.append((result.at_ms, result.counters, result.minute_counts))
        return result

    def run(name: str, fn: Callable[[], str]) -> None:
        try:
            checks.append(Check(name, True, fn()))
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure as a line
            checks.append(Check(name, False, str(exc).splitlines()[0][:200] if str(exc) else
                                type(exc).__name__))

    def store_check() -> str:
        store.record_consent(user, {"analytics": True, "behavioral_analysis": True},
                             method="self-test", version="1", legal_basis="consent",
                             actor="self-test", at_ms=at)
        granted = store.consent_for([user]).get(user, set())
        if "analytics" not in granted:
            raise RuntimeError("consent written but not read back")
        return f"{store.backend}: consent written and read back"

    def live_check() -> str:
        live.put_json(f"selftest:{token}", {"token": token}, ttl_s=30)
        if (live.get_json(f"selftest:{token}", now_ms()) or {}).get("token") != token:
            raise RuntimeError("value written but not read back")
        live.delete_json(f"selftest:{token}")
        return f"{live.backend}: value written and read back"

    event = {"event_id": f"selftest-{token}", "user_id": user, "event_type": "course_interaction",
             "timestamp": _iso_now(), "properties": {"course_id": "selftest", "action": "enroll",
                                                     "course_category": "selftest"}}

    def queue_check() -> str:
        from ..tasks import self_test_event

        if not live_consumers(live, "realtime"):
            raise RuntimeError("no realtime consumer is running (start one: gradvy worker "
                               "realtime)")
        outcome = self_test_event.delay(event).get(timeout=wait_s)
        wrote.append((int(outcome.get("at_ms") or 0), dict(outcome.get("counters") or {}),
                      dict(outcome.get("minute_counts") or {})))
        if outcome.get("status") != "processed":
            raise RuntimeError(f"event came back {outcome.get('status')}")
        return f"{config.queue_backend}: event processed by a realtime consumer"

    def profile_check() -> str:
        doc = store.get_user(user)
        if not doc or doc["acc"].get("n", {}).get("course_interaction") != 1:
            raise RuntimeError("profile was not updated")
        return "profile updated once"

    def idempotency_check() -> str:
        again = keep(ingestor.ingest([(None, event)]))
        if again.duplicates != 1 or again.processed:
            raise RuntimeError(f"second delivery gave {again.as_dict()}")
        return "second delivery counted as a duplicate"

    def dead_letter_check() -> str:
        bad = keep(ingestor.ingest([(None, {"user_id": user, "event_type": "search"})]))
        if bad.dead_lettered != 1:
            raise RuntimeError("malformed event was not dead-lettered")
        return "malformed event dead-lettered (missing_field)"

    run("store", store_check)
    run("live state", live_check)
    run("queue round trip", queue_check)
    if not checks[-1].ok:
        # No consumer: still prove the engine by processing in-process.
        result = keep(ingestor.ingest([(None, event)]))
        checks.append(Check("in-process ingestion", result.processed == 1,
                            "processed in-process" if result.processed == 1 else
                            str(result.as_dict())))
    run("profile", profile_check)
    run("idempotency", idempotency_check)
    run("dead letters", dead_letter_check)
    run("no trace left", lambda: _take_back(store, live, user, wrote))
    return checks


def _take_back(store: DocumentStore, live: LiveState, user: str,
               wrote: list[tuple[int, dict[str, int], dict[str, int]]]) -> str:
    """Erase the test learner everywhere and subtract every counter the checks added."""
    from ..analytics.privacy import terms_for
    from ..live import LiveBatch

    terms = terms_for([user])
    removed = sum(store.erase_users([user], terms, "erased").values())
    live.erase_users([user], terms)
    counters: dict[str, int] = {}
    for when, added, minute in wrote:
        for key, n in added.items():
            counters[key] = counters.get(key, 0) + n
        if added or minute:
            live.record_batch(LiveBatch(counters={k: -n for k, n in added.items()},
                                        minute_counts={k: -n for k, n in minute.items()}),
                              when)
    store.take_back_counters(counters)
    left = [name for name, n in store.find_terms(terms).items() if n]
    if left:
        raise RuntimeError(f"the test learner is still in {', '.join(left)}")
    return f"{removed} records and {sum(counters.values())} counts taken back"


def _iso_now() -> str:
    return iso_from_ms(now_ms())
