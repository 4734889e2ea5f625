"""SQLite document store: the embedded default.

WAL journal, `synchronous=NORMAL` (durable at checkpoints, never corrupt), `secure_delete` so
erased data does not linger in free pages, one connection per thread, and every ingestion batch
in one `BEGIN IMMEDIATE` transaction: taking the inbox rows, checking and inserting events,
dead letters, profile deltas and counters commit together or not at all.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ..analytics.events import Event, Rejection
from ..analytics.privacy import ConsentRow
from ..analytics.scoring import merge
from ..errors import DamagedData, storage_failure
from ..private_files import private_dir, private_sqlite
from .base import DocumentStore, IngestTx, StoredEvent, dead_letter_fields
from .sqlite_privacy import SqlitePrivacy, apply_consent_rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts INTEGER NOT NULL,
    session_id TEXT,
    props TEXT NOT NULL,
    hash TEXT NOT NULL,
    receipt TEXT,
    ingested_ms INTEGER NOT NULL,
    source TEXT,
    received_ms INTEGER
);
CREATE INDEX IF NOT EXISTS events_user_ts ON events (user_id, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    receipt TEXT UNIQUE,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload TEXT NOT NULL,
    event_id TEXT,
    user_id TEXT,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_user ON dead_letters (user_id);
CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters (at_ms);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    consent TEXT NOT NULL DEFAULT '{}',
    acc TEXT NOT NULL DEFAULT '{}',
    last_ms INTEGER,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS users_last ON users (last_ms);
CREATE TABLE IF NOT EXISTS consent_history (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    method TEXT NOT NULL,
    version TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_history_user ON consent_history (user_id, at_ms);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload BLOB NOT NULL,
    received_ms INTEGER NOT NULL,
    leased_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inbox_lease ON inbox (leased_until, id);
CREATE TABLE IF NOT EXISTS anon_counts (
    day TEXT NOT NULL,
    event_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, event_type)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    user_id TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_user ON documents (user_id);
CREATE TABLE IF NOT EXISTS task_runs (
    id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL,
    task TEXT NOT NULL,
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    ended_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_runs_task_id ON task_runs (task_id);
CREATE INDEX IF NOT EXISTS task_runs_queue_ended ON task_runs (queue, ended_ms);
CREATE INDEX IF NOT EXISTS task_runs_status ON task_runs (status, id);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    raised_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts (raised_ms);
CREATE INDEX IF NOT EXISTS task_runs_ended ON task_runs (ended_ms);
CREATE INDEX IF NOT EXISTS consent_history_at ON consent_history (at_ms);
"""

# SQLite allows 32766 host parameters since 3.32; stay far below for IN (...) lists.
_CHUNK = 900


# Columns added after a table was first created: a store made by an older version gets them.
_ADDED_COLUMNS = {"events": {"source": "TEXT", "received_ms": "INTEGER"}}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


CHECKPOINT_INTERVAL = 0.5   # seconds between the background checkpoints (checkpoint_aside)


def connect(path: Path) -> sqlite3.Connection:
    private_sqlite(path)   # 0600: personal data (the journals take the file's mode)
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA busy_timeout=60000")
    conn.execute("PRAGMA cache_size=-32768")
    return conn


def refuse_lost_database(path: Path) -> None:
    """An empty database file next to a non-empty write-ahead log, or next to queue files
    that hold work, is a store that lost its contents (truncated, or replaced by mistake):
    refuse it rather than start over empty, which would hide the loss."""
    if not path.exists() or path.stat().st_size > 0:
        return
    wal = path.with_name(path.name + "-wal")
    companions = [p for p in path.parent.glob("queue-*.db") if p.stat().st_size > 0]
    if (wal.exists() and wal.stat().st_size > 0) or (path.name == "store.db" and companions):
        beside = "its write-ahead log" if wal.exists() else "the queue files beside it"
        raise DamagedData(f"{path} is empty but {beside} are not: the store lost its contents. "
                          "Restore it from a backup; to start over on purpose, remove the data "
                          f"dir {path.parent} (or move it aside).")


