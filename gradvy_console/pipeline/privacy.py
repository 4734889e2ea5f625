"""The privacy verbs: forget (through the compliance queue when a consumer runs, else here),
unsuppress, export, audit, cleanup, consent import and the erasure list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import GradvyError
from ..live import LiveState
from ..monitoring import live_consumers
from ..privacy import (
    CleanupReport,
    ConsentImport,
    ExportReport,
    cleanup,
    export_user,
    import_consent_file,
    request_erasure,
    requests,
    unsuppress,
)
from ..queues import TaskFailed, TaskTimedOut
from ..store import DocumentStore
from ..tasks.compliance import audit_now, erase_now, erase_user


def read_ids(path: Path) -> list[str]:
    """Learner ids, one per line (blank lines and lines starting with # skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise GradvyError(f"Cannot read the id file {path}: {why}.", exit_code=2) from None
    ids = [line.strip() for line in text.splitlines()
           if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise GradvyError(f"The id file {path} names no learner.", exit_code=2)
    return ids


def forget(config: Config, store: DocumentStore, live: LiveState, user_ids: list[str],
           reason: str = "", wait_s: float = 3600.0, in_process: bool = False
           ) -> tuple[str, list[dict[str, Any]]]:
    """Record an erasure request per learner (each is suppressed at once), then run them on
    the compliance queue and wait, or here when no compliance consumer runs. Returns
    (where it ran, each request's outcome)."""
    if not user_ids:
        raise GradvyError("Name a learner to forget, or --file with their ids.", exit_code=2)
    actor = os.environ.get("USER", "operator")
    ids = [request_erasure(config, store, u, reason, actor)["_id"] for u in user_ids]
    if not in_process and live_consumers(live, "compliance"):
        try:
            results: list[dict[str, Any]] = erase_user.delay(ids).get(timeout=wait_s)
        except TaskTimedOut:
            raise GradvyError(f"The erasure is still running after {wait_s:.0f} s on the "
                              "compliance queue; 'gradvy run erasures' shows its progress.",
                              exit_code=1) from None
        except TaskFailed as exc:
            raise GradvyError(f"The erasure failed on the compliance queue: {exc}; 'gradvy "
                              "run forget' again resumes it.", exit_code=1) from None
        where = "queue"
    else:
        results = erase_now(ids)
        where = "in-process"
    wanted = set(ids)
    return where, [r for r in results if r["request_id"] in wanted] + [
        r for r in results if r["request_id"] not in wanted]


def unsuppress_user(config: Config, store: DocumentStore, user_id: str) -> bool:
    return unsuppress(config, store, user_id, os.environ.get("USER", "operator"))


def export_learner(config: Config, store: DocumentStore, live: LiveState, user_id: str,
                   out: Path | None) -> ExportReport:
    return export_user(config, store, live, user_id, out)


def audit() -> dict[str, Any]:
    return audit_now()


def retention_cleanup(config: Config, store: DocumentStore, dry_run: bool) -> CleanupReport:
    return cleanup(config, store, dry_run)


def import_consent(config: Config, store: DocumentStore, path: Path) -> ConsentImport:
    if not path.is_file():
        raise GradvyError(f"The consent file {path} does not exist.", exit_code=2)
    return import_consent_file(config, store, path)


def erasure_requests(store: DocumentStore) -> list[dict[str, Any]]:
    return requests(store)
