"""The process's active configuration: loaded from the environment on first use, replaced by
`set_active` (which `runtime.activate` calls). It lives here, below the queues and the runtime,
so that the queues can read it without importing the runtime."""

from __future__ import annotations

import threading

from .load import load_config
from .settings import Config

_lock = threading.RLock()
_config: Config | None = None


def get_config() -> Config:
    """The active configuration (loaded from the environment the first time)."""
    global _config
    with _lock:
        if _config is None:
            _config = load_config()
        return _config


def set_active(config: Config) -> None:
    """Make `config` the process's configuration."""
    global _config
    with _lock:
        _config = config


def is_active(config: Config) -> bool:
    """Whether `config` is the process's configuration already (nothing is loaded)."""
    with _lock:
        return _config is config
