"""The MongoDB store's privacy operations (mixed into `MongoStore`): the same contract as the
SQLite store's, checked by the same suite. Documents indexed by `user_id` are deleted by query;
records that only name a learner (a dead letter's payload, an inbox row, the action log) are
found by reading them (a regular expression cannot be trusted to match a raw payload's bytes)
and deleted or pseudonymised one by one. MongoDB's WiredTiger reuses freed space; a deployment
that must scrub it on disk runs `compact` (documented in the README).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..analytics.privacy import ConsentRow, Terms, scrub_value
from .base import DOCUMENT_TIMES

# (collection, time field, extra query) for retention; documents keep their time in the body.
RETENTION_MONGO: dict[str, tuple[str, str, dict[str, Any]]] = {
    "events": ("events", "ts", {"event_type": {"$ne": "learning_session"}}),
    "sessions": ("events", "ts", {"event_type": "learning_session"}),
    "dead_letters": ("dead_letters", "at_ms", {}),
    "task_runs": ("task_runs", "ended_ms", {}),
    "alerts": ("alerts", "raised_ms", {"active": False}),
    "consent_history": ("consent_history", "at_ms", {}),
    "profiles": ("users", "last_ms", {"acc": {"$exists": True, "$ne": {}}}),
}


def _bytes(doc: Any) -> bytes:
    return orjson.dumps(doc, default=lambda v: v.decode("utf-8", "replace")
                        if isinstance(v, bytes) else str(v))


class MongoPrivacy:
    db: Any

    def next_seq(self, name: str, n: int = 1) -> int:
        raise NotImplementedError

    def _holding(self, collection: str, terms: Terms, query: dict[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
        return [d for d in self.db[collection].find(query or {}) if terms.in_bytes(_bytes(d))]

    def erase_users(self, user_ids: list[str], terms: Terms, replacement: str
                    ) -> dict[str, int]:
        ids = sorted(set(user_ids))
        removed: dict[str, int] = {}

        def add(name: str, n: int) -> None:
            if n:
                removed[name] = removed.get(name, 0) + n
        db = self.db
        add("events", db.events.delete_many({"user_id": {"$in": ids}}).deleted_count)
        add("dead_letters", db.dead_letters.delete_many({"user_id": {"$in": ids}}).deleted_count)
        add("users", db.users.delete_many({"_id": {"$in": ids}}).deleted_count)
        add("consent_history",
            db.consent_history.delete_many({"user_id": {"$in": ids}}).deleted_count)
        for d in db.documents.find({"user_id": {"$in": ids}}, {"collection": 1}):
            add(d["collection"], 1)
        db.documents.delete_many({"user_id": {"$in": ids}})
        for name in ("dead_letters", "inbox"):
            found = [d["_id"] for d in self._holding(name, terms)]
            if found:
                add(name, db[name].delete_many({"_id": {"$in": found}}).deleted_count)
        for d in self._holding("events", terms):
            clean, _n = scrub_value(d.get("properties") or {}, terms, replacement)
            db.events.update_one({"_id": d["_id"]}, {"$set": {"properties": clean}})
            add("events of others (pseudonymised)", 1)
        for d in self._holding("users", terms):
            acc, _n = scrub_value(d.get("acc") or {}, terms, replacement)
            db.users.update_one({"_id": d["_id"]}, {"$set": {"acc": acc}})
            add("profiles of others (pseudonymised)", 1)
        for d in self._holding("documents", terms):
            body, _n = scrub_value(d.get("body") or {}, terms, replacement)
            doc_id, _m = scrub_value(d.get("doc_id"), terms, replacement)
            db.documents.delete_one({"_id": d["_id"]})
            db.documents.insert_one({**d, "_id": f"{d['collection']}:{doc_id}", "doc_id": doc_id,
                                     "body": body})
            add(f"{d['collection']} (pseudonymised)", 1)
        for d in self._holding("task_runs", terms):
            run = {k: v for k, v in d.items() if k != "_id"}
            if run.get("args_json") is not None and terms.in_bytes(_bytes(run["args_json"])):
                run["args_json"] = None
            run, _n = scrub_value(run, terms, replacement)
            db.task_runs.replace_one({"_id": d["_id"]}, run)
            add("task_runs (arguments)", 1)
        for d in self._holding("alerts", terms):
            alert, _n = scrub_value({k: v for k, v in d.items() if k != "_id"}, terms,
                                    replacement)
            db.alerts.delete_one({"_id": d["_id"]})
            db.alerts.insert_one({**alert, "_id": alert.get("alert_id", d["_id"])})
            add("alerts", 1)
        for d in self._holding("counters", terms):
            add("counters", db.counters.delete_one({"_id": d["_id"]}).deleted_count)
        return removed

    def record_consents(self, rows: list[ConsentRow], actor: str) -> int:
        """As the SQLite store's: skip entries already in the ledger; current consent follows
        the newest entry by time."""
        db = self.db
        added = 0
        for row in rows:
            for purpose, granted in row.changes.items():
                entry = {"user_id": row.user_id, "purpose": purpose, "granted": granted,
                         "at_ms": row.at_ms, "method": row.method, "version": row.version,
                         "legal_basis": row.legal_basis}
                if db.consent_history.find_one(entry, {"_id": 1}) is not None:
                    continue
                newest = db.consent_history.find_one({"user_id": row.user_id,
                                                      "purpose": purpose},
                                                     sort=[("at_ms", -1)])
                db.consent_history.insert_one({**entry, "actor": actor,
                                               "seq": self.next_seq("consent_history")})
                added += 1
                if newest is None or row.at_ms >= newest["at_ms"]:
                    db.users.update_one({"_id": row.user_id},
                                        {"$set": {f"consent.{purpose}": granted},
                                         "$max": {"updated_ms": row.at_ms}}, upsert=True)
        return added

    def find_terms(self, terms: Terms) -> dict[str, int]:
        found: dict[str, int] = {}
        for name in ("events", "dead_letters", "users", "consent_history", "inbox", "documents",
                     "task_runs", "alerts", "counters"):
            n = len(self._holding(name, terms))
            if n:
                found[name] = n
        return found

    def known_user_ids(self) -> set[str]:
        db = self.db
        out: set[str] = {d["_id"] for d in db.users.find({}, {"_id": 1})}
        out.update(u for u in db.events.distinct("user_id") if u)
        out.update(u for u in db.dead_letters.distinct("user_id") if u)
        out.update(u for u in db.documents.distinct("user_id") if u)
        out.update(u for u in db.consent_history.distinct("user_id") if u)
        return out

    def count_user_events(self, user_id: str, start_ms: int, end_ms: int) -> int:
        return int(self.db.events.count_documents(
            {"user_id": user_id, "ts": {"$gte": start_ms, "$lt": end_ms}}))

    def consent_ledger(self, purposes: list[str]) -> Iterator[dict[str, Any]]:
        for d in self.db.consent_history.find({"purpose": {"$in": purposes}}).sort(
                [("user_id", 1), ("at_ms", 1), ("seq", 1)]):
            yield {"user_id": d["user_id"], "purpose": d["purpose"],
                   "granted": bool(d["granted"]), "at_ms": d["at_ms"], "method": d["method"],
                   "version": d["version"], "legal_basis": d["legal_basis"]}

    def users_with_events_without_consent_record(self) -> int:
        recorded = set(self.db.consent_history.distinct("user_id"))
        return sum(1 for u in self.db.events.distinct("user_id") if u not in recorded)

    def incomplete_consent_records(self) -> int:
        return int(self.db.consent_history.count_documents({"$or": [
            {"user_id": ""}, {"method": ""}, {"version": ""}, {"legal_basis": ""},
            {"at_ms": {"$lte": 0}}]}))

    def delete_documents(self, collection: str, doc_ids: list[str]) -> int:
        return int(self.db.documents.delete_many(
            {"_id": {"$in": [f"{collection}:{d}" for d in doc_ids]}}).deleted_count)

    def reset_profile(self, user_id: str) -> int:
        return int(self.db.users.update_one({"_id": user_id, "acc": {"$exists": True, "$ne": {}}},
                                            {"$set": {"acc": {}}, "$unset": {"last_ms": ""}}
                                            ).modified_count)

    def texts(self, collection: str) -> Iterator[Any]:
        fields = {"events": "properties", "dead_letters": "payload", "inbox": "payload"}
        for d in self.db[collection].find({}):
            if collection in fields:
                yield d.get(fields[collection])
            else:
                yield {k: v for k, v in d.items() if k != "_id"}

    # --- retention --------------------------------------------------------------------------
    def _age(self, collection: str) -> tuple[str, str, dict[str, Any]]:
        if collection in RETENTION_MONGO:
            return RETENTION_MONGO[collection]
        if collection in DOCUMENT_TIMES:
            return "documents", f"body.{DOCUMENT_TIMES[collection]}", {"collection": collection}
        raise KeyError(collection)

    def oldest_ms(self, collection: str) -> int | None:
        name, field, query = self._age(collection)
        doc = self.db[name].find_one({**query, field: {"$ne": None}}, sort=[(field, 1)])
        if doc is None:
            return None
        value: Any = doc
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return None if value is None else int(value)

    def count_older(self, collection: str, before_ms: int) -> int:
        name, field, query = self._age(collection)
        return int(self.db[name].count_documents({**query, field: {"$lt": before_ms}}))

    def expire(self, collection: str, before_ms: int, limit: int) -> int:
        name, field, query = self._age(collection)
        filt = {**query, field: {"$lt": before_ms}}
        ids = [d["_id"] for d in self.db[name].find(filt, {"_id": 1}).limit(limit)]
        if collection == "consent_history":
            newest: dict[tuple[str, str], Any] = {}
            for d in self.db.consent_history.find({}, {"user_id": 1, "purpose": 1, "seq": 1}):
                mark = (d["user_id"], d["purpose"])
                if mark not in newest or d.get("seq", 0) > newest[mark][0]:
                    newest[mark] = (d.get("seq", 0), d["_id"])
            keep = {v[1] for v in newest.values()}
            ids = [i for i in ids if i not in keep]
        if not ids:
            return 0
        if collection == "profiles":
            return int(self.db.users.update_many({"_id": {"$in": ids}},
                                                 {"$set": {"acc": {}}}).modified_count)
        return int(self.db[name].delete_many({"_id": {"$in": ids}}).deleted_count)