def truncate_wal(path: Path) -> None:
    """Checkpoint `path` and empty its write-ahead log, so the old pages of deleted rows do not
    linger in the -wal file (secure_delete only scrubs the database file). Best effort: a
    reader in the middle of a transaction makes SQLite skip the truncation."""
    if not path.with_name(path.name + "-wal").exists():
        return
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass


def rebuild_pages(path: Path, offsets: list[int]) -> list[str]:
    """Rebuild the b-trees owning the pages at these byte offsets of a database file: an index
    with REINDEX, anything else (a table, a free page) with VACUUM. The old pages are freed
    under secure_delete (zeroed), so stale cell copies in their unused space go too. Returns
    what was rebuilt."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    lock = WriterLock(path)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = sorted({o // page_size + 1 for o in offsets})
        marks = ",".join("?" * len(pages))
        owners = dict(conn.execute(f"SELECT pageno, name FROM dbstat WHERE pageno IN ({marks})",
                                   pages).fetchall())
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
        names = {owners.get(p) for p in pages}
        with lock.held():
            if None in names or any(kinds.get(n) != "index" for n in names):
                conn.execute("VACUUM")
                done = ["VACUUM"]
            else:
                done = []
                for name in sorted(n for n in names if n):
                    conn.execute(f'REINDEX "{name}"')
                    done.append(f"REINDEX {name}")
    finally:
        conn.close()
    truncate_wal(path)
    return done


class WriterLock:
    """Serialises writers to one SQLite file across threads and processes with flock.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... ms between retries, so two workers
    contending for the write lock spend most of their time asleep. A blocking flock wakes the
    waiter as soon as the holder releases: measured ~2x per-event throughput with two consumers.
    One descriptor per thread, because flock locks belong to an open file description."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._local = threading.local()

    def _fd(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None or getattr(self._local, "pid", None) != os.getpid():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._local.fd, self._local.pid = fd, os.getpid()
        return fd

    @contextmanager
    def held(self) -> Iterator[None]:
        fd = self._fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def try_take(self) -> bool:
        """Take the lock if no one holds it (no waiting); release with `release`."""
        try:
            fcntl.flock(self._fd(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        fcntl.flock(self._fd(), fcntl.LOCK_UN)


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on `conn` (the caller holds the writer lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite rolls back on its own after some errors (a full disk): rolling back
        # again would replace the real error with "no transaction is active".
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _inbox_put(conn: sqlite3.Connection, payloads: list[bytes], at_ms: int, lease_ms: int
               ) -> list[str]:
    """One multi-row INSERT per chunk (a statement per row costs a GIL release and retake
    each, which a busy event loop in the same process turns into a wait per row). The rows'
    ids are the statement's last id and the ones before it: an AUTOINCREMENT table gives each
    new row one more than the largest id it ever held, and this connection holds the write
    lock (RETURNING would cost a fifth more; the count of rows written is checked)."""
    receipts: list[str] = []
    leased_until = at_ms + lease_ms if lease_ms else 0
    step = _CHUNK // 3
    for start in range(0, len(payloads), step):
        chunk = payloads[start:start + step]
        params: list[Any] = []
        for payload in chunk:
            params += (payload, at_ms, leased_until)
        cursor = conn.execute("INSERT INTO inbox (payload, received_ms, leased_until) VALUES "
                              + ",".join(["(?,?,?)"] * len(chunk)), params)
        last = cursor.lastrowid
        if last is None or cursor.rowcount != len(chunk):
            raise sqlite3.DatabaseError(f"the inbox took {cursor.rowcount} of {len(chunk)} "
                                        "rows")
        receipts += map(str, range(last - len(chunk) + 1, last + 1))
    return receipts


class _SqliteTx(IngestTx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def inbox_put(self, payloads: list[bytes], at_ms: int, lease_ms: int = 0) -> list[str]:
        return _inbox_put(self.conn, payloads, at_ms, lease_ms)

    def take_receipts(self, receipts: list[str]) -> set[str]:
        taken: set[str] = set()
        for chunk in _chunks(receipts):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"DELETE FROM inbox WHERE id IN ({marks}) RETURNING id", [int(r) for r in chunk]
            ).fetchall()
            taken.update(str(r[0]) for r in rows)
        return taken

    def take_pending(self, limit: int, lease_ms: int, now_ms: int,
                     free_before_ms: int | None = None) -> list[tuple[str, bytes]]:
        # Inside the write transaction: taking and ingesting commit together, so no lease.
        free = now_ms if free_before_ms is None else free_before_ms
        rows = self.conn.execute(
            "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE leased_until <= ?"
            " ORDER BY id LIMIT ?) RETURNING id, payload", (free, limit)).fetchall()
        rows.sort()
        return [(str(i), bytes(p)) for i, p in rows]

    def existing_events(self, event_ids: list[str]) -> dict[str, StoredEvent]:
        found: dict[str, StoredEvent] = {}
        for chunk in _chunks(event_ids):
            marks = ",".join("?" * len(chunk))
            for event_id, content_hash, receipt in self.conn.execute(
                f"SELECT event_id, hash, receipt FROM events WHERE event_id IN ({marks})", chunk
            ):
                found[event_id] = StoredEvent(event_id, content_hash, receipt)
        return found

    def insert_events(self, events: list[Event], receipts: dict[str, str | None]
                      ) -> tuple[list[Event], dict[str, StoredEvent]]:
        # The caller checked existence inside this same write transaction: no one can race us.
        dumps = orjson.dumps
        self.conn.executemany(
            "INSERT INTO events (event_id, user_id, event_type, ts, session_id, props, hash,"
            " receipt, ingested_ms, source, received_ms) VALUES (?,?,?,?,?,?,?,?,"
            "strftime('%s','now')*1000,?,?)",
            [
                (e.event_id, e.user_id, e.event_type, e.ts, e.session_id,
                 e.properties_json or dumps(e.properties), e.content_hash,
                 receipts.get(e.event_id), e.source, e.received_ms)
                for e in events
            ],
        )
        return events, {}

    def add_dead_letters(self, rejections: list[Rejection], receipts: list[str | None],
                         at_ms: int) -> None:
        rows = []
        for rejection, receipt in zip(rejections, receipts, strict=True):
            detail, text, event_id, user_id = dead_letter_fields(rejection)
            rows.append((receipt, rejection.reason, detail, text, event_id, user_id, at_ms))
        self.conn.executemany(
            "INSERT OR IGNORE INTO dead_letters (receipt, reason, detail, payload, event_id,"
            " user_id, at_ms) VALUES (?,?,?,?,?,?,?)",
            rows,
        )

    def apply_profile_deltas(self, deltas: dict[str, dict[str, Any]], at_ms: int) -> None:
        users = list(deltas)
        current: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(users):
            marks = ",".join("?" * len(chunk))
            for user_id, acc in self.conn.execute(
                f"SELECT user_id, acc FROM users WHERE user_id IN ({marks})", chunk
            ):
                current[user_id] = orjson.loads(acc)
        rows = []
        for user_id, delta in deltas.items():
            acc = merge(current.get(user_id, {}), delta)
            rows.append((user_id, orjson.dumps(acc).decode(), acc.get("last"), at_ms))
        self.conn.executemany(
            "INSERT INTO users (user_id, acc, last_ms, updated_ms) VALUES (?,?,?,?)"
            " ON CONFLICT (user_id) DO UPDATE SET acc=excluded.acc, last_ms=excluded.last_ms,"
            " updated_ms=excluded.updated_ms",
            rows,
        )

    def add_counters(self, counts: dict[str, int]) -> None:
        self.conn.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [(k, v) for k, v in counts.items() if v],
        )

    def record_consents(self, rows: list[ConsentRow], actor: str) -> int:
        return apply_consent_rows(self.conn, rows, actor)

    def any_suppressed(self) -> bool:
        return self.conn.execute("SELECT 1 FROM documents WHERE collection = 'suppressions'"
                                 " LIMIT 1").fetchone() is not None

    def suppressed(self, keys: list[str]) -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            out.update(k for (k,) in self.conn.execute(
                "SELECT doc_id FROM documents WHERE collection = 'suppressions' AND doc_id IN"
                f" ({marks})", chunk))
        return out

    def add_anon_counts(self, counts: dict[tuple[str, str], int]) -> None:
        self.conn.executemany(
            "INSERT INTO anon_counts (day, event_type, n) VALUES (?, ?, ?)"
            " ON CONFLICT (day, event_type) DO UPDATE SET n = n + excluded.n",
            [(day, etype, n) for (day, etype), n in counts.items()],
        )


_LETTER_COLUMNS = "id, reason, detail, payload, event_id, user_id, at_ms"


def _letter(row: tuple[Any, ...]) -> dict[str, Any]:
    """A dead-letter row (selected as _LETTER_COLUMNS) as the store interface returns it."""
    i, reason, detail, payload, event_id, user_id, at_ms = row
    return {"id": str(i), "reason": reason, "detail": detail, "payload": payload,
            "event_id": event_id, "user_id": user_id, "at_ms": at_ms}


class SqliteStore(SqlitePrivacy, DocumentStore):
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        self._local = threading.local()
        self._writer = WriterLock(path)
        self._checkpointer: threading.Thread | None = None
        self._checkpoints_stop = threading.Event()
        try:
            # Under the writer lock: a process that has just created the file (empty until
            # its schema is written) holds the lock until it is written, so an empty store
            # seen here is one that lost its contents, never another process starting too.
            with self._writer.held():
                refuse_lost_database(path)
                conn = self._conn()
                conn.executescript(SCHEMA)
                _add_missing_columns(conn)
        except sqlite3.DatabaseError as exc:
            failure = storage_failure(exc, str(path))
            if failure is None:
                raise
            if isinstance(failure, DamagedData):
                raise DamagedData(f"The store {path} is damaged ({exc}): restore it from a "
                                  "backup, or move it aside to start an empty store ('gradvy "
                                  "run doctor' checks every file).") from None
            raise failure from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._writer.held(), _immediate(self._conn()) as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[IngestTx]:
        with self._write() as conn:
            yield _SqliteTx(conn)

    def checkpoint_aside(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        """This thread's commits no longer checkpoint the write-ahead log (SQLite does it in
        the commit that passes 1,000 pages: writing and syncing the database file, a stall of
        20-30 ms measured here, and a third of a group commit's cost on average). A daemon
        thread checkpoints instead (PASSIVE: never in a writer's way) every `interval` s, on
        its own connection; SQLite releases the GIL meanwhile."""
        self._conn().execute("PRAGMA wal_autocheckpoint=0")
        if self._checkpointer is not None:
            return
        stop = self._checkpoints_stop = threading.Event()

        def checkpoints() -> None:
            conn = None
            while not stop.wait(interval):
                try:
                    conn = conn or connect(self.path)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass    # busy or gone: the next turn tries again
            if conn is not None:
                conn.close()

        self._checkpointer = threading.Thread(target=checkpoints, name="store-checkpoints",
                                              daemon=True)
        self._checkpointer.start()

    @contextmanager
    def transaction_now(self) -> Iterator[IngestTx | None]:
        if not self._writer.try_take():
            yield None
            return
        try:
            with _immediate(self._conn()) as conn:
                yield _SqliteTx(conn)
        finally:
            self._writer.release()

    # --- inbox ----------------------------------------------------------------------------
    def inbox_put(self, payloads: list[bytes], at_ms: int, lease_ms: int = 0) -> list[str]:
        with self._write() as conn:
            return _inbox_put(conn, payloads, at_ms, lease_ms)

    def inbox_claim(self, limit: int, lease_ms: int, now_ms: int,
                    free_before_ms: int | None = None) -> list[tuple[str, bytes]]:
        free = now_ms if free_before_ms is None else free_before_ms
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE inbox SET leased_until = ? WHERE id IN (SELECT id FROM inbox WHERE"
                " leased_until <= ? ORDER BY id LIMIT ?) RETURNING id, payload",
                (now_ms + lease_ms, free, limit),
            ).fetchall()
        rows.sort()
        return [(str(i), bytes(p)) for i, p in rows]

    def inbox_release(self, receipts: list[str]) -> int:
        released = 0
        with self._write() as conn:
            for chunk in _chunks(receipts):
                marks = ",".join("?" * len(chunk))
                released += conn.execute(
                    f"UPDATE inbox SET leased_until = 0 WHERE id IN ({marks})",
                    [int(r) for r in chunk]).rowcount
        return released

    def inbox_get(self, receipts: list[str]) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for chunk in _chunks(receipts):
            marks = ",".join("?" * len(chunk))
            out.extend((str(i), bytes(p)) for i, p in self._conn().execute(
                f"SELECT id, payload FROM inbox WHERE id IN ({marks}) ORDER BY id",
                [int(r) for r in chunk]))
        return out

    def inbox_peek(self, limit: int, now_ms: int, after: int = 0,
                   partition: tuple[int, int] = (1, 0)) -> list[tuple[str, bytes]]:
        n, k = partition
        rows = self._conn().execute(
            "SELECT id, payload FROM inbox WHERE id > ? AND leased_until <= ? AND id % ? = ?"
            " ORDER BY id LIMIT ?", (after, now_ms, n, k, limit)).fetchall()
        return [(str(i), bytes(p)) for i, p in rows]

    def inbox_count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM inbox").fetchone()[0])

    def inbox_upper_bound(self) -> int:
        # Two lookups in the rowid b-tree: the span of ids still in the inbox.
        low, high = self._conn().execute(
            "SELECT (SELECT min(id) FROM inbox), (SELECT max(id) FROM inbox)").fetchone()
        return 0 if low is None else int(high) - int(low) + 1

    def inbox_oldest_ms(self) -> int | None:
        row = self._conn().execute("SELECT min(received_ms) FROM inbox").fetchone()
        return None if row[0] is None else int(row[0])

    # --- users ----------------------------------------------------------------------------
    def consent_for(self, user_ids: list[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        conn = self._conn()
        for chunk in _chunks(user_ids):
            marks = ",".join("?" * len(chunk))
            for user_id, consent in conn.execute(
                f"SELECT user_id, consent FROM users WHERE user_id IN ({marks})", chunk
            ):
                out[user_id] = {p for p, granted in orjson.loads(consent).items() if granted}
        return out

    def record_consent(self, user_id: str, changes: dict[str, bool], *, method: str,
                       version: str, legal_basis: str, actor: str, at_ms: int) -> set[str]:
        with self._write() as conn:
            row = conn.execute("SELECT consent FROM users WHERE user_id = ?",
                               (user_id,)).fetchone()
            consent = orjson.loads(row[0]) if row else {}
            consent.update(changes)
            conn.execute(
                "INSERT INTO users (user_id, consent, updated_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET consent=excluded.consent,"
                " updated_ms=excluded.updated_ms",
                (user_id, orjson.dumps(consent).decode(), at_ms),
            )
            conn.executemany(
                "INSERT INTO consent_history (user_id, purpose, granted, at_ms, method, version,"
                " legal_basis, actor) VALUES (?,?,?,?,?,?,?,?)",
                [(user_id, p, int(g), at_ms, method, version, legal_basis, actor)
                 for p, g in changes.items()],
            )
        return {p for p, g in consent.items() if g}

    def consent_history(self, user_id: str) -> list[dict[str, Any]]:
        cur = self._conn().execute(
            "SELECT purpose, granted, at_ms, method, version, legal_basis, actor"
            " FROM consent_history WHERE user_id = ? ORDER BY id", (user_id,))
        return [
            {"purpose": p, "granted": bool(g), "at_ms": at, "method": m, "version": v,
             "legal_basis": lb, "actor": a}
            for p, g, at, m, v, lb, a in cur
        ]

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        row = self._conn().execute(
            "SELECT consent, acc, updated_ms FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        return {"user_id": user_id, "consent": orjson.loads(row[0]), "acc": orjson.loads(row[1]),
                "updated_ms": row[2]}

    def get_users(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(user_ids)):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT user_id, consent, acc, updated_ms FROM users WHERE user_id IN ({marks})"
            for uid, consent, acc, updated in self._conn().execute(sql, chunk):
                out[uid] = {"user_id": uid, "consent": orjson.loads(consent),
                            "acc": orjson.loads(acc), "updated_ms": updated}
        return out

    def iter_users(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        after = ""
        conn = self._conn()
        while True:
            rows = conn.execute(
                "SELECT user_id, consent, acc, updated_ms FROM users WHERE user_id > ?"
                " ORDER BY user_id LIMIT ?", (after, batch)).fetchall()
            if not rows:
                return
            for user_id, consent, acc, updated in rows:
                yield {"user_id": user_id, "consent": orjson.loads(consent),
                       "acc": orjson.loads(acc), "updated_ms": updated}
            after = rows[-1][0]

    def count_users(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM users").fetchone()[0])

    def count_users_active_since(self, since_ms: int) -> int:
        return int(self._conn().execute(
            "SELECT count(*) FROM users WHERE last_ms >= ?", (since_ms,)).fetchone()[0])

    def find_users(self, prefix: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT user_id, last_ms FROM users WHERE user_id >= ? AND user_id < ?"
            " ORDER BY last_ms IS NULL, last_ms DESC, user_id LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit)).fetchall()
        return [{"user_id": u, "last_ms": last} for u, last in rows]

    # --- reads ----------------------------------------------------------------------------
    def user_events(self, user_id: str, limit: int = 1000, newest: bool = False
                    ) -> list[dict[str, Any]]:
        order = "ts DESC, event_id DESC" if newest else "ts, event_id"
        cur = self._conn().execute(
            "SELECT event_id, event_type, ts, session_id, props, source FROM events"
            f" WHERE user_id = ? ORDER BY {order} LIMIT ?", (user_id, limit))
        return [
            {"event_id": eid, "user_id": user_id, "event_type": et, "ts": ts,
             "session_id": sid, "properties": orjson.loads(props),
             **({"source": source} if source else {})}
            for eid, et, ts, sid, props, source in cur
        ]

    def iter_events(self, since_ms: int | None = None, batch: int = 50_000
                    ) -> Iterator[list[dict[str, Any]]]:
        conn = self._conn()
        after = 0
        while True:
            rows = conn.execute(
                "SELECT id, user_id, event_type, ts, props FROM events WHERE id > ? AND ts >= ?"
                " ORDER BY id LIMIT ?", (after, since_ms or 0, batch)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            loads = orjson.loads
            yield [{"user_id": u, "event_type": t, "ts": ts, "properties": loads(p)}
                   for _i, u, t, ts, p in rows]

    def scan_events(self, cursor: str | None, limit: int, settle_ms: int = 10_000
                    ) -> tuple[list[dict[str, Any]], str | None]:
        # Row ids grow in commit order (one writer at a time): no settling needed.
        after = int(cursor) if cursor else 0
        rows = self._conn().execute(
            "SELECT id, event_id, user_id, event_type, ts, session_id, props, ingested_ms,"
            " received_ms FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ).fetchall()
        if not rows:
            return [], cursor
        loads = orjson.loads
        return ([{"event_id": e, "user_id": u, "event_type": t, "ts": ts, "session_id": s,
                  "properties": loads(p), "ingested_ms": at, "received_ms": got or at}
                 for _i, e, u, t, ts, s, p, at, got in rows], str(rows[-1][0]))

    def count_events(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM events").fetchone()[0])

    def event_counts(self, since_ms: int, bucket_ms: int) -> dict[int, int]:
        # Read from the ts index alone (it covers the query).
        rows = self._conn().execute(
            "SELECT ts / ? AS b, count(*) FROM events WHERE ts >= ? GROUP BY b",
            (bucket_ms, since_ms))
        return {int(b) * bucket_ms: int(n) for b, n in rows}

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._conn().execute("SELECT name, value FROM counters")}

    def take_back_counters(self, counts: dict[str, int]) -> None:
        rows = [(v, k) for k, v in counts.items() if v]
        with self._write() as conn:
            conn.executemany("UPDATE counters SET value = value - ? WHERE name = ?", rows)
            conn.executemany("DELETE FROM counters WHERE name = ? AND value <= 0",
                             [(k,) for _v, k in rows])

    def dead_letters(self, limit: int = 100, reason: str | None = None
                     ) -> list[dict[str, Any]]:
        sql = (f"SELECT {_LETTER_COLUMNS} FROM dead_letters"
               + (" WHERE reason = ?" if reason else "") + " ORDER BY id DESC LIMIT ?")
        args: tuple[Any, ...] = (reason, limit) if reason else (limit,)
        return [_letter(row) for row in self._conn().execute(sql, args)]

    def count_dead_letters(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        if not dead_letter_id.isdigit():
            return None
        row = self._conn().execute(f"SELECT {_LETTER_COLUMNS} FROM dead_letters WHERE id = ?",
                                   (int(dead_letter_id),)).fetchone()
        return None if row is None else _letter(row)

    def remove_dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        if not dead_letter_id.isdigit():
            return None
        with self._write() as conn:
            row = conn.execute(f"DELETE FROM dead_letters WHERE id = ? RETURNING {_LETTER_COLUMNS}",
                               (int(dead_letter_id),)).fetchone()
        return None if row is None else _letter(row)

    def anon_counts(self) -> dict[tuple[str, str], int]:
        return {(d, t): int(n) for d, t, n in
                self._conn().execute("SELECT day, event_type, n FROM anon_counts")}

    # --- task runs and alerts --------------------------------------------------------------
    def add_task_runs(self, runs: list[dict[str, Any]], keep: int = 20_000) -> None:
        if not runs:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO task_runs (task_id, task, queue, status, ended_ms, body)"
                " VALUES (?,?,?,?,?,?)",
                [(r["task_id"], r["task"], r["queue"], r["status"], r["ended_ms"],
                  orjson.dumps(r).decode()) for r in runs])
            # Bounded: the newest `keep` runs, and failures for ten times as long.
            conn.execute("DELETE FROM task_runs WHERE status != 'failed' AND id <="
                         " (SELECT max(id) FROM task_runs) - ?", (keep,))
            conn.execute("DELETE FROM task_runs WHERE id <= (SELECT max(id) FROM task_runs)"
                         " - ?", (keep * 10,))

    def task_runs(self, limit: int = 50, failed_only: bool = False, queue: str | None = None,
                  since_ms: int | None = None, task: str | None = None
                  ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        if failed_only:
            where.append("status = 'failed'")
        if queue is not None:
            where.append("queue = ?")
            args.append(queue)
        if since_ms is not None:
            where.append("ended_ms >= ?")
            args.append(since_ms)
        if task is not None:
            where.append("task = ?")
            args.append(task)
        sql = "SELECT body FROM task_runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id DESC LIMIT ?"
        return [orjson.loads(b) for (b,) in self._conn().execute(sql, [*args, limit])]

    def count_failed_runs(self, since_ms: int) -> int:
        return int(self._conn().execute(
            "SELECT count(*) FROM task_runs WHERE status = 'failed' AND ended_ms >= ?",
            (since_ms,)).fetchone()[0])

    def task_run(self, task_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT body FROM task_runs WHERE task_id = ?"
                                   " ORDER BY id DESC LIMIT 1", (task_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def record_alert(self, alert: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO alerts (alert_id, active, raised_ms, body) VALUES (?,?,?,?)"
                " ON CONFLICT (alert_id) DO UPDATE SET active = excluded.active,"
                " body = excluded.body",
                (alert["alert_id"], int(alert.get("cleared_ms") is None), alert["raised_ms"],
                 orjson.dumps(alert).decode()))

    def alerts(self, active_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        sql = ("SELECT body FROM alerts" + (" WHERE active = 1" if active_only else "")
               + " ORDER BY raised_ms DESC LIMIT ?")
        return [orjson.loads(b) for (b,) in self._conn().execute(sql, (limit,))]

    # --- documents ------------------------------------------------------------------------
    def put_documents(self, collection: str, docs: list[dict[str, Any]]) -> None:
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO documents (collection, doc_id, user_id, body) VALUES (?,?,?,?)"
                " ON CONFLICT (collection, doc_id) DO UPDATE SET user_id=excluded.user_id,"
                " body=excluded.body",
                [(collection, doc_id, d.get("user_id"), orjson.dumps({**d, "_id": doc_id}).decode())
                 for d in docs for doc_id in (str(d.get("_id") or uuid.uuid4().hex),)],
            )

    def get_documents(self, collection: str, user_id: str | None = None
                      ) -> list[dict[str, Any]]:
        if user_id is None:
            cur = self._conn().execute(
                "SELECT body FROM documents WHERE collection = ? ORDER BY doc_id", (collection,))
        else:
            cur = self._conn().execute(
                "SELECT body FROM documents WHERE collection = ? AND user_id = ?"
                " ORDER BY doc_id", (collection, user_id))
        return [orjson.loads(b) for (b,) in cur]

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpoints_stop.set()
            self._checkpointer.join(10)
            self._checkpointer = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        truncate_wal(self.path)
