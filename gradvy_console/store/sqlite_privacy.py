"""The SQLite store's privacy operations: erasing learners, searching for what is left of them,
suppression, and retention by age. Mixed into `SqliteStore` (it uses its connection and writer
lock); `secure_delete` (set on every connection) zeroes what these deletes free, and the caller
truncates the write-ahead log afterwards.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import orjson

from ..analytics.privacy import ConsentRow, Terms, scrub_value
from .base import DOCUMENT_TIMES

_CHUNK = 900

# Where retention finds each collection's age: (table, time expression, extra condition).
# Documents keep their time inside the JSON body (base.DOCUMENT_TIMES).
RETENTION_SQL: dict[str, tuple[str, str, str]] = {
    "events": ("events", "ts", "event_type != 'learning_session'"),
    "sessions": ("events", "ts", "event_type = 'learning_session'"),
    "dead_letters": ("dead_letters", "at_ms", "1"),
    "task_runs": ("task_runs", "ended_ms", "1"),
    "alerts": ("alerts", "raised_ms", "active = 0"),
    # The newest entry per learner and purpose is the proof of the consent in force: kept.
    "consent_history": ("consent_history", "at_ms",
                        "id NOT IN (SELECT max(id) FROM consent_history GROUP BY user_id,"
                        " purpose)"),
    "profiles": ("users", "last_ms", "acc != '{}'"),
}


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _matching(conn: sqlite3.Connection, table: str, columns: list[str], terms: Terms,
              select: str) -> list[tuple[Any, ...]]:
    """Rows of `table` whose `columns` hold one of the terms as a token: SQLite's instr picks
    the candidates (a byte search, fast) when there are few terms; Python checks the token."""
    if len(terms.words) <= 8:
        cond = " OR ".join(f"instr(CAST({c} AS BLOB), ?)" for c in columns for _ in terms.words)
        args: list[Any] = [w for _c in columns for w in terms.words]
        cur = conn.execute(f"SELECT {select}, {', '.join(columns)} FROM {table} WHERE {cond}",
                           args)
    else:
        cur = conn.execute(f"SELECT {select}, {', '.join(columns)} FROM {table}")
    n = len(columns)
    out = []
    for row in cur:
        values = row[-n:]
        if any(v is not None and terms.in_bytes(v if isinstance(v, bytes) else
                                                str(v).encode("utf-8", "surrogatepass"))
               for v in values):
            out.append(row[:-n])
    return out


def apply_consent_rows(conn: sqlite3.Connection, rows: list[ConsentRow], actor: str) -> int:
    """Append consent rows to the ledger inside the caller's write transaction, skipping any
    already there (the same learner, purpose, decision, time, method, notice and basis); a
    learner's current consent per purpose follows the newest entry by time. Returns the ledger
    entries added."""
    if not rows:
        return 0
    users = sorted({r.user_id for r in rows})
    seen: set[tuple[Any, ...]] = set()
    newest: dict[tuple[str, str], int] = {}
    consent: dict[str, dict[str, bool]] = {}
    for chunk in _chunks(users):
        marks = ",".join("?" * len(chunk))
        for u, p, g, at, m, v, lb in conn.execute(
                "SELECT user_id, purpose, granted, at_ms, method, version, legal_basis FROM"
                f" consent_history WHERE user_id IN ({marks})", chunk):
            seen.add((u, p, bool(g), at, m, v, lb))
            newest[(u, p)] = max(newest.get((u, p), at), at)
        for u, c in conn.execute(f"SELECT user_id, consent FROM users WHERE user_id IN ({marks})",
                                 chunk):
            consent[u] = orjson.loads(c)
    added: list[tuple[Any, ...]] = []
    touched: dict[str, int] = {}
    for row in rows:
        for purpose, granted in row.changes.items():
            mark = (row.user_id, purpose, granted, row.at_ms, row.method, row.version,
                    row.legal_basis)
            if mark in seen:
                continue
            seen.add(mark)
            added.append((row.user_id, purpose, int(granted), row.at_ms, row.method,
                          row.version, row.legal_basis, actor))
            if row.at_ms >= newest.get((row.user_id, purpose), -1):
                newest[(row.user_id, purpose)] = row.at_ms
                consent.setdefault(row.user_id, {})[purpose] = granted
                touched[row.user_id] = max(touched.get(row.user_id, 0), row.at_ms)
    conn.executemany(
        "INSERT INTO consent_history (user_id, purpose, granted, at_ms, method, version,"
        " legal_basis, actor) VALUES (?,?,?,?,?,?,?,?)", added)
    conn.executemany(
        "INSERT INTO users (user_id, consent, updated_ms) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET consent=excluded.consent,"
        " updated_ms=max(updated_ms, excluded.updated_ms)",
        [(u, orjson.dumps(consent[u]).decode(), at) for u, at in touched.items()])
    return len(added)


class SqlitePrivacy:
    """Privacy operations over the connection of a `SqliteStore`."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # --- erasure ----------------------------------------------------------------------------
    def erase_users(self, user_ids: list[str], terms: Terms, replacement: str
                    ) -> dict[str, int]:
        removed: dict[str, int] = {}

        def add(name: str, n: int) -> None:
            if n:
                removed[name] = removed.get(name, 0) + n
        with self._write() as conn:
            for chunk in _chunks(sorted(set(user_ids))):
                marks = ",".join("?" * len(chunk))
                for table in ("events", "dead_letters", "users", "consent_history"):
                    add(table, conn.execute(f"DELETE FROM {table} WHERE user_id IN ({marks})",
                                            chunk).rowcount)
                for collection, n in conn.execute(
                        f"SELECT collection, count(*) FROM documents WHERE user_id IN ({marks})"
                        " GROUP BY collection", chunk).fetchall():
                    add(collection, n)
                conn.execute(f"DELETE FROM documents WHERE user_id IN ({marks})", chunk)
            # Records that name the learner without being indexed by them.
            for table, columns in (("dead_letters", ["payload", "detail", "event_id"]),
                                   ("inbox", ["payload"])):
                ids = [r[0] for r in _matching(conn, table, columns, terms, "id")]
                for chunk in _chunks(ids):
                    add(table, conn.execute(
                        f"DELETE FROM {table} WHERE id IN ({','.join('?' * len(chunk))})",
                        chunk).rowcount)
            for rowid, props in _matching(conn, "events", ["props"], terms, "id, props"):
                clean, _n = scrub_value(orjson.loads(props), terms, replacement)
                conn.execute("UPDATE events SET props = ? WHERE id = ?",
                             (orjson.dumps(clean).decode(), rowid))
                add("events of others (pseudonymised)", 1)
            for user_id, acc in _matching(conn, "users", ["acc"], terms, "user_id, acc"):
                clean, _n = scrub_value(orjson.loads(acc), terms, replacement)
                conn.execute("UPDATE users SET acc = ? WHERE user_id = ?",
                             (orjson.dumps(clean).decode(), user_id))
                add("profiles of others (pseudonymised)", 1)
            for rowid, collection, body in _matching(conn, "documents", ["body", "doc_id"],
                                                     terms, "rowid, collection, body"):
                doc, _n = scrub_value(orjson.loads(body), terms, replacement)
                doc_id = str(doc.get("_id"))
                conn.execute("UPDATE documents SET body = ?, doc_id = ? WHERE rowid = ?",
                             (orjson.dumps(doc).decode(), doc_id, rowid))
                add(f"{collection} (pseudonymised)", 1)
            for rowid, body in _matching(conn, "task_runs", ["body"], terms, "id, body"):
                run = orjson.loads(body)
                if run.get("args_json") is not None and terms.in_bytes(
                        orjson.dumps(run.get("args_json"))):
                    run["args_json"] = None   # a failed run's arguments: the learner's event
                run, _n = scrub_value(run, terms, replacement)
                conn.execute("UPDATE task_runs SET body = ?, task_id = ? WHERE id = ?",
                             (orjson.dumps(run).decode(), run.get("task_id", ""), rowid))
                add("task_runs (arguments)", 1)
            for alert_id, body in _matching(conn, "alerts", ["body", "alert_id"], terms,
                                            "alert_id, body"):
                alert, _n = scrub_value(orjson.loads(body), terms, replacement)
                conn.execute("UPDATE alerts SET body = ?, alert_id = ? WHERE alert_id = ?",
                             (orjson.dumps(alert).decode(), alert.get("alert_id", alert_id),
                              alert_id))
                add("alerts", 1)
            for (name,) in _matching(conn, "counters", ["name"], terms, "name"):
                add("counters", conn.execute("DELETE FROM counters WHERE name = ?",
                                             (name,)).rowcount)
        return removed

    def record_consents(self, rows: list[ConsentRow], actor: str) -> int:
        with self._write() as conn:
            return apply_consent_rows(conn, rows, actor)

    def find_terms(self, terms: Terms) -> dict[str, int]:
        conn = self._conn()
        found: dict[str, int] = {}
        for table, columns in (
                ("events", ["user_id", "event_id", "session_id", "props"]),
                ("dead_letters", ["payload", "detail", "event_id", "user_id"]),
                ("users", ["user_id", "acc"]), ("consent_history", ["user_id", "actor"]),
                ("inbox", ["payload"]), ("documents", ["doc_id", "user_id", "body"]),
                ("task_runs", ["task_id", "body"]), ("alerts", ["alert_id", "body"]),
                ("counters", ["name"])):
            n = len(_matching(conn, table, columns, terms, "1"))
            if n:
                found[table] = n
        return found

    def known_user_ids(self) -> set[str]:
        conn = self._conn()
        out: set[str] = set()
        for sql in ("SELECT user_id FROM users", "SELECT DISTINCT user_id FROM events",
                    "SELECT DISTINCT user_id FROM dead_letters WHERE user_id IS NOT NULL",
                    "SELECT DISTINCT user_id FROM documents WHERE user_id IS NOT NULL",
                    "SELECT DISTINCT user_id FROM consent_history"):
            out.update(u for (u,) in conn.execute(sql))
        return out

    # --- events of one learner in a time range (the audit) -----------------------------------
    def count_user_events(self, user_id: str, start_ms: int, end_ms: int) -> int:
        return int(self._conn().execute(
            "SELECT count(*) FROM events WHERE user_id = ? AND ts >= ? AND ts < ?",
            (user_id, start_ms, end_ms)).fetchone()[0])

    def consent_ledger(self, purposes: list[str]) -> Iterator[dict[str, Any]]:
        """Every ledger entry for `purposes`, by learner then time."""
        marks = ",".join("?" * len(purposes))
        cur = self._conn().execute(
            "SELECT user_id, purpose, granted, at_ms, method, version, legal_basis FROM"
            f" consent_history WHERE purpose IN ({marks}) ORDER BY user_id, at_ms, id", purposes)
        for u, p, g, at, m, v, lb in cur:
            yield {"user_id": u, "purpose": p, "granted": bool(g), "at_ms": at, "method": m,
                   "version": v, "legal_basis": lb}

    def users_with_events_without_consent_record(self) -> int:
        return int(self._conn().execute(
            "SELECT count(*) FROM (SELECT DISTINCT user_id FROM events) e WHERE NOT EXISTS"
            " (SELECT 1 FROM consent_history c WHERE c.user_id = e.user_id)").fetchone()[0])

    def incomplete_consent_records(self) -> int:
        return int(self._conn().execute(
            "SELECT count(*) FROM consent_history WHERE user_id = '' OR method = '' OR"
            " version = '' OR legal_basis = '' OR at_ms IS NULL OR at_ms <= 0").fetchone()[0])

    def delete_documents(self, collection: str, doc_ids: list[str]) -> int:
        n = 0
        with self._write() as conn:
            for chunk in _chunks(doc_ids):
                marks = ",".join("?" * len(chunk))
                n += conn.execute(f"DELETE FROM documents WHERE collection = ? AND doc_id IN"
                                  f" ({marks})", [collection, *chunk]).rowcount
        return n

    def free_bytes(self) -> int | None:
        conn = self._conn()
        pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])

    def reset_profile(self, user_id: str) -> int:
        with self._write() as conn:
            return int(conn.execute("UPDATE users SET acc = '{}', last_ms = NULL WHERE user_id = ?"
                                    " AND acc != '{}'", (user_id,)).rowcount)

    _TEXTS = {"events": "SELECT props FROM events", "dead_letters": "SELECT payload FROM"
              " dead_letters", "task_runs": "SELECT body FROM task_runs",
              "inbox": "SELECT payload FROM inbox"}

    def texts(self, collection: str) -> Iterator[Any]:
        for (value,) in self._conn().execute(self._TEXTS[collection]):
            yield value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")

    # --- retention --------------------------------------------------------------------------
    def _age_sql(self, collection: str) -> tuple[str, str, str, list[Any]]:
        if collection in RETENTION_SQL:
            table, column, where = RETENTION_SQL[collection]
            return table, column, where, []
        if collection in DOCUMENT_TIMES:
            return ("documents", f"json_extract(body, '$.{DOCUMENT_TIMES[collection]}')",
                    "collection = ?", [collection])
        raise KeyError(collection)

    def oldest_ms(self, collection: str) -> int | None:
        table, column, where, args = self._age_sql(collection)
        if collection == "consent_history":
            where = "1"    # the oldest entry, even one kept as proof
        row = self._conn().execute(f"SELECT min({column}) FROM {table} WHERE {where}",
                                   args).fetchone()
        return None if row[0] is None else int(row[0])

    def count_older(self, collection: str, before_ms: int) -> int:
        table, column, where, args = self._age_sql(collection)
        return int(self._conn().execute(
            f"SELECT count(*) FROM {table} WHERE {where} AND {column} < ?",
            [*args, before_ms]).fetchone()[0])

    def expire(self, collection: str, before_ms: int, limit: int) -> int:
        """Delete (for profiles: empty) up to `limit` records older than `before_ms`, in one
        short transaction; returns how many."""
        table, column, where, args = self._age_sql(collection)
        with self._write() as conn:
            select = f"SELECT rowid FROM {table} WHERE {where} AND {column} < ? LIMIT ?"
            if collection == "profiles":
                n = conn.execute(f"UPDATE users SET acc = '{{}}' WHERE rowid IN ({select})",
                                 [*args, before_ms, limit]).rowcount
            else:
                n = conn.execute(f"DELETE FROM {table} WHERE rowid IN ({select})",
                                 [*args, before_ms, limit]).rowcount
        # Checkpoint now, outside the writer lock: otherwise the write-ahead log grows past
        # its auto-checkpoint size and some ingest commit pays for copying it back.
        self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")
        return int(n)
