"""Live state in a SQLite file (`live.db` in the data dir): the embedded default.

Expiry is a column: reads ignore expired rows and writes purge them now and then. A batch is
applied in one `BEGIN IMMEDIATE` transaction with additive upserts, so concurrent workers never
lose an update.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..analytics.privacy import Terms
from ..private_files import private_dir
from ..store.sqlite import WriterLock, connect, truncate_wal
from .base import LiveBatch, LiveState

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_day (
    user_id TEXT NOT NULL, day TEXT NOT NULL, last_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL, PRIMARY KEY (user_id, day));
CREATE TABLE IF NOT EXISTS user_day_counts (
    user_id TEXT NOT NULL, day TEXT NOT NULL, event_type TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (user_id, day, event_type));
CREATE TABLE IF NOT EXISTS sessions (
    user_id TEXT NOT NULL, session_id TEXT NOT NULL, n INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL, PRIMARY KEY (user_id, session_id));
CREATE TABLE IF NOT EXISTS session_events (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, session_id TEXT NOT NULL,
    ts INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS session_events_key ON session_events (user_id, session_id, ts, id);
CREATE TABLE IF NOT EXISTS minute_counts (
    minute INTEGER NOT NULL, event_type TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (minute, event_type));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_ms INTEGER NOT NULL, user_id TEXT);
CREATE INDEX IF NOT EXISTS kv_user ON kv (user_id);
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS lists_key ON lists (key, id);
"""


