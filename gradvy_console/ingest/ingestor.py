"""The one ingestion path every entry uses (task, batch task, file, simulator inbox).

`Ingestor.ingest(items)` takes `(receipt, payload)` pairs, where the receipt names the inbox row
the payload came from (None for direct ingestion) and the payload is raw JSON bytes or an
already-decoded value. In one store transaction it claims the inbox rows, validates, dedupes by
event_id, applies consent, stores events, dead letters, profile deltas and counters; then it
updates live state. Every item ends in exactly one bucket: processed, duplicate, no_consent,
dead-lettered, or skipped (another worker had already taken its inbox row).
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..analytics.events import (
    BAD_CONSENT,
    BAD_JSON,
    ID_COLLISION,
    KNOWN_TYPES,
    TOO_DEEP,
    UNPROCESSABLE,
    Event,
    Limits,
    Rejection,
    identifier_has_pii,
    json_too_deep,
    normalise_event,
    pseudonym,
    type_label,
)
from ..analytics.privacy import ConsentRow, consent_row, subject_key
from ..analytics.scoring import DAY_MS, ScoringModel, accumulate
from ..clock import now_ms
from ..config import Config
from ..config.keys import pseudonym_key
from ..config.load import zone_named
from ..errors import is_backend_failure
from ..live import LiveBatch, LiveState
from ..store import DocumentStore, IngestTx, StoredEvent


@dataclass
class IngestResult:
    processed: int = 0
    duplicates: int = 0
    no_consent: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    replayed: int = 0
    suppressed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    # What the batch wrote besides its rows (not in as_dict): the store's and live state's
    # counters, the live events-per-minute counts, and when (the self-test takes them back).
    counters: dict[str, int] = field(default_factory=dict, repr=False)
    minute_counts: dict[str, int] = field(default_factory=dict, repr=False)
    at_ms: int = 0

    @property
    def total(self) -> int:
        return (self.processed + self.duplicates + self.no_consent + self.dead_lettered
                + self.suppressed)

    def add(self, other: IngestResult) -> IngestResult:
        self.processed += other.processed
        self.duplicates += other.duplicates
        self.no_consent += other.no_consent
        self.dead_lettered += other.dead_lettered
        self.skipped += other.skipped
        self.replayed += other.replayed
        self.suppressed += other.suppressed
        self.reasons.update(other.reasons)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"processed": self.processed, "duplicates": self.duplicates,
                "no_consent": self.no_consent, "dead_lettered": self.dead_lettered,
                "skipped": self.skipped, "replayed": self.replayed,
                "suppressed": self.suppressed,
                "reasons": dict(sorted(self.reasons.items()))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestResult:
        return cls(processed=data["processed"], duplicates=data["duplicates"],
                   no_consent=data["no_consent"], dead_lettered=data["dead_lettered"],
                   skipped=data.get("skipped", 0), replayed=data.get("replayed", 0),
                   suppressed=data.get("suppressed", 0),
                   reasons=Counter(data.get("reasons", {})))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one bounded batch. A batch allocates tens of
    thousands of small dicts and no cycles; generation scans over them cost more than the
    work itself (measured in bench/ingest.py). Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Prepared:
    """The CPU-heavy half of ingestion, done before taking the store's write lock: payloads
    decoded and normalised, consent read, profile deltas folded for the events expected to be
    new. `commit` re-checks everything that could have changed and recomputes if it did."""

    at: int
    decoded: list[tuple[str | None, Event | Rejection]]
    consent: dict[str, set[str]] | None = None
    deltas: dict[str, dict[str, Any]] | None = None
    delta_ids: frozenset[str] = frozenset()


class Ingestor:
    def __init__(self, store: DocumentStore, live: LiveState, config: Config) -> None:
        self.store = store
        self.live = live
        self.model: ScoringModel = config.scoring
        self.limits = Limits(max_payload_bytes=config.ingest.max_payload_bytes,
                             max_future_ms=config.ingest.max_future_seconds * 1000,
                             max_depth=config.ingest.max_depth,
                             pii_key=pseudonym_key(config),
                             pii_in_identifiers=config.ingest.pii_in_identifiers,
                             naive_zone=zone_named(config.ingest.naive_timezone))
        # Live state is the recent past: a session list lives an hour, a user-day a day. Events
        # older than that (a backfill) would only write entries that are already stale.
        self.session_window_ms = config.live.session_ttl_seconds * 1000
        self.day_window_ms = config.live.user_day_ttl_seconds * 1000
        self.storage_purpose = config.consent.storage_purpose
        self.profile_purpose = config.consent.profile_purpose
        self._subject_keys: dict[str, str] = {}
        self.purposes = config.consent.purposes

    def suppressed_users(self, tx: IngestTx, decoded: Iterable[tuple[str | None,
                                                                      Event | Rejection]]
                          ) -> set[str]:
        """The learners of this batch who were erased and are suppressed: nothing of their
        events is kept, not even a dead letter. Hashing happens only when anyone is."""
        if not tx.any_suppressed():
            return set()
        users = {item.user_id for _r, item in decoded if item.user_id}
        keys: dict[str, str] = {}
        for user in users:
            key = self._subject_keys.get(user)
            if key is None:
                if len(self._subject_keys) > 100_000:
                    self._subject_keys.clear()
                stored = (pseudonym(user, self.limits.pii_key) if self.limits.pii_key
                          and identifier_has_pii(user) else user)
                key = self._subject_keys[user] = subject_key(stored, self.limits.pii_key or b"")
            keys[user] = key
        hit = tx.suppressed(sorted(set(keys.values())))
        return {u for u, k in keys.items() if k in hit}

    def ingest_pending(self, limit: int, lease_ms: int, at_ms: int | None = None,
                       ignore_leases: bool = False) -> IngestResult:
        """Take up to `limit` pending inbox rows and ingest them in the same transaction.
        `ignore_leases` also takes rows someone leased (recovering lost batches)."""
        free_before = 2**62 if ignore_leases else None
        return self.ingest([], at_ms, pending=(limit, lease_ms, free_before))

    def ingest(self, items: list[tuple[str | None, Any]], at_ms: int | None = None,
               pending: tuple[int, int, int | None] | None = None) -> IngestResult:
        with gc_paused():
            try:
                if pending is not None:
                    return self._commit(None, at_ms, pending)
                return self._commit(self.prepare(items, at_ms), at_ms, None)
            except Exception as exc:
                if is_backend_failure(exc):
                    raise
                # Something in these items cannot be processed (a bug's or a hostile
                # payload's doing): the batch rolled back whole. Take them one at a time, so
                # the culprit becomes a dead letter and the rows around it go through.
                if pending is not None:
                    free = pending[2] if pending[2] is not None else (
                        now_ms() if at_ms is None else at_ms)
                    items = list(self.store.inbox_peek(pending[0], free))
                return self._one_by_one(items, at_ms)

    def _one_by_one(self, items: list[tuple[str | None, Any]], at_ms: int | None
                    ) -> IngestResult:
        result = IngestResult()
        for item in items:
            try:
                result.add(self._commit(self.prepare([item], at_ms), at_ms, None))
            except Exception as exc:
                if is_backend_failure(exc):
                    raise
                result.add(self._unprocessable(item, exc, at_ms))
        return result

    def _unprocessable(self, item: tuple[str | None, Any], exc: Exception,
                       at_ms: int | None) -> IngestResult:
        """Dead-letter one item that fails on its own, in a transaction of its own."""
        at = now_ms() if at_ms is None else at_ms
        receipt, payload = item
        result = IngestResult()
        error = (str(exc).splitlines() or [""])[0][:200]
        rejection = Rejection(UNPROCESSABLE, f"{type(exc).__name__}: {error}", payload)
        with self.store.transaction() as tx:
            if receipt is not None and not tx.take_receipts([receipt]):
                result.skipped += 1      # someone else took the row meanwhile
                return result
            tx.add_dead_letters([rejection], [receipt], at)
            tx.add_counters({"dead_lettered": 1, f"rejected:{UNPROCESSABLE}": 1})
        result.dead_lettered += 1
        result.reasons[UNPROCESSABLE] += 1
        return result

    def prepare(self, items: list[tuple[str | None, Any]], at_ms: int | None = None,
                with_consent: bool = True) -> Prepared:
        """Decode and normalise outside any lock; with consent, fold the expected deltas."""
        at = now_ms() if at_ms is None else at_ms
        decoded: list[tuple[str | None, Event | Rejection]] = []
        for receipt, payload in items:
            size = None
            if isinstance(payload, bytes | bytearray | memoryview):
                raw_bytes = bytes(payload)
                size = len(raw_bytes)
                try:
                    payload = orjson.loads(raw_bytes)
                except (orjson.JSONDecodeError, RecursionError) as exc:
                    if json_too_deep(exc):   # deeper than orjson's own limit
                        decoded.append((receipt, Rejection(
                            TOO_DEEP, f"values nest more than {self.limits.max_depth} levels "
                            "deep ([ingest] max_depth)", raw_bytes)))
                    else:
                        decoded.append((receipt, Rejection(
                            BAD_JSON, "payload is not valid JSON", raw_bytes)))
                    continue
            try:
                decoded.append((receipt, normalise_event(payload, at, self.limits, size)))
            except Exception as exc:  # noqa: BLE001 - any payload that breaks normalising
                error = (str(exc).splitlines() or [""])[0][:200]
                decoded.append((receipt, Rejection(
                    UNPROCESSABLE, f"{type(exc).__name__}: {error}", payload)))
        prepared = Prepared(at=at, decoded=decoded)
        if with_consent:
            users = sorted({e.user_id for _, e in decoded if isinstance(e, Event)})
            prepared.consent = self.store.consent_for(users) if users else {}
            candidates: dict[str, Event] = {}
            for _, event in decoded:
                if isinstance(event, Event) and event.event_id not in candidates:
                    granted = prepared.consent.get(event.user_id, ())
                    if self.storage_purpose in granted and self.profile_purpose in granted:
                        candidates[event.event_id] = event
            prepared.deltas = accumulate(candidates.values(), self.model)
            prepared.delta_ids = frozenset(candidates)
        return prepared

    def prepare_and_commit(self, items: list[tuple[str | None, Any]]) -> IngestResult:
        with gc_paused():
            try:
                prepared = self.prepare(items)
                return self._commit(prepared, prepared.at, None)
            except Exception as exc:
                if is_backend_failure(exc):
                    raise
                return self._one_by_one(items, None)

    def ingest_each(self, items: list[tuple[str | None, Any]], at_ms: int | None = None
                    ) -> list[IngestResult]:
        """Ingest `items` in one transaction, like `ingest`, and say what became of each:
        one result per item, in order (a group of per-event tasks, each wanting its own)."""
        each = [IngestResult() for _ in items]
        with gc_paused():
            self._commit(self.prepare(items, at_ms), at_ms, None, each)
        return each

    def _commit(self, prepared: Prepared | None, at_ms: int | None,
                pending: tuple[int, int, int | None] | None,
                each: list[IngestResult] | None = None) -> IngestResult:
        """Commit a prepared batch (or take pending rows). With `each`, also count every
        item's own outcome in `each[i]` (i = its position in `prepared.decoded`)."""
        at = now_ms() if at_ms is None else at_ms
        result = IngestResult()
        counters: Counter[str] = Counter()
        position: dict[int, int] = {}    # id(event) -> its position, only when `each` is given

        def note(i: int | None, outcome: str, reason: str | None = None) -> None:
            if each is not None and i is not None:
                item = each[i]
                setattr(item, outcome, getattr(item, outcome) + 1)
                if reason is not None:
                    item.reasons[reason] += 1
        with self.store.transaction() as tx:
            if prepared is None:
                assert pending is not None
                prepared = self.prepare(list(tx.take_pending(pending[0], pending[1], at,
                                                             pending[2])), at,
                                        with_consent=False)
                taken = {r for r, _ in prepared.decoded if r is not None}
            else:
                receipts = [r for r, _ in prepared.decoded if r is not None]
                taken = tx.take_receipts(receipts) if receipts else set()
            rejections: list[Rejection] = []
            rejection_receipts: list[str | None] = []
            events: list[Event] = []
            receipt_of: dict[str, str | None] = {}
            first_hash: dict[str, str] = {}

            # What became of events other than stored, per event type (the quality
            # assessment's per-type figures): counted only off the stored path.
            by_type: Counter[str] = Counter()

            def reject(rejection: Rejection, receipt: str | None, i: int | None) -> None:
                rejections.append(rejection)
                rejection_receipts.append(receipt)
                result.reasons[rejection.reason] += 1
                payload = rejection.payload
                kind = payload.get("event_type") if isinstance(payload, dict) else None
                by_type[f"dead_type:{type_label(kind) if isinstance(kind, str) else 'none'}"] += 1
                note(i, "dead_lettered", rejection.reason)

            def seen_again(event: Event, stored_hash: str, i: int | None) -> None:
                if stored_hash == event.content_hash:
                    result.duplicates += 1
                    by_type[f"duplicate_type:{type_label(event.event_type)}"] += 1
                    note(i, "duplicates")
                else:
                    reject(Rejection(ID_COLLISION, "event_id already used for other content",
                                     event.to_document(), event.event_id, event.user_id),
                           receipt_of.get(event.event_id), i)

            def classify_stored(event: Event, stored: StoredEvent) -> None:
                i = position.get(id(event))
                receipt = receipt_of.get(event.event_id)
                if receipt is not None and stored.receipt == receipt:
                    # This inbox row was already ingested by an interrupted run: a replay.
                    result.replayed += 1
                    note(i, "replayed")
                else:
                    seen_again(event, stored.content_hash, i)

            gone = self.suppressed_users(tx, prepared.decoded)
            for i, (receipt, outcome) in enumerate(prepared.decoded):
                if receipt is not None and receipt not in taken:
                    result.skipped += 1
                    note(i, "skipped")
                    continue
                if gone and outcome.user_id in gone:
                    result.suppressed += 1
                    note(i, "suppressed")
                    continue
                if isinstance(outcome, Rejection):
                    reject(outcome, receipt, i)
                    continue
                known = first_hash.get(outcome.event_id)
                if known is not None:
                    receipt_of.setdefault(outcome.event_id, receipt)
                    seen_again(outcome, known, i)
                    continue
                first_hash[outcome.event_id] = outcome.content_hash
                receipt_of[outcome.event_id] = receipt
                events.append(outcome)
                if each is not None:
                    position[id(outcome)] = i

            changes: dict[str, list[tuple[int, dict[str, bool]]]] = {}
            before: dict[str, set[str]] = {}
            if any(e.event_type == CONSENT_TYPE for e in events):
                events, rows = self._consent_events(events, reject, receipt_of, position)
                # The state before this batch's changes (read inside the same transaction).
                before = self.store.consent_for(sorted({r.user_id for r in rows}))
                tx.record_consents(rows, "event")
                result.processed += len(rows)
                counters["consent_changes"] += len(rows)
                for row in rows:
                    changes.setdefault(row.user_id, []).append((row.at_ms, row.changes))
                    note(position.get(id(row)), "processed")
            consent = prepared.consent
            if consent is None or changes:
                consent = self.store.consent_for(sorted({e.user_id for e in events}))

            def granted_for(event: Event) -> Any:
                if event.user_id in changes:
                    # Consent changed in this batch: each event is judged by the consent in
                    # force at its own time (the changes in time order after the state before).
                    return _granted_at(before.get(event.user_id, set()),
                                       changes[event.user_id], event.ts)
                return consent.get(event.user_id, ())
            to_store: list[Event] = []
            anon: Counter[tuple[str, str]] = Counter()
            for event in events:
                granted = granted_for(event)
                if self.storage_purpose in granted:
                    to_store.append(event)
                else:
                    anon[(_day_iso(event.ts), event.event_type)] += 1
                    by_type[f"no_consent_type:{type_label(event.event_type)}"] += 1
                    result.no_consent += 1
                    note(position.get(id(event)), "no_consent")

            existing = tx.existing_events([e.event_id for e in to_store]) if to_store else {}
            fresh: list[Event] = []
            for event in to_store:
                stored = existing.get(event.event_id)
                if stored is None:
                    fresh.append(event)
                else:
                    classify_stored(event, stored)
            inserted, raced = tx.insert_events(fresh, receipt_of)
            for event in fresh:
                if event.event_id in raced:
                    classify_stored(event, raced[event.event_id])
            result.processed += len(inserted)
            if each is not None:
                for event in inserted:
                    note(position.get(id(event)), "processed")

            profiled = [e for e in inserted if self.profile_purpose in granted_for(e)]
            if profiled:
                deltas = prepared.deltas
                if deltas is None or len(profiled) != len(prepared.delta_ids) or any(
                        e.event_id not in prepared.delta_ids for e in profiled):
                    # Something changed since prepare (a duplicate, a race): fold again.
                    deltas = accumulate(profiled, self.model)
                tx.apply_profile_deltas(deltas, at)
            if rejections:
                tx.add_dead_letters(rejections, rejection_receipts, at)
            result.dead_lettered = len(rejections)
            if anon:
                tx.add_anon_counts(dict(anon))
            counters["processed"] += result.processed
            if result.processed:  # hourly, for "processed in the last 24 h"
                counters[f"processed_hour:{at // 3_600_000}"] += result.processed
            counters.update(by_type)
            counters["duplicates"] += result.duplicates
            counters["no_consent"] += result.no_consent
            counters["dead_lettered"] += result.dead_lettered
            counters["suppressed"] += result.suppressed
            counters["profiled"] += len(profiled)
            counters["no_profile_consent"] += len(inserted) - len(profiled)
            for reason, n in result.reasons.items():
                counters[f"rejected:{reason}"] += n
            stored_types: Counter[str] = Counter()
            for event in inserted:
                if event.pii_masked:
                    counters["pii_masked"] += event.pii_masked
                if event.keys_dropped:
                    counters["keys_dropped"] += event.keys_dropped
                if event.naive_time:
                    counters["naive_timestamps"] += 1
                stored_types[event.event_type] += 1
            for event_type, n in stored_types.items():
                if event_type not in KNOWN_TYPES:
                    counters["unknown_type"] += n
                counters[f"stored_type:{type_label(event_type)}"] += n
            tx.add_counters(dict(counters))

        result.counters, result.at_ms = {k: v for k, v in counters.items() if v}, at
        if inserted or anon or any(counters.values()):
            batch = self._live_batch(inserted, anon, counters, at)
            result.minute_counts = dict(batch.minute_counts)
            self.live.record_batch(batch, at)
        return result

    def _consent_events(self, events: list[Event], reject: Any, receipt_of: dict[str, str | None],
                        position: dict[int, int]) -> tuple[list[Event], list[ConsentRow]]:
        """Split consent events off the batch as ledger rows (an invalid one is dead-lettered
        with `bad_consent`); the rest go on as usual."""
        rest: list[Event] = []
        rows: list[ConsentRow] = []
        for event in events:
            if event.event_type != CONSENT_TYPE:
                rest.append(event)
                continue
            props = event.properties
            try:
                row = consent_row({"method": "event", "notice_version": "unknown",
                                   "legal_basis": "consent", **props,
                                   "user_id": event.user_id, "time": None},
                                  self.purposes, int, event.ts)
            except ValueError as exc:
                reject(Rejection(BAD_CONSENT, f"consent event: {exc}", event.to_document(),
                                 event.event_id, event.user_id),
                       receipt_of.get(event.event_id), position.get(id(event)))
                continue
            rows.append(row)
            if id(event) in position:
                position[id(row)] = position[id(event)]
        return rest, rows

    def _live_batch(self, inserted: list[Event], anon: Counter[tuple[str, str]],
                    counters: Counter[str], at: int) -> LiveBatch:
        batch = LiveBatch(counters={k: v for k, v in counters.items() if v})
        minute: Counter[str] = Counter()
        day_since = at - self.day_window_ms
        session_since = at - self.session_window_ms
        for event in inserted:
            minute[event.event_type] += 1
            if event.ts < day_since:
                continue
            key = (event.user_id, _day_iso(event.ts))
            entry = batch.user_days.get(key)
            if entry is None:
                batch.user_days[key] = (event.ts, {event.event_type: 1})
            else:
                last, counts = entry
                counts[event.event_type] = counts.get(event.event_type, 0) + 1
                if event.ts > last:
                    batch.user_days[key] = (event.ts, counts)
            if event.session_id and event.ts >= session_since:
                batch.sessions.setdefault((event.user_id, event.session_id), []).append(
                    {"event_id": event.event_id, "event_type": event.event_type, "ts": event.ts})
        for (_day, etype), n in anon.items():
            minute[etype] += n
        for items in batch.sessions.values():
            items.sort(key=lambda item: (item["ts"], item["event_id"]))
        batch.minute_counts = dict(minute)
        return batch


_DAY_CACHE: dict[int, str] = {}


CONSENT_TYPE = "consent"


def _granted_at(before: set[str], changes: list[tuple[int, dict[str, bool]]], ts: int
                ) -> set[str]:
    """Purposes granted at `ts`: the state before the batch, then each change made at or
    before `ts`, in time order."""
    granted = set(before)
    for at, change in sorted(changes, key=lambda c: c[0]):
        if at > ts:
            break
        for purpose, on in change.items():
            if on:
                granted.add(purpose)
            else:
                granted.discard(purpose)
    return granted


def _day_iso(ts_ms: int) -> str:
    """UTC date of an epoch-ms timestamp, memoised by day number (hot path)."""
    day = ts_ms // DAY_MS
    text = _DAY_CACHE.get(day)
    if text is None:
        text = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
        _DAY_CACHE[day] = text
    return text
