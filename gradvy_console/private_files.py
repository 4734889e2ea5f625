"""Files only their owner can read: the data dir is 0700 and everything in it 0600 (stores,
queue files, live state, logs, keys, the pidfile). Personal data lives there.

Each helper also tightens what an older version left wider (a 0644 store, a 0755 data dir).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700; tighten it if it exists wider."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists as a 0600 file (never truncating it), in a private directory.

    An existing file is never opened here, only chmod-ed: closing any descriptor of a file
    drops every POSIX lock this process holds on it, and SQLite's locks on a database are
    exactly such locks (opening and closing store.db beside a live connection let another
    process's write go unseen)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, FILE_MODE)
    else:
        os.close(fd)   # a file made just now: no connection of ours holds it yet
    return path


def private_sqlite(path: Path) -> Path:
    """A SQLite database file and its journals, private. SQLite gives the -wal and -shm
    files the database file's own mode, so creating the database 0600 is what counts."""
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists() and stat.S_IMODE(extra.stat().st_mode) & 0o077:
            os.chmod(extra, FILE_MODE)
    return path


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path`, created 0600 (for logs)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, FILE_MODE)
    return fd
