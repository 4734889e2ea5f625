"""The deployment's secrets, each 16 bytes or more, each from an environment variable or a key
file only its owner can read:

- the queue key signs every queue message and result (`GRADVY_QUEUE_KEY`, else
  `DATA_DIR/queue.key`);
- the pseudonym key turns identifiers that carry an e-mail address or phone number into
  stable pseudonyms (`GRADVY_PSEUDONYM_KEY`, else `DATA_DIR/pseudonym.key`); privacy's erasure
  keys use it too.

A missing key file is created on first use with 32 random bytes (hex) and mode 0600. Every host
of a Redis + MongoDB deployment must use the same keys (set the variables, or copy the files):
a message signed with another key is dropped, and another pseudonym key gives a learner a
second pseudonym. A key file that anyone but its owner can read or write is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from ..errors import ConfigError
from ..private_files import private_dir
from .settings import Config

KEY_FILE = "queue.key"
PSEUDONYM_KEY_FILE = "pseudonym.key"


def queue_key_path(config: Config) -> Path:
    return config.data_dir / KEY_FILE


def queue_key(config: Config, env: dict[str, str] | None = None) -> bytes:
    """The queue key (bytes), from `GRADVY_QUEUE_KEY` or the data dir's key file."""
    return _key(config, "GRADVY_QUEUE_KEY", queue_key_path(config), env)


def pseudonym_key(config: Config, env: dict[str, str] | None = None) -> bytes:
    """The pseudonym key (bytes), from `GRADVY_PSEUDONYM_KEY` or the data dir's key file."""
    return _key(config, "GRADVY_PSEUDONYM_KEY", config.data_dir / PSEUDONYM_KEY_FILE, env)


def _key(config: Config, variable: str, path: Path, env: dict[str, str] | None) -> bytes:
    env = dict(os.environ) if env is None else env
    given = env.get(variable)
    if given:
        key = given.encode()
        if len(key) < 16:
            raise ConfigError(f"{variable} must be at least 16 characters long.")
        return key
    if not path.exists():
        _create_key_file(path)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"The key file {path} can be read or written by other users; "
                              f"make it private: chmod 600 {path}.")
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read the key file {path}: {exc.strerror}.") from None
    if len(key) < 16:
        raise ConfigError(f"The key file {path} holds fewer than 16 bytes; delete it to have a "
                          "new key made (every host must then get the new key).")
    return key


def _create_key_file(path: Path) -> None:
    """Make a new key file whole or not at all: the key is written to a private temporary file,
    then linked to its name. A link is atomic and fails if the name exists, so a process that
    starts at the same moment reads either no file or the complete key, never an empty one (an
    `O_EXCL` create followed by a write let a second process read the empty file between them),
    and of two processes racing, the first link wins and both read that key."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp makes it 0600
            out.write(secrets.token_hex(32).encode())
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: read theirs
    finally:
        os.unlink(temporary)
