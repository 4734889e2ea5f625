"""The document store interface. Business logic talks only to this; backends implement it.

Collections: events (unique event_id), dead_letters, users (consent per purpose + profile
accumulator), consent_history (append-only), inbox (pending raw events), anon_counts
(no-consent events: a count per day and type), counters, and generic documents
(courses, simulation ground truth). Every record that carries a user id is indexed by it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from ..analytics.events import (
    Event,
    Rejection,
    dead_letter_payload,
    identifier_has_pii,
    mask_text,
)
from ..analytics.privacy import ConsentRow, Terms

# Where retention finds the age of a document collection: the time field in its body.
DOCUMENT_TIMES: dict[str, str] = {
    "user_analysis": "as_of_ms", "segment_history": "at_ms", "anomalies": "last_seen_ms",
    "action_log": "started_ms", "evaluations": "at_ms", "erasure_requests": "verified_ms",
    "audits": "at_ms",
}


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    content_hash: str
    receipt: str | None


# A dead letter keeps its payload masked like a stored event and no larger than the event size
# limit (the detail then gives the original size and a hash).
DEAD_LETTER_MAX_BYTES = 16_384


def dead_letter_fields(rejection: Rejection) -> tuple[str, str, str | None, str | None]:
    """(detail, payload text, event id, user id) of a dead letter, as every backend stores
    them: an id that carries an e-mail address or phone number is kept masked."""
    text, note = dead_letter_payload(rejection.payload, DEAD_LETTER_MAX_BYTES)
    ids = [mask_text(i)[0] if i is not None and identifier_has_pii(i) else i
           for i in (rejection.event_id, rejection.user_id)]
    return rejection.detail + note, text, ids[0], ids[1]


class IngestTx(abc.ABC):
    """One unit of ingestion work. On SQLite it is a single write transaction; on MongoDB the
    operations are individually atomic and replay-safe (see docs/architecture.md)."""

    @abc.abstractmethod
    def take_receipts(self, receipts: list[str]) -> set[str]:
        """Claim these inbox rows for this transaction; return those that still existed."""

    @abc.abstractmethod
    def take_pending(self, limit: int, lease_ms: int, now_ms: int,
                     free_before_ms: int | None = None) -> list[tuple[str, bytes]]:
        """Take up to `limit` inbox rows (oldest first) whose lease ended before
        `free_before_ms` (default: now) for this transaction."""

    @abc.abstractmethod
    def existing_events(self, event_ids: list[str]) -> dict[str, StoredEvent]:
        """Events already stored among `event_ids`."""

    @abc.abstractmethod
    def insert_events(self, events: list[Event], receipts: dict[str, str | None]
                      ) -> tuple[list[Event], dict[str, StoredEvent]]:
        """Insert; return (inserted, already present) — a concurrent writer may have won."""

    @abc.abstractmethod
    def add_dead_letters(self, rejections: list[Rejection], receipts: list[str | None],
                         at_ms: int) -> None: ...

    @abc.abstractmethod
    def apply_profile_deltas(self, deltas: dict[str, dict[str, Any]], at_ms: int) -> None: ...

    @abc.abstractmethod
    def add_counters(self, counts: dict[str, int]) -> None: ...

    @abc.abstractmethod
    def add_anon_counts(self, counts: dict[tuple[str, str], int]) -> None: ...

    @abc.abstractmethod
    def record_consents(self, rows: list[ConsentRow], actor: str) -> int:
        """Consent changes that came as events, into the ledger with this batch."""

    @abc.abstractmethod
    def any_suppressed(self) -> bool:
        """Whether any learner is suppressed at all (the common case is none: then no id is
        hashed)."""

    @abc.abstractmethod
    def suppressed(self, keys: list[str]) -> set[str]:
        """The subject keys among `keys` that are suppressed (erased learners)."""

    @abc.abstractmethod
    def inbox_put(self, payloads: list[bytes], at_ms: int, lease_ms: int = 0) -> list[str]:
        """`DocumentStore.inbox_put` inside this unit of work (the collector writes its
        dead letters, counters and inbox rows together)."""


class DocumentStore(abc.ABC):
    backend: str = "?"

    # --- ingestion ------------------------------------------------------------------------
    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[IngestTx]: ...

    @contextmanager
    def transaction_now(self) -> Iterator[IngestTx | None]:
        """A transaction if one can start without waiting for another writer, else None (the
        caller then uses `transaction()` where waiting does no harm: the collector's event
        loop commits here only when no other writer holds the store). A backend that cannot
        tell yields None."""
        yield None

    def checkpoint_aside(self) -> None:  # noqa: B027 - optional: most backends have nothing
        """For a thread whose commits must not stall (the collector's event loop): the
        housekeeping a commit may do (SQLite: checkpointing the write-ahead log into the
        database file, tens of milliseconds) is done by a background thread instead. A backend
        with no such work does nothing."""

    @abc.abstractmethod
    def inbox_put(self, payloads: list[bytes], at_ms: int, lease_ms: int = 0) -> list[str]:
        """Store raw event payloads as pending; return their receipts in order. With
        `lease_ms`, the rows start leased (a task is on its way for them)."""

    @abc.abstractmethod
    def inbox_claim(self, limit: int, lease_ms: int, now_ms: int,
                    free_before_ms: int | None = None) -> list[tuple[str, bytes]]:
        """Lease up to `limit` pending payloads (oldest first) whose lease ended before
        `free_before_ms` (default: now)."""

    @abc.abstractmethod
    def inbox_release(self, receipts: list[str]) -> int:
        """End the lease of these rows (those still pending): they are offered again at once.
        Returns how many were released."""

    @abc.abstractmethod
    def inbox_get(self, receipts: list[str]) -> list[tuple[str, bytes]]: ...

    @abc.abstractmethod
    def inbox_peek(self, limit: int, now_ms: int, after: int = 0,
                   partition: tuple[int, int] = (1, 0)) -> list[tuple[str, bytes]]:
        """Read (without claiming) up to `limit` unleased rows with id > `after` and
        id % n == k for partition (n, k), oldest first. Ingesting takes them atomically."""

    @abc.abstractmethod
    def inbox_count(self) -> int: ...

    def inbox_upper_bound(self) -> int:
        """At least the number of inbox rows, cheap to read at any size (the collector's
        back-pressure looks at it every second; an exact count reads the whole inbox)."""
        return self.inbox_count()

    @abc.abstractmethod
    def inbox_oldest_ms(self) -> int | None: ...

    # --- users and consent ----------------------------------------------------------------
    @abc.abstractmethod
    def consent_for(self, user_ids: list[str]) -> dict[str, set[str]]:
        """Granted purposes per user (users with no record are absent)."""

    @abc.abstractmethod
    def record_consent(self, user_id: str, changes: dict[str, bool], *, method: str,
                       version: str, legal_basis: str, actor: str, at_ms: int) -> set[str]:
        """Apply consent changes, append them to the history; return the granted purposes."""

    @abc.abstractmethod
    def consent_history(self, user_id: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def get_user(self, user_id: str) -> dict[str, Any] | None:
        """{'user_id', 'consent': {purpose: bool}, 'acc': accumulator, 'updated_ms'}."""

    @abc.abstractmethod
    def get_users(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """`get_user` for many ids in a few queries; unknown ids are left out."""

    @abc.abstractmethod
    def iter_users(self, batch: int = 1000) -> Iterator[dict[str, Any]]: ...

    @abc.abstractmethod
    def count_users(self) -> int: ...

    @abc.abstractmethod
    def find_users(self, prefix: str, limit: int = 20) -> list[dict[str, Any]]:
        """Learners whose id starts with `prefix` ({user_id, last_ms}), the most recently
        active first (ties by id)."""

    @abc.abstractmethod
    def count_users_active_since(self, since_ms: int) -> int: ...

    # --- reads ----------------------------------------------------------------------------
    @abc.abstractmethod
    def user_events(self, user_id: str, limit: int = 1000, newest: bool = False
                    ) -> list[dict[str, Any]]:
        """A user's stored events as documents: the oldest `limit`, oldest first, or with
        `newest` the newest `limit`, newest first."""

    @abc.abstractmethod
    def iter_events(self, since_ms: int | None = None, batch: int = 50_000
                    ) -> Iterator[list[dict[str, Any]]]:
        """Every stored event {user_id, event_type, ts, properties} (since `since_ms`), in
        batches, in storage order."""

    @abc.abstractmethod
    def scan_events(self, cursor: str | None, limit: int, settle_ms: int = 10_000
                    ) -> tuple[list[dict[str, Any]], str | None]:
        """The events stored after `cursor` (None: from the first), oldest stored first, at
        most `limit`: {event_id, user_id, event_type, ts, session_id, properties,
        ingested_ms}, and the cursor to go on from (`cursor` itself when there is nothing
        new). Incremental readers (the quality assessment) keep the cursor between runs. A
        backend without a commit-ordered sequence leaves out what was stored in the last
        `settle_ms` (a batch still being written), so that nothing is skipped."""

    @abc.abstractmethod
    def count_events(self) -> int: ...

    @abc.abstractmethod
    def event_counts(self, since_ms: int, bucket_ms: int) -> dict[int, int]:
        """Stored events by event time from `since_ms` on: {bucket start (epoch ms, a
        multiple of `bucket_ms`): count}; buckets with none are left out."""

    @abc.abstractmethod
    def counters(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def take_back_counters(self, counts: dict[str, int]) -> None:
        """Subtract `counts` (what a run of ours added, such as the self-test's) in one
        transaction; a counter that comes to zero is removed, as if never counted."""

    @abc.abstractmethod
    def dead_letters(self, limit: int = 100, reason: str | None = None
                     ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def count_dead_letters(self) -> int: ...

    @abc.abstractmethod
    def dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        """One dead letter by the 'id' `dead_letters` gives, or None."""

    @abc.abstractmethod
    def remove_dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        """Delete one dead letter (by the 'id' `dead_letters` gives); return it, or None."""

    @abc.abstractmethod
    def anon_counts(self) -> dict[tuple[str, str], int]: ...

    # --- task runs and alerts (bounded histories) -----------------------------------------
    @abc.abstractmethod
    def add_task_runs(self, runs: list[dict[str, Any]], keep: int = 20_000) -> None:
        """Append task runs {task_id, task, queue, status, started_ms, ended_ms, duration_s,
        error, args_summary, args_json}; keep the newest `keep` (failed ones longer)."""

    @abc.abstractmethod
    def task_runs(self, limit: int = 50, failed_only: bool = False, queue: str | None = None,
                  since_ms: int | None = None, task: str | None = None
                  ) -> list[dict[str, Any]]:
        """Newest first."""

    @abc.abstractmethod
    def count_failed_runs(self, since_ms: int) -> int:
        """Failed task runs that ended at or after `since_ms` (a count, nothing loaded)."""

    @abc.abstractmethod
    def task_run(self, task_id: str) -> dict[str, Any] | None:
        """The newest run of `task_id`."""

    @abc.abstractmethod
    def record_alert(self, alert: dict[str, Any]) -> None:
        """Upsert an alert by its 'alert_id' (raised, then updated when cleared or acked)."""

    @abc.abstractmethod
    def alerts(self, active_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""

    # --- generic documents (catalogue, ground truth) --------------------------------------
    @abc.abstractmethod
    def put_documents(self, collection: str, docs: list[dict[str, Any]]) -> None:
        """Upsert documents by their '_id'. A 'user_id' field is indexed."""

    @abc.abstractmethod
    def get_documents(self, collection: str, user_id: str | None = None
                      ) -> list[dict[str, Any]]: ...

    # --- the operator action log ----------------------------------------------------------
    def record_action(self, entry: dict[str, Any]) -> None:
        """Append (or update, by 'action_id') an operator action {who, action, params,
        started_ms, ended_ms, outcome, ok}."""
        self.put_documents("action_log", [{**entry, "_id": entry["action_id"]}])

    def actions(self, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first. Action ids start with the zero-padded start time, so they sort."""
        return sorted(self.get_documents("action_log"), key=lambda d: d["_id"],
                      reverse=True)[:limit]

    def free_bytes(self) -> int | None:
        """Space the store holds free for reuse (deleted records), when the backend says."""
        return None

    # --- suppression: erased learners whose new events are refused ------------------------
    def suppress(self, key: str, entry: dict[str, Any]) -> None:
        self.put_documents("suppressions", [{**entry, "_id": key}])

    def unsuppress(self, key: str) -> bool:
        return self.delete_documents("suppressions", [key]) > 0

    def suppressions(self) -> list[dict[str, Any]]:
        return self.get_documents("suppressions")

    # --- privacy: erasure, suppression, retention, the audit's queries ----------------------
    @abc.abstractmethod
    def erase_users(self, user_ids: list[str], terms: Terms, replacement: str
                    ) -> dict[str, int]:
        """Delete every record of these learners (their events, profile, consent ledger,
        documents indexed by them, and dead letters and inbox rows that name them) and replace
        the terms by `replacement` in records about others (action log, task-run arguments,
        alerts, other documents and events). Returns records removed or pseudonymised per
        collection. Idempotent."""

    @abc.abstractmethod
    def record_consents(self, rows: list[ConsentRow], actor: str) -> int:
        """Append consent rows to the ledger, skipping entries already there (importing the
        same file twice changes nothing); a learner's current consent per purpose follows the
        newest entry by time. Returns the ledger entries added."""

    @abc.abstractmethod
    def find_terms(self, terms: Terms) -> dict[str, int]:
        """Records anywhere in the store that still hold one of the terms, per collection."""

    @abc.abstractmethod
    def known_user_ids(self) -> set[str]:
        """Every learner id the store holds a record of."""

    @abc.abstractmethod
    def count_user_events(self, user_id: str, start_ms: int, end_ms: int) -> int:
        """A learner's stored events with start <= event time < end."""

    @abc.abstractmethod
    def consent_ledger(self, purposes: list[str]) -> Iterator[dict[str, Any]]:
        """Every consent-ledger entry for `purposes` {user_id, purpose, granted, at_ms, method,
        version, legal_basis}, by learner then time."""

    @abc.abstractmethod
    def users_with_events_without_consent_record(self) -> int: ...

    @abc.abstractmethod
    def incomplete_consent_records(self) -> int:
        """Ledger entries missing who, when, how, the notice version or the legal basis."""

    @abc.abstractmethod
    def delete_documents(self, collection: str, doc_ids: list[str]) -> int: ...

    @abc.abstractmethod
    def reset_profile(self, user_id: str) -> int:
        """Empty a learner's profile accumulator (consent stays); 1 if there was one."""

    @abc.abstractmethod
    def texts(self, collection: str) -> Iterator[Any]:
        """The free-form part of every record of `collection` (events: properties;
        dead_letters: payload; task_runs: the run with its arguments; inbox: the raw payload),
        as JSON text, bytes or a decoded value: what the PII scan reads."""

    @abc.abstractmethod
    def oldest_ms(self, collection: str) -> int | None:
        """The age of a retention collection's oldest record (epoch ms), None when empty.
        Collections: events, sessions, dead_letters, task_runs, alerts, consent_history,
        profiles, and the documents user_analysis, segment_history, anomalies, action_log,
        evaluations, erasure_requests, audits."""

    @abc.abstractmethod
    def count_older(self, collection: str, before_ms: int) -> int: ...

    @abc.abstractmethod
    def expire(self, collection: str, before_ms: int, limit: int) -> int:
        """Delete up to `limit` records older than `before_ms` (profiles: empty them) in one
        short write; returns how many. Callers loop, so ingestion is never held up long."""

    @abc.abstractmethod
    def close(self) -> None: ...