class SqliteLive(LiveState):
    backend = "sqlite"

    def __init__(self, path: Path, user_day_ttl_s: int = 86_400, session_ttl_s: int = 3_600,
                 session_max: int = 200, minute_ttl_s: int = 7_200) -> None:
        self.path = path
        private_dir(path.parent)
        self.user_day_ttl_ms = user_day_ttl_s * 1000
        self.session_ttl_ms = session_ttl_s * 1000
        self.session_max = session_max
        self.minute_ttl_ms = minute_ttl_s * 1000
        self._local = threading.local()
        self._writer = WriterLock(path)
        with self._writer.held():
            self._conn().executescript(SCHEMA)
        self._writes = 0

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA secure_delete=OFF")  # live rows hold no more than the store
            self._local.conn = conn
        return conn

    def record_batch(self, batch: LiveBatch, now_ms: int) -> None:
        with self._writer.held():
            self._record_batch(batch, now_ms)

    def _record_batch(self, batch: LiveBatch, now_ms: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            expires = now_ms + self.user_day_ttl_ms
            conn.executemany(
                "INSERT INTO user_day (user_id, day, last_ms, expires_ms) VALUES (?,?,?,?)"
                " ON CONFLICT (user_id, day) DO UPDATE SET"
                " last_ms = max(last_ms, excluded.last_ms), expires_ms = excluded.expires_ms",
                [(u, d, last, expires) for (u, d), (last, _c) in batch.user_days.items()],
            )
            conn.executemany(
                "INSERT INTO user_day_counts (user_id, day, event_type, n) VALUES (?,?,?,?)"
                " ON CONFLICT (user_id, day, event_type) DO UPDATE SET n = n + excluded.n",
                [(u, d, t, n) for (u, d), (_l, counts) in batch.user_days.items()
                 for t, n in counts.items()],
            )
            if batch.sessions:
                self._append_sessions(conn, batch.sessions, now_ms)
            minute = now_ms // 60_000
            conn.executemany(
                "INSERT INTO minute_counts (minute, event_type, n) VALUES (?,?,?)"
                " ON CONFLICT (minute, event_type) DO UPDATE SET n = n + excluded.n",
                [(minute, t, n) for t, n in batch.minute_counts.items()]
                + [(minute, "task:" + t, n) for t, n in batch.task_minutes.items()],
            )
            self._incr(conn, batch.counters)
            self._writes += 1
            if self._writes % 200 == 1:
                self._purge(conn, now_ms)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back on its own after some errors (a full disk): rolling back
            # again would replace the real error with "no transaction is active".
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _append_sessions(self, conn: Any,
                         sessions: dict[tuple[str, str], list[dict[str, Any]]],
                         now_ms: int) -> None:
        """Append rows; a per-session meta row holds the expiry and the row count. Trimming to
        `session_max` happens only when a session overflows by half, so appends stay O(1)."""
        expires_ms = now_ms + self.session_ttl_ms
        conn.executemany(
            "INSERT INTO session_events (user_id, session_id, ts, body) VALUES (?,?,?,?)",
            [(u, s, item.get("ts", 0), orjson.dumps(item).decode())
             for (u, s), items in sessions.items() for item in items])
        conn.executemany(
            "INSERT INTO sessions (user_id, session_id, n, expires_ms) VALUES (?,?,?,?)"
            " ON CONFLICT (user_id, session_id) DO UPDATE SET n = n + excluded.n,"
            " expires_ms = excluded.expires_ms",
            [(u, s, len(items), expires_ms) for (u, s), items in sessions.items()])
        limit = self.session_max + self.session_max // 2
        for user, session in conn.execute(
                "SELECT user_id, session_id FROM sessions WHERE n > ?", (limit,)).fetchall():
            conn.execute(
                "DELETE FROM session_events WHERE user_id = ? AND session_id = ? AND id NOT IN"
                " (SELECT id FROM session_events WHERE user_id = ? AND session_id = ?"
                "  ORDER BY ts DESC, id DESC LIMIT ?)",
                (user, session, user, session, self.session_max))
            conn.execute("UPDATE sessions SET n = ? WHERE user_id = ? AND session_id = ?",
                         (self.session_max, user, session))

    def _purge(self, conn: Any, now_ms: int) -> None:
        conn.execute(
            "DELETE FROM user_day_counts WHERE (user_id, day) IN"
            " (SELECT user_id, day FROM user_day WHERE expires_ms <= ?)", (now_ms,))
        conn.execute("DELETE FROM user_day WHERE expires_ms <= ?", (now_ms,))
        conn.execute(
            "DELETE FROM session_events WHERE (user_id, session_id) IN"
            " (SELECT user_id, session_id FROM sessions WHERE expires_ms <= ?)", (now_ms,))
        conn.execute("DELETE FROM sessions WHERE expires_ms <= ?", (now_ms,))
        conn.execute("DELETE FROM minute_counts WHERE minute < ?",
                     ((now_ms - self.minute_ttl_ms) // 60_000,))
        conn.execute("DELETE FROM kv WHERE expires_ms <= ?", (now_ms,))

    @staticmethod
    def _incr(conn: Any, counters: dict[str, int]) -> None:
        conn.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [(k, v) for k, v in counters.items() if v],
        )

    def incr(self, counters: dict[str, int]) -> None:
        conn = self._conn()
        with self._writer.held(), conn:
            self._incr(conn, counters)

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._conn().execute("SELECT name, value FROM counters")}

    def user_day(self, user_id: str, day: str, now_ms: int) -> dict[str, Any] | None:
        conn = self._conn()
        row = conn.execute(
            "SELECT last_ms FROM user_day WHERE user_id = ? AND day = ? AND expires_ms > ?",
            (user_id, day, now_ms)).fetchone()
        if row is None:
            return None
        counts = dict(conn.execute(
            "SELECT event_type, n FROM user_day_counts WHERE user_id = ? AND day = ?",
            (user_id, day)).fetchall())
        return {"last_ms": int(row[0]), "counts": counts}

    def session_events(self, user_id: str, session_id: str, now_ms: int
                       ) -> list[dict[str, Any]]:
        conn = self._conn()
        live = conn.execute(
            "SELECT 1 FROM sessions WHERE user_id = ? AND session_id = ? AND expires_ms > ?",
            (user_id, session_id, now_ms)).fetchone()
        if live is None:
            return []
        rows = conn.execute(
            "SELECT body FROM session_events WHERE user_id = ? AND session_id = ?"
            " ORDER BY ts DESC, id DESC LIMIT ?",
            (user_id, session_id, self.session_max)).fetchall()
        items = [orjson.loads(b) for (b,) in reversed(rows)]
        items.sort(key=lambda item: (item.get("ts", 0), item.get("event_id", "")))
        return items

    def events_per_minute(self, now_ms: int, minutes: int = 60) -> dict[int, dict[str, int]]:
        since = now_ms // 60_000 - minutes + 1
        out: dict[int, dict[str, int]] = {}
        for minute, etype, n in self._conn().execute(
            "SELECT minute, event_type, n FROM minute_counts WHERE minute >= ? AND"
            " event_type NOT LIKE 'task:%'", (since,)
        ):
            out.setdefault(int(minute), {})[etype] = int(n)
        return out

    def task_minutes(self, now_ms: int, minutes: int = 5) -> dict[int, dict[str, int]]:
        since = now_ms // 60_000 - minutes + 1
        out: dict[int, dict[str, int]] = {}
        for minute, key, n in self._conn().execute(
            "SELECT minute, event_type, n FROM minute_counts WHERE minute >= ? AND"
            " event_type LIKE 'task:%'", (since,)
        ):
            out.setdefault(int(minute), {})[key[5:]] = int(n)
        return out

    def put_json(self, key: str, value: Any, ttl_s: float, user_id: str | None = None
                 ) -> None:
        expires = int(_now_ms() + ttl_s * 1000)
        conn = self._conn()
        with self._writer.held(), conn:
            conn.execute(
                "INSERT INTO kv (key, value, expires_ms, user_id) VALUES (?,?,?,?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " expires_ms = excluded.expires_ms, user_id = excluded.user_id",
                (key, orjson.dumps(value).decode(), expires, user_id))

    def get_json(self, key: str, now_ms: int) -> Any | None:
        row = self._conn().execute(
            "SELECT value FROM kv WHERE key = ? AND expires_ms > ?", (key, now_ms)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def scan_json(self, prefix: str, now_ms: int) -> dict[str, Any]:
        rows = self._conn().execute(
            "SELECT key, value FROM kv WHERE key >= ? AND key < ? AND expires_ms > ?",
            (prefix, prefix + "\uffff", now_ms)).fetchall()
        return {k: orjson.loads(v) for k, v in rows}

    def delete_json(self, key: str) -> None:
        conn = self._conn()
        with self._writer.held(), conn:
            conn.execute("DELETE FROM kv WHERE key = ?", (key,))

    def claim(self, key: str, ttl_s: float) -> bool:
        now = _now_ms()
        conn = self._conn()
        with self._writer.held(), conn:
            conn.execute("DELETE FROM kv WHERE key = ? AND expires_ms <= ?", (key, now))
            cur = conn.execute("INSERT OR IGNORE INTO kv (key, value, expires_ms) VALUES"
                               " (?, '1', ?)", (key, int(now + ttl_s * 1000)))
            return bool(cur.rowcount == 1)

    def push_bounded(self, key: str, value: Any, max_len: int, ttl_s: float) -> None:
        now = _now_ms()
        conn = self._conn()
        with self._writer.held(), conn:
            conn.execute("INSERT INTO lists (key, value, expires_ms) VALUES (?,?,?)",
                         (key, orjson.dumps(value).decode(), int(now + ttl_s * 1000)))
            conn.execute("UPDATE lists SET expires_ms = ? WHERE key = ?",
                         (int(now + ttl_s * 1000), key))
            conn.execute("DELETE FROM lists WHERE key = ? AND id <= (SELECT id FROM lists WHERE"
                         " key = ? ORDER BY id DESC LIMIT 1 OFFSET ?)", (key, key, max_len))

    def get_list(self, key: str, now_ms: int, last: int | None = None) -> list[Any]:
        if last:
            rows = self._conn().execute(
                "SELECT value FROM (SELECT id, value FROM lists WHERE key = ? AND expires_ms > ?"
                " ORDER BY id DESC LIMIT ?) ORDER BY id", (key, now_ms, last)).fetchall()
        else:
            rows = self._conn().execute("SELECT value FROM lists WHERE key = ? AND "
                                        "expires_ms > ? ORDER BY id", (key, now_ms)).fetchall()
        return [orjson.loads(v) for (v,) in rows]

    def user_keys(self, user_id: str, now_ms: int) -> list[str]:
        conn = self._conn()
        keys = [f"user_day:{user_id}:{d}" for (d,) in conn.execute(
            "SELECT day FROM user_day WHERE user_id = ? AND expires_ms > ?", (user_id, now_ms))]
        keys += [f"session:{user_id}:{s}" for (s,) in conn.execute(
            "SELECT session_id FROM sessions WHERE user_id = ? AND expires_ms > ?",
            (user_id, now_ms))]
        keys += [k for (k,) in conn.execute(
            "SELECT key FROM kv WHERE user_id = ? AND expires_ms > ?", (user_id, now_ms))]
        return keys

    _TEXT_TABLES = (("user_day", "rowid", ["user_id"]), ("user_day_counts", "rowid", ["user_id"]),
                    ("sessions", "rowid", ["user_id", "session_id"]),
                    ("session_events", "rowid", ["user_id", "session_id", "body"]),
                    ("kv", "rowid", ["key", "value", "user_id"]),
                    ("lists", "rowid", ["key", "value"]), ("counters", "rowid", ["name"]),
                    ("minute_counts", "rowid", ["event_type"]))

    def _holding(self, terms: Terms) -> dict[str, list[int]]:
        conn = self._conn()
        out: dict[str, list[int]] = {}
        for table, key, columns in self._TEXT_TABLES:
            ids = []
            for row in conn.execute(f"SELECT {key}, {', '.join(columns)} FROM {table}"):
                if any(v is not None and terms.in_bytes(str(v).encode("utf-8", "surrogatepass"))
                       for v in row[1:]):
                    ids.append(row[0])
            if ids:
                out[table] = ids
        return out

    def erase_users(self, user_ids: list[str], terms: Terms) -> int:
        removed = 0
        conn = self._conn()
        with self._writer.held():
            # Live rows are normally deleted without zeroing (they expire by the thousand);
            # an erasure zeroes what it frees, then VACUUM rebuilds the file so no free page
            # keeps what earlier expiries left behind.
            conn.execute("PRAGMA secure_delete=ON")
            try:
                conn.execute("BEGIN IMMEDIATE")
                for user in sorted(set(user_ids)):
                    for table in ("user_day", "user_day_counts", "sessions", "session_events",
                                  "kv"):
                        removed += conn.execute(f"DELETE FROM {table} WHERE user_id = ?",
                                                (user,)).rowcount
                for table, ids in self._holding(terms).items():
                    for start in range(0, len(ids), 900):
                        chunk = ids[start:start + 900]
                        removed += conn.execute(
                            f"DELETE FROM {table} WHERE rowid IN ({','.join('?' * len(chunk))})",
                            chunk).rowcount
                conn.execute("COMMIT")
                conn.execute("VACUUM")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
        return removed

    def texts(self) -> Iterator[bytes]:
        for sql in ("SELECT value FROM kv", "SELECT body FROM session_events",
                    "SELECT value FROM lists"):
            for (value,) in self._conn().execute(sql):
                yield value.encode("utf-8", "surrogatepass")

    def find_terms(self, terms: Terms) -> int:
        return sum(len(ids) for ids in self._holding(terms).values())

    def ping(self) -> None:
        self._conn().execute("SELECT 1")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        truncate_wal(self.path)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
