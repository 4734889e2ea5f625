"""Errors a user can cause: each carries one clear sentence and an exit code."""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***
    (redis://:secret@host -> redis://:***@host): for every message, log line and screen."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)


class GradvyError(Exception):
    """A mistake the operator can fix. `str(err)` is the sentence shown (credentials in it
    redacted); `exit_code` the code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(GradvyError):
    """Bad configuration: unknown key, wrong type, unreachable server."""

    exit_code = 2


class InputError(GradvyError):
    """Input that cannot be read at all (not JSON, missing file)."""

    exit_code = 2


class DamagedData(GradvyError):
    """A data file on disk is damaged, truncated or missing next to its companions."""

    exit_code = 3


class DiskFull(GradvyError):
    """The disk holding the data dir (or a server's) has no room left."""

    exit_code = 4


# Exit codes, for scripts: 0 done; 1 the operation failed (a task failed, a check did not
# pass, nothing to act on); 2 bad input, bad configuration or an unreachable backend; 3 damaged
# data on disk; 4 a full disk; 130 interrupted (Ctrl-C).
EXIT_CODES = {0: "done", 1: "the operation failed", 2: "bad input, configuration or an "
              "unreachable backend", 3: "damaged data on disk", 4: "the disk is full",
              130: "interrupted"}


def storage_failure(exc: BaseException, where: str) -> GradvyError | None:
    """The sentence for a storage error met in the middle of a command (`where`: the data dir
    or file), or None when `exc` is not one: a full disk (nothing accepted is lost: a failed
    write rolls back whole) or a damaged SQLite file."""
    import errno
    import sqlite3

    text = str(exc)
    full = (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or (
        isinstance(exc, sqlite3.OperationalError) and "full" in text)
    if full:
        return DiskFull(f"The disk holding {where} is full ({text}); nothing accepted was "
                        "lost (the write that failed rolled back whole). Free some space and "
                        "run the command again.")
    if isinstance(exc, sqlite3.DatabaseError) and any(
            sign in text for sign in ("malformed", "not a database", "corrupt")):
        return DamagedData(f"A database in {where} is damaged ({text}); run 'gradvy run "
                           "doctor' to find which, then restore it from a backup or move it "
                           "aside.")
    return None


class BackendUnavailable(ConfigError):
    """A configured server (Redis, MongoDB) cannot be reached."""


def is_backend_failure(exc: BaseException) -> bool:
    """Whether `exc` is the storage's fault (SQLite, Redis, MongoDB, the disk, memory) rather
    than the data's: a backend failure must be retried or reported, never blamed on an event."""
    if isinstance(exc, OSError | MemoryError | BackendUnavailable):
        return True
    module = type(exc).__module__.split(".")[0]
    return module in ("sqlite3", "redis", "pymongo", "bson", "mongomock")


def lost_backend(exc: BaseException) -> str | None:
    """One sentence for a connection to Redis or MongoDB lost in the middle of a command
    (reaching them at start is checked when they are opened), or None for any other error."""
    import pymongo.errors
    import redis

    if isinstance(exc, redis.ResponseError) and "OOM command not allowed" in str(exc):
        return ("Redis is out of memory (its maxmemory is reached) and refuses writes; nothing "
                "accepted is lost: raise maxmemory or free memory on Redis, then run the "
                "command again.")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        server = "Redis"
    elif isinstance(exc, pymongo.errors.ConnectionFailure):
        server = "MongoDB"
    else:
        return None
    detail = redact((str(exc).splitlines() or [type(exc).__name__])[0][:160])
    return (f"Lost the connection to {server} ({detail}); nothing accepted is lost: "
            "run the command again once it is back.")
