"""MongoDB document store through pymongo.

No multi-document transactions are assumed (a standalone server has none). Instead every write
is idempotent or replay-detectable: events are inserted by `_id = event_id` with the inbox
receipt they came from; dead letters by `_id = receipt`; inbox rows are deleted only after the
batch is written. A batch interrupted half way is found again in the inbox and replayed: events
already stored with the same receipt are recognised as a replay and neither re-profiled nor
counted. Profile deltas are applied with `$inc`/`$min`/`$max`, so concurrent workers never race.
The one window left: a worker killed between the event insert and the profile/counter update of
the same batch leaves those deltas unapplied (documented in docs/architecture.md).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import ASCENDING, DESCENDING, InsertOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from ..analytics.events import Event, Rejection
from ..analytics.privacy import ConsentRow
from ..analytics.scoring import mongo_update
from .base import DocumentStore, IngestTx, StoredEvent, dead_letter_fields
from .mongo_privacy import MongoPrivacy

_DUPLICATE_KEY = 11000


class _MongoTx(IngestTx):
    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.db = store.db
        self.taken: list[str] = []

    def inbox_put(self, payloads: list[bytes], at_ms: int, lease_ms: int = 0) -> list[str]:
        return self.store.inbox_put(payloads, at_ms, lease_ms)

    def take_receipts(self, receipts: list[str]) -> set[str]:
        # Lease the rows so a concurrent worker skips them; deleted in finish().
        ids = [int(r) for r in receipts]
        now = int(time.time() * 1000)
        token = uuid.uuid4().hex
        self.db.inbox.update_many({"_id": {"$in": ids}, "leased_until": {"$lte": now}},
                                  {"$set": {"leased_until": now + 600_000, "lease": token}})
        found = {str(d["_id"]) for d in self.db.inbox.find({"lease": token}, {"_id": 1})}
        self.taken = sorted(found)
        return found

    def take_pending(self, limit: int, lease_ms: int, now_ms: int,
                     free_before_ms: int | None = None) -> list[tuple[str, bytes]]:
        # Leased, not deleted: the rows are deleted in finish(), after the batch is written.
        items = self.store.inbox_claim(limit, lease_ms, now_ms, free_before_ms)
        self.taken = sorted({r for r, _ in items} | set(self.taken))
        return items

    def existing_events(self, event_ids: list[str]) -> dict[str, StoredEvent]:
        return {
            d["_id"]: StoredEvent(d["_id"], d["hash"], d.get("receipt"))
            for d in self.db.events.find({"_id": {"$in": event_ids}},
                                         {"_id": 1, "hash": 1, "receipt": 1})
        }

    def insert_events(self, events: list[Event], receipts: dict[str, str | None]
                      ) -> tuple[list[Event], dict[str, StoredEvent]]:
        if not events:
            return [], {}
        now = int(time.time() * 1000)
        docs = [
            {"_id": e.event_id, "user_id": e.user_id, "event_type": e.event_type, "ts": e.ts,
             "session_id": e.session_id, "properties": e.properties, "hash": e.content_hash,
             "receipt": receipts.get(e.event_id), "ingested_ms": now,
             "received_ms": e.received_ms or now,
             **({"source": e.source} if e.source else {})}
            for e in events
        ]
        lost: set[int] = set()
        try:
            self.db.events.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != _DUPLICATE_KEY:
                    raise
                lost.add(int(error["index"]))
        inserted = [e for i, e in enumerate(events) if i not in lost]
        raced = self.existing_events([events[i].event_id for i in lost]) if lost else {}
        return inserted, raced

    def add_dead_letters(self, rejections: list[Rejection], receipts: list[str | None],
                         at_ms: int) -> None:
        ops: list[Any] = []
        for rejection, receipt in zip(rejections, receipts, strict=True):
            detail, text, event_id, user_id = dead_letter_fields(rejection)
            doc = {"reason": rejection.reason, "detail": detail, "payload": text,
                   "event_id": event_id, "user_id": user_id, "at_ms": at_ms,
                   "seq": self.store.next_seq("dead_letters")}
            if receipt is None:
                ops.append(InsertOne({"_id": uuid.uuid4().hex, **doc}))
            else:
                ops.append(UpdateOne({"_id": f"r{receipt}"}, {"$setOnInsert": doc}, upsert=True))
        if ops:
            self.db.dead_letters.bulk_write(ops, ordered=False)

    def apply_profile_deltas(self, deltas: dict[str, dict[str, Any]], at_ms: int) -> None:
        ops = []
        for user_id, delta in deltas.items():
            update = mongo_update(delta)
            update.setdefault("$max", {})["updated_ms"] = at_ms
            if "last" in delta:
                update["$max"]["last_ms"] = delta["last"]
            update["$setOnInsert"] = {"consent": {}}
            ops.append(UpdateOne({"_id": user_id}, update, upsert=True))
        if ops:
            self.db.users.bulk_write(ops, ordered=False)

    def add_counters(self, counts: dict[str, int]) -> None:
        ops = [UpdateOne({"_id": k}, {"$inc": {"value": v}}, upsert=True)
               for k, v in counts.items() if v]
        if ops:
            self.db.counters.bulk_write(ops, ordered=False)

    def add_anon_counts(self, counts: dict[tuple[str, str], int]) -> None:
        ops = [UpdateOne({"_id": f"{day}|{etype}"},
                         {"$inc": {"n": n}, "$set": {"day": day, "event_type": etype}},
                         upsert=True)
               for (day, etype), n in counts.items()]
        if ops:
            self.db.anon_counts.bulk_write(ops, ordered=False)

    def record_consents(self, rows: list[ConsentRow], actor: str) -> int:
        return self.store.record_consents(rows, actor)

    def any_suppressed(self) -> bool:
        return self.db.documents.find_one({"collection": "suppressions"}, {"_id": 1}) is not None

    def suppressed(self, keys: list[str]) -> set[str]:
        return {d["doc_id"] for d in self.db.documents.find(
            {"_id": {"$in": [f"suppressions:{k}" for k in keys]}}, {"doc_id": 1})}

    def finish(self) -> None:
        if self.taken:
            self.db.inbox.delete_many({"_id": {"$in": [int(r) for r in self.taken]}})


def _letter(d: dict[str, Any]) -> dict[str, Any]:
    """A dead-letter document as the store interface returns it."""
    return {"id": str(d["_id"]), "reason": d["reason"], "detail": d["detail"],
            "payload": d["payload"], "event_id": d.get("event_id"), "user_id": d.get("user_id"),
            "at_ms": d["at_ms"]}


class MongoStore(MongoPrivacy, DocumentStore):
    backend = "mongodb"

    def __init__(self, client: Any, db_name: str) -> None:
        self.client = client
        self.db = client[db_name]
        self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        db = self.db
        db.events.create_index([("user_id", ASCENDING), ("ts", ASCENDING)])
        db.events.create_index([("ts", ASCENDING)])
        db.events.create_index([("receipt", ASCENDING)])
        db.events.create_index([("ingested_ms", ASCENDING), ("_id", ASCENDING)])
        db.dead_letters.create_index([("user_id", ASCENDING)])
        db.dead_letters.create_index([("at_ms", ASCENDING)])
        db.dead_letters.create_index([("reason", ASCENDING), ("seq", ASCENDING)])
        db.users.create_index([("last_ms", ASCENDING)])
        db.consent_history.create_index([("user_id", ASCENDING), ("at_ms", ASCENDING)])
        db.inbox.create_index([("leased_until", ASCENDING), ("_id", ASCENDING)])
        db.documents.create_index([("collection", ASCENDING), ("user_id", ASCENDING)])
        db.task_runs.create_index([("task_id", ASCENDING)])
        db.task_runs.create_index([("queue", ASCENDING), ("ended_ms", ASCENDING)])
        db.task_runs.create_index([("status", ASCENDING), ("seq", ASCENDING)])
        db.alerts.create_index([("raised_ms", ASCENDING)])

    def next_seq(self, name: str, n: int = 1) -> int:
        """Allocate `n` increasing ids; returns the first."""
        doc = self.db.sequences.find_one_and_update(
            {"_id": name}, {"$inc": {"value": n}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        return int(doc["value"]) - n + 1

    @contextmanager
    def transaction(self) -> Iterator[IngestTx]:
        tx = _MongoTx(self)
        yield tx
        tx.finish()

    # --- inbox ----------------------------------------------------------------------------
    def inbox_put(self, payloads: list[bytes], at_ms: int, lease_ms: int = 0) -> list[str]:
        if not payloads:
            return []
        first = self.next_seq("inbox", len(payloads))
        leased_until = at_ms + lease_ms if lease_ms else 0
        docs = [{"_id": first + i, "payload": p, "received_ms": at_ms,
                 "leased_until": leased_until}
                for i, p in enumerate(payloads)]
        self.db.inbox.insert_many(docs, ordered=True)
        return [str(first + i) for i in range(len(payloads))]

    def inbox_claim(self, limit: int, lease_ms: int, now_ms: int,
                    free_before_ms: int | None = None) -> list[tuple[str, bytes]]:
        free = now_ms if free_before_ms is None else free_before_ms
        candidates = [d["_id"] for d in self.db.inbox.find(
            {"leased_until": {"$lte": free}}, {"_id": 1}).sort("_id", ASCENDING).limit(limit)]
        if not candidates:
            return []
        token = uuid.uuid4().hex
        self.db.inbox.update_many(
            {"_id": {"$in": candidates}, "leased_until": {"$lte": free}},
            {"$set": {"leased_until": now_ms + lease_ms, "lease": token}})
        return [(str(d["_id"]), bytes(d["payload"])) for d in
                self.db.inbox.find({"lease": token}).sort("_id", ASCENDING)]

    def inbox_release(self, receipts: list[str]) -> int:
        done = self.db.inbox.update_many({"_id": {"$in": [int(r) for r in receipts]}},
                                         {"$set": {"leased_until": 0}, "$unset": {"lease": ""}})
        return int(done.modified_count)

    def inbox_get(self, receipts: list[str]) -> list[tuple[str, bytes]]:
        return [(str(d["_id"]), bytes(d["payload"])) for d in self.db.inbox.find(
            {"_id": {"$in": [int(r) for r in receipts]}}).sort("_id", ASCENDING)]

    def inbox_peek(self, limit: int, now_ms: int, after: int = 0,
                   partition: tuple[int, int] = (1, 0)) -> list[tuple[str, bytes]]:
        # Partition in Python, not with $mod: the same code then runs on mongomock too.
        n, k = partition
        out: list[tuple[str, bytes]] = []
        while len(out) < limit:
            docs = list(self.db.inbox.find({"_id": {"$gt": after},
                                            "leased_until": {"$lte": now_ms}})
                        .sort("_id", ASCENDING).limit(limit * n))
            if not docs:
                break
            out += [(str(d["_id"]), bytes(d["payload"])) for d in docs if d["_id"] % n == k]
            after = docs[-1]["_id"]
        return out[:limit]

    def inbox_count(self) -> int:
        return int(self.db.inbox.count_documents({}))

    def inbox_oldest_ms(self) -> int | None:
        doc = self.db.inbox.find_one({}, sort=[("_id", ASCENDING)])
        return None if doc is None else int(doc["received_ms"])

    # --- users ----------------------------------------------------------------------------
    def consent_for(self, user_ids: list[str]) -> dict[str, set[str]]:
        return {
            d["_id"]: {p for p, g in (d.get("consent") or {}).items() if g}
            for d in self.db.users.find({"_id": {"$in": user_ids}}, {"consent": 1})
        }

    def record_consent(self, user_id: str, changes: dict[str, bool], *, method: str,
                       version: str, legal_basis: str, actor: str, at_ms: int) -> set[str]:
        update: dict[str, Any] = {"$set": {f"consent.{p}": g for p, g in changes.items()},
                                  "$max": {"updated_ms": at_ms}}
        doc = self.db.users.find_one_and_update(
            {"_id": user_id}, update, upsert=True, return_document=ReturnDocument.AFTER)
        if changes:
            self.db.consent_history.insert_many([
                {"user_id": user_id, "purpose": p, "granted": g, "at_ms": at_ms,
                 "method": method, "version": version, "legal_basis": legal_basis,
                 "actor": actor, "seq": self.next_seq("consent_history")}
                for p, g in changes.items()])
        return {p for p, g in (doc.get("consent") or {}).items() if g}

    def consent_history(self, user_id: str) -> list[dict[str, Any]]:
        return [
            {k: d[k] for k in ("purpose", "granted", "at_ms", "method", "version",
                               "legal_basis", "actor")}
            for d in self.db.consent_history.find({"user_id": user_id}).sort("seq", ASCENDING)
        ]

    @staticmethod
    def _user(doc: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": doc["_id"], "consent": doc.get("consent") or {},
                "acc": doc.get("acc") or {}, "updated_ms": doc.get("updated_ms")}

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        doc = self.db.users.find_one({"_id": user_id})
        return None if doc is None else self._user(doc)

    def get_users(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: self._user(doc)
                for doc in self.db.users.find({"_id": {"$in": list(user_ids)}})}

    def iter_users(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        for doc in self.db.users.find({}).sort("_id", ASCENDING).batch_size(batch):
            yield self._user(doc)

    def count_users(self) -> int:
        return int(self.db.users.count_documents({}))

    def count_users_active_since(self, since_ms: int) -> int:
        return int(self.db.users.count_documents({"last_ms": {"$gte": since_ms}}))

    def find_users(self, prefix: str, limit: int = 20) -> list[dict[str, Any]]:
        found = self.db.users.find({"_id": {"$gte": prefix, "$lt": prefix + "\U0010ffff"}},
                                   {"last_ms": 1}).sort([("last_ms", DESCENDING),
                                                         ("_id", ASCENDING)]).limit(limit)
        return [{"user_id": d["_id"], "last_ms": d.get("last_ms")} for d in found]

    # --- reads ----------------------------------------------------------------------------
    def user_events(self, user_id: str, limit: int = 1000, newest: bool = False
                    ) -> list[dict[str, Any]]:
        way = DESCENDING if newest else ASCENDING
        cur = self.db.events.find({"user_id": user_id}).sort(
            [("ts", way), ("_id", way)]).limit(limit)
        return [
            {"event_id": d["_id"], "user_id": user_id, "event_type": d["event_type"],
             "ts": d["ts"], "session_id": d.get("session_id"), "properties": d["properties"],
             **({"source": d["source"]} if d.get("source") else {})}
            for d in cur
        ]

    def iter_events(self, since_ms: int | None = None, batch: int = 50_000
                    ) -> Iterator[list[dict[str, Any]]]:
        query = {"ts": {"$gte": since_ms}} if since_ms else {}
        chunk: list[dict[str, Any]] = []
        for d in self.db.events.find(query, {"user_id": 1, "event_type": 1, "ts": 1,
                                             "properties": 1}).batch_size(batch):
            chunk.append({"user_id": d["user_id"], "event_type": d["event_type"], "ts": d["ts"],
                          "properties": d.get("properties") or {}})
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def scan_events(self, cursor: str | None, limit: int, settle_ms: int = 10_000
                    ) -> tuple[list[dict[str, Any]], str | None]:
        # Ordered by (ingested_ms, _id); what was stored in the last `settle_ms` waits for
        # the next scan (another worker's batch may still be arriving with an older stamp).
        upto = int(time.time() * 1000) - settle_ms
        query: dict[str, Any] = {"ingested_ms": {"$lte": upto}}
        if cursor:
            ms_text, _, last_id = cursor.partition(":")
            ms = int(ms_text)
            query = {"$and": [query, {"$or": [{"ingested_ms": {"$gt": ms}},
                                              {"ingested_ms": ms, "_id": {"$gt": last_id}}]}]}
        docs = list(self.db.events.find(query).sort([("ingested_ms", ASCENDING),
                                                     ("_id", ASCENDING)]).limit(limit))
        if not docs:
            return [], cursor
        last = docs[-1]
        return ([{"event_id": d["_id"], "user_id": d["user_id"], "event_type": d["event_type"],
                  "ts": d["ts"], "session_id": d.get("session_id"),
                  "properties": d.get("properties") or {}, "ingested_ms": d["ingested_ms"],
                  "received_ms": d.get("received_ms") or d["ingested_ms"]}
                 for d in docs], f"{last['ingested_ms']}:{last['_id']}")

    def count_events(self) -> int:
        return int(self.db.events.count_documents({}))

    def event_counts(self, since_ms: int, bucket_ms: int) -> dict[int, int]:
        rows = self.db.events.aggregate([
            {"$match": {"ts": {"$gte": since_ms}}},
            {"$group": {"_id": {"$subtract": ["$ts", {"$mod": ["$ts", bucket_ms]}]},
                        "n": {"$sum": 1}}}])
        return {int(r["_id"]): int(r["n"]) for r in rows}

    def counters(self) -> dict[str, int]:
        return {d["_id"]: int(d["value"]) for d in self.db.counters.find({})}

    def take_back_counters(self, counts: dict[str, int]) -> None:
        ops = [UpdateOne({"_id": k}, {"$inc": {"value": -v}}) for k, v in counts.items() if v]
        if ops:
            self.db.counters.bulk_write(ops, ordered=False)
            self.db.counters.delete_many({"_id": {"$in": [k for k, v in counts.items() if v]},
                                          "value": {"$lte": 0}})

    def dead_letters(self, limit: int = 100, reason: str | None = None
                     ) -> list[dict[str, Any]]:
        query = {"reason": reason} if reason else {}
        return [_letter(d) for d in self.db.dead_letters.find(query).sort("seq", -1).limit(limit)]

    def count_dead_letters(self) -> int:
        return int(self.db.dead_letters.count_documents({}))

    def dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        d = self.db.dead_letters.find_one({"_id": dead_letter_id})
        return None if d is None else _letter(d)

    def remove_dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        d = self.db.dead_letters.find_one_and_delete({"_id": dead_letter_id})
        return None if d is None else _letter(d)

    def anon_counts(self) -> dict[tuple[str, str], int]:
        return {(d["day"], d["event_type"]): int(d["n"]) for d in self.db.anon_counts.find({})}

    # --- task runs and alerts --------------------------------------------------------------
    def add_task_runs(self, runs: list[dict[str, Any]], keep: int = 20_000) -> None:
        if not runs:
            return
        first = self.next_seq("task_runs", len(runs))
        self.db.task_runs.insert_many([{**r, "seq": first + i} for i, r in enumerate(runs)])
        newest = first + len(runs) - 1
        self.db.task_runs.delete_many({"status": {"$ne": "failed"},
                                       "seq": {"$lte": newest - keep}})
        self.db.task_runs.delete_many({"seq": {"$lte": newest - keep * 10}})

    def task_runs(self, limit: int = 50, failed_only: bool = False, queue: str | None = None,
                  since_ms: int | None = None, task: str | None = None
                  ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if failed_only:
            query["status"] = "failed"
        if queue is not None:
            query["queue"] = queue
        if since_ms is not None:
            query["ended_ms"] = {"$gte": since_ms}
        if task is not None:
            query["task"] = task
        return [{k: v for k, v in d.items() if k not in ("_id", "seq")}
                for d in self.db.task_runs.find(query).sort("seq", -1).limit(limit)]

    def count_failed_runs(self, since_ms: int) -> int:
        return int(self.db.task_runs.count_documents({"status": "failed",
                                                      "ended_ms": {"$gte": since_ms}}))

    def task_run(self, task_id: str) -> dict[str, Any] | None:
        doc = self.db.task_runs.find_one({"task_id": task_id}, sort=[("seq", -1)])
        return None if doc is None else {k: v for k, v in doc.items() if k not in ("_id", "seq")}

    def record_alert(self, alert: dict[str, Any]) -> None:
        self.db.alerts.replace_one({"_id": alert["alert_id"]},
                                   {**alert, "active": alert.get("cleared_ms") is None},
                                   upsert=True)

    def alerts(self, active_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        query = {"active": True} if active_only else {}
        return [{k: v for k, v in d.items() if k not in ("_id", "active")}
                for d in self.db.alerts.find(query).sort("raised_ms", -1).limit(limit)]

    # --- documents ------------------------------------------------------------------------
    def put_documents(self, collection: str, docs: list[dict[str, Any]]) -> None:
        ops = []
        for doc in docs:
            doc_id = str(doc.get("_id") or uuid.uuid4().hex)
            body = {k: v for k, v in doc.items() if k != "_id"}
            ops.append(UpdateOne({"_id": f"{collection}:{doc_id}"},
                                 {"$set": {"collection": collection, "doc_id": doc_id,
                                           "user_id": doc.get("user_id"), "body": body}},
                                 upsert=True))
        if ops:
            self.db.documents.bulk_write(ops, ordered=False)

    def get_documents(self, collection: str, user_id: str | None = None
                      ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"collection": collection}
        if user_id is not None:
            query["user_id"] = user_id
        return [{"_id": d["doc_id"], **d["body"]}
                for d in self.db.documents.find(query).sort("doc_id", ASCENDING)]

    def close(self) -> None:
        self.client.close()
