"""Per-process wiring: the active configuration and its lazily opened backends.

Tasks run inside consumers and call `runtime.ingestor()` etc.; the CLI calls `activate(config)`
first so everything in the process uses the same configuration. The configuration itself is
kept in `config.active` (so the queues read it without importing this module); what the queues
need from the process, the once-per-period claim, is injected here.
"""

from __future__ import annotations

import logging
import os
import threading

from . import queues
from .config import Config, get_config, set_active
from .ingest import Ingestor
from .live import LiveState, open_live
from .live.buffered import BufferedLive
from .monitoring import queue_message_rejected
from .store import DocumentStore, open_store

__all__ = ["activate", "buffer_live_writes", "get_config", "ingestor", "live", "store"]

_lock = threading.RLock()
_store: DocumentStore | None = None
_live: LiveState | None = None
_ingestor: Ingestor | None = None
_buffer_live = False


def buffer_live_writes(enabled: bool = True) -> None:
    """Worker processes buffer live-state writes (see live/buffered.py)."""
    global _buffer_live
    _buffer_live = enabled


def activate(config: Config) -> None:
    """Make `config` the process's configuration: rebinds queues, drops open backends."""
    with _lock:
        close()
        set_active(config)
        queues.configure(config)


def close() -> None:
    """Close this process's backends (on the way out): SQLite files are checkpointed and their
    write-ahead logs emptied, so deleted personal data does not linger there."""
    global _store, _live, _ingestor
    with _lock:
        for backend in (_live, _store):
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # noqa: BLE001 - closing a dead backend must not fail
                    pass
        _store, _live, _ingestor = None, None, None
        queues.close_current()


def store() -> DocumentStore:
    global _store
    with _lock:
        if _store is None:
            _store = open_store(get_config())
        return _store


def live() -> LiveState:
    global _live
    with _lock:
        if _live is None:
            _live = open_live(get_config())
            if _buffer_live:
                _live = BufferedLive(_live)
        return _live


def ingestor() -> Ingestor:
    global _ingestor
    with _lock:
        if _ingestor is None:
            _ingestor = Ingestor(store(), live(), get_config())
        return _ingestor


def _reset_after_fork() -> None:
    """A forked worker process must not reuse its parent's SQLite or Redis connections."""
    global _store, _live, _ingestor
    _store, _live, _ingestor = None, None, None


def _claim_period(key: str, ttl_s: int) -> bool:
    """The once-per-period claim the queues' periodic hook asks for (first caller wins)."""
    return live().claim(key, ttl_s=ttl_s)


def _report_bad_message(why: str) -> None:
    """A queue value failed its signature or shape: dropped by the serializer, counted and
    alerted here (best effort: the store may be what is down)."""
    logging.getLogger("gradvy.queues").error("dropped a queue message: %s", why)
    try:
        queue_message_rejected(get_config(), store(), why)
    except Exception as exc:  # noqa: BLE001 - reporting must never stop the reader
        logging.getLogger("gradvy.queues").warning("cannot record the rejection: %s", exc)


queues.set_period_claim(_claim_period)
queues.set_rejection_hook(_report_bad_message)
os.register_at_fork(after_in_child=_reset_after_fork)
