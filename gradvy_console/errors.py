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

    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        server = "Redis"
    elif isinstance(exc, pymongo.errors.ConnectionFailure):
        server = "MongoDB"
    else:
        return None
    detail = redact((str(exc).splitlines() or [type(exc).__name__])[0][:160])
    return (f"Lost the connection to {server} ({detail}); nothing accepted is lost: "
            "run the command again once it is back.")
