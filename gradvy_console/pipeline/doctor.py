"""`gradvy run doctor`: integrity, permissions, keys, backends and free disk, each finding with
what to do about it. Reads only: it changes nothing (it never creates a missing key)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..config.keys import PSEUDONYM_KEY_FILE, queue_key_path
from ..errors import GradvyError, redact

# Below either, free disk is a finding: SQLite needs room to commit (and to checkpoint).
MIN_FREE_BYTES = 512 * 2**20
MIN_FREE_SHARE = 0.05


@dataclass(frozen=True)
class Finding:
    check: str       # what was checked, e.g. "integrity of store.db"
    ok: bool
    detail: str      # what was found
    fix: str = ""    # what to do about it ("" when ok)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _integrity(path: Path) -> Finding:
    name = f"integrity of {path.name}"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Finding(name, False, f"{path} cannot be read as a database ({exc})",
                       f"restore {path.name} from a backup, or move it aside (the data it "
                       "held is then gone)")
    if rows == ["ok"]:
        return Finding(name, True, f"{path}: quick_check ok")
    return Finding(name, False, f"{path}: {'; '.join(rows[:3])}",
                   f"restore {path.name} from a backup; 'sqlite3 {path} .recover' may save "
                   "part of it")


def _permissions(data_dir: Path) -> Finding:
    wide = []
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            wide.append(f"{path.relative_to(data_dir.parent)} {oct(mode)}")
    if not wide:
        return Finding("permissions", True, f"{data_dir} and everything in it are private "
                                            "(0700 / 0600)")
    return Finding("permissions", False, f"readable by others: {', '.join(wide[:5])}"
                   + (" …" if len(wide) > 5 else ""),
                   f"chmod -R go-rwx {data_dir}")


def _key(name: str, variable: str, path: Path) -> Finding:
    if os.environ.get(variable):
        ok = len(os.environ[variable].encode()) >= 16
        return Finding(name, ok, f"from {variable}" + ("" if ok else ": shorter than 16 bytes"),
                       "" if ok else f"set {variable} to 16 characters or more")
    if not path.exists():
        return Finding(name, True, f"{path} not made yet (it is made on first use)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Finding(name, False, f"{path} is {oct(mode)}", f"chmod 600 {path}")
    if len(path.read_bytes().strip()) < 16:
        return Finding(name, False, f"{path} holds fewer than 16 bytes",
                       f"remove {path} to have a new key made (every host needs the new one)")
    return Finding(name, True, f"{path} (0600)")


def _disk(data_dir: Path) -> Finding:
    usage = shutil.disk_usage(data_dir)
    free, share = usage.free, usage.free / usage.total if usage.total else 0.0
    detail = f"{free / 2**30:.1f} GiB free ({share:.0%}) on the disk of {data_dir}"
    if free < MIN_FREE_BYTES or share < MIN_FREE_SHARE:
        return Finding("free disk", False, detail,
                       "free space on that disk, or move the data dir to a larger one")
    return Finding("free disk", True, detail)


def _backend(name: str, probe: Any) -> Finding:
    try:
        detail = str(probe())
    except GradvyError as exc:
        return Finding(name, False, str(exc), "start the server, or fix its URL in the "
                                              "config (see the message)")
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, never a crash
        return Finding(name, False, redact(f"{type(exc).__name__}: {exc}"),
                       "see the message; 'gradvy run status' shows the same backends")
    return Finding(name, True, detail)


def doctor(config: Config) -> list[Finding]:
    """Every check, in order; none of them changes anything."""
    data_dir = config.data_dir
    findings = [Finding("configuration", True, f"{config.source} (data dir {data_dir})")]
    if not data_dir.exists():
        findings.append(Finding("data dir", True, f"{data_dir} does not exist yet (it is made "
                                                  "on first use)"))
        return findings
    findings.append(_permissions(data_dir))
    databases = sorted(p for p in data_dir.glob("*.db") if p.is_file())
    for path in databases:
        if path.stat().st_size == 0:
            findings.append(Finding(f"integrity of {path.name}", path.name != "store.db",
                                    f"{path} is empty",
                                    "" if path.name != "store.db" else
                                    "restore store.db from a backup, or remove the data dir "
                                    "to start over on purpose"))
            continue
        findings.append(_integrity(path))
    findings.append(_key("queue key", "GRADVY_QUEUE_KEY", queue_key_path(config)))
    findings.append(_key("pseudonym key", "GRADVY_PSEUDONYM_KEY",
                         data_dir / PSEUDONYM_KEY_FILE))
    findings.append(_disk(data_dir))
    if config.redis_url:
        def redis_probe() -> str:
            from ..live import redis_client

            info = redis_client(config).info("memory")
            used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
            if limit and used > 0.9 * limit:
                raise GradvyError(f"Redis uses {used / 2**20:.0f} of its {limit / 2**20:.0f} "
                                  "MiB maxmemory: writes will soon be refused.")
            return f"{redact(config.redis_url)}: answers ({used / 2**20:.0f} MiB used)"

        findings.append(_backend("Redis", redis_probe))
    if config.mongo_url:
        def mongo_probe() -> str:
            from ..store import open_store

            store = open_store(config)
            store.close()
            return f"{redact(config.mongo_url)}: answers"

        findings.append(_backend("MongoDB", mongo_probe))
    return findings
