"""Per-process wiring: the active configuration and its lazily opened backends.

Tasks run inside consumers and call `runtime.ingestor()` etc.; the CLI calls `activate(config)`
first so everything in the process uses the same configuration.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .config import Config, load_config

if TYPE_CHECKING:
    from .ingest import Ingestor
    from .live import LiveState
    from .store import DocumentStore

_lock = threading.RLock()
_config: Config | None = None
_store: DocumentStore | None = None
_live: LiveState | None = None
_ingestor: Ingestor | None = None
_buffer_live = False


def buffer_live_writes(enabled: bool = True) -> None:
    """Worker processes buffer live-state writes (see live/buffered.py)."""
    global _buffer_live
    _buffer_live = enabled


def get_config() -> Config:
    global _config
    with _lock:
        if _config is None:
            _config = load_config()
        return _config


def activate(config: Config) -> None:
    """Make `config` the process's configuration: rebinds queues, drops open backends."""
    global _config, _store, _live, _ingestor
    with _lock:
        for backend in (_store, _live):
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # noqa: BLE001 - closing a dead backend must not fail
                    pass
        _config, _store, _live, _ingestor = config, None, None, None
        from . import queues

        queues.configure(config)


def store() -> DocumentStore:
    global _store
    with _lock:
        if _store is None:
            from .store import open_store

            _store = open_store(get_config())
        return _store


def live() -> LiveState:
    global _live
    with _lock:
        if _live is None:
            from .live import open_live

            _live = open_live(get_config())
            if _buffer_live:
                from .live.buffered import BufferedLive

                _live = BufferedLive(_live)
        return _live


def ingestor() -> Ingestor:
    global _ingestor
    with _lock:
        if _ingestor is None:
            from .ingest import Ingestor

            _ingestor = Ingestor(store(), live(), get_config())
        return _ingestor


def _reset_after_fork() -> None:
    """A forked worker process must not reuse its parent's SQLite or Redis connections."""
    global _store, _live, _ingestor
    _store, _live, _ingestor = None, None, None


import os as _os  # noqa: E402 - registered once, at import

_os.register_at_fork(after_in_child=_reset_after_fork)
