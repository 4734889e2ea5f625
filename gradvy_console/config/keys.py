"""The deployment's secrets: the queue key that signs every queue message and result.

`GRADVY_QUEUE_KEY` (any string of 16 bytes or more) wins; otherwise the key file, by default
`DATA_DIR/queue.key`, created on first use with 32 random bytes and mode 0600. Every host of a
Redis deployment must use the same key (set the variable, or copy the file): a message signed
with another key is dropped. A key file that anyone but its owner can read or write is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ..errors import ConfigError
from ..private_files import private_dir
from .settings import Config

KEY_FILE = "queue.key"


def queue_key_path(config: Config) -> Path:
    return config.data_dir / KEY_FILE


def queue_key(config: Config, env: dict[str, str] | None = None) -> bytes:
    """The queue key (bytes), from `GRADVY_QUEUE_KEY` or the data dir's key file."""
    env = dict(os.environ) if env is None else env
    given = env.get("GRADVY_QUEUE_KEY")
    if given:
        key = given.encode()
        if len(key) < 16:
            raise ConfigError("GRADVY_QUEUE_KEY must be at least 16 characters long.")
        return key
    path = queue_key_path(config)
    if not path.exists():
        private_dir(config.data_dir)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_hex(32).encode())
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"The queue key file {path} can be read or written by other "
                              f"users; make it private: chmod 600 {path}.")
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read the queue key file {path}: {exc.strerror}.") from None
    if len(key) < 16:
        raise ConfigError(f"The queue key file {path} holds fewer than 16 bytes; delete it to "
                          "have a new key made (every host must then get the new key).")
    return key
