"""The action log: every operator action, from the console as from the CLI, with who did it
and on which host, how (`via`), what, its arguments without personal data (a learner's id
becomes their pseudonymous subject key; free-text reasons are left out), when it started and
ended, how long it took, and its outcome. Kept in the store's `action_log` documents."""

from __future__ import annotations

import getpass
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import GradvyError
from ..store import DocumentStore

# Arguments that name a learner (replaced by subject keys) or may hold personal data (left out).
LEARNER_ARGS = ("user_id", "user_ids")
PRIVATE_ARGS = ("reason",)
OUTCOME_CHARS = 300


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (e.g. a container): still log the host
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return str(value)


def loggable(config: Config, params: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the log keeps them: no None, no learner id (their subject key
    instead), no free text that could hold personal data."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or key in PRIVATE_ARGS:
            continue
        if key in LEARNER_ARGS:
            ids = value if isinstance(value, list | tuple) else [value]
            out["subjects" if key == "user_ids" else "subject"] = (
                [_subject(config, str(v)) for v in ids] if key == "user_ids"
                else _subject(config, str(ids[0])))
            continue
        out[key] = _plain(value)
    return out


def _subject(config: Config, user_id: str) -> str:
    from ..privacy import subject_of

    try:
        return subject_of(config, user_id)
    except GradvyError:
        return "unknown"


class ActionRecord:
    """One action's entry: written when it starts ("running") and again when it ends. Writing
    never fails the action: with the store unreachable the outcome is what the operator sees."""

    def __init__(self, config: Config, store: Callable[[], DocumentStore], action: str,
                 params: dict[str, Any], via: str, actor: str | None = None) -> None:
        self._store = store
        # The learners named, to keep their ids out of the outcome too (as their subject keys).
        self._named: dict[str, str] = {}
        for key in LEARNER_ARGS:
            value = params.get(key)
            for uid in (value if isinstance(value, list | tuple) else [value]):
                if uid:
                    self._named[str(uid)] = _subject(config, str(uid))
        started_us = time.time_ns() // 1000
        self.started = started_us // 1000
        self._clock = time.monotonic()
        self.entry: dict[str, Any] = {
            # Sorts by start: milliseconds, then microseconds (two actions of one millisecond
            # came back in either order), then a random part for other hosts.
            "action_id": f"{self.started:013d}{started_us % 1000:03d}-{uuid.uuid4().hex[:8]}",
            "who": actor or who(), "host": socket.gethostname(), "via": via,
            "action": action, "params": loggable(config, params),
            "started_ms": self.started, "ended_ms": None, "duration_ms": None,
            "outcome": "running", "ok": None}
        self._write()

    def finish(self, ok: bool, outcome: str) -> None:
        for uid in sorted(self._named, key=len, reverse=True):
            outcome = outcome.replace(uid, self._named[uid])
        self.entry.update({"ended_ms": int(time.time() * 1000),
                           "duration_ms": round((time.monotonic() - self._clock) * 1000),
                           "outcome": outcome[:OUTCOME_CHARS] or ("done" if ok else "failed"),
                           "ok": ok})
        self._write()

    def _write(self) -> None:
        try:
            self._store().record_action(dict(self.entry))
        except Exception:  # noqa: BLE001 - the store being down is the outcome shown anyway
            pass


def action_log(store: DocumentStore, limit: int = 200, action: str | None = None
               ) -> list[dict[str, Any]]:
    """The newest actions first (of one kind with `action`)."""
    found = store.actions(limit=limit if action is None else max(limit, 10_000))
    if action is not None:
        found = [a for a in found if a.get("action") == action][:limit]
    return found
