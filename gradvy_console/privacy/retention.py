"""Retention (GDPR Art. 5(1)(e)): every collection kept no longer than `[retention]` says,
deleted in short batches so ingestion never waits long, with what went and the space freed."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analytics.privacy import DAY_MS, retention_cutoff
from ..clock import now_ms
from ..config import Config
from ..store import DocumentStore
from ..store.models import prune_models
from .files import checkpoint_databases, data_files

# Store collections under a retention, in the order cleanup takes them.
COLLECTIONS: tuple[str, ...] = (
    "events", "sessions", "profiles", "user_analysis", "segment_history", "anomalies",
    "consent_history", "task_runs", "dead_letters", "alerts", "action_log", "evaluations",
    "audits", "erasure_requests")
FOLDERS: tuple[str, ...] = ("exports", "reports")


@dataclass(frozen=True)
class CollectionRetention:
    collection: str
    days: float
    oldest_ms: int | None
    oldest_days: float | None
    expired: int          # records past the policy (before this run)
    removed: int          # records this run removed (0 in a dry run)

    @property
    def within_policy(self) -> bool:
        return self.oldest_days is None or self.oldest_days <= self.days


@dataclass
class CleanupReport:
    dry_run: bool
    at_ms: int
    collections: list[CollectionRetention] = field(default_factory=list)
    files_removed: dict[str, int] = field(default_factory=dict)
    model_versions_removed: int = 0
    bytes_freed: int | None = None
    seconds: float = 0.0
    longest_batch_ms: float = 0.0
    revoked_inactive_cleaned: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for c, row in zip(self.collections, out["collections"], strict=True):
            row["within_policy"] = c.within_policy
        out["removed_total"] = sum(c.removed for c in self.collections)
        return out


def policy(config: Config) -> dict[str, float]:
    r = config.retention
    return {name: float(getattr(r, name)) for name in COLLECTIONS + FOLDERS}


def survey(config: Config, store: DocumentStore, at_ms: int | None = None
           ) -> list[CollectionRetention]:
    """The oldest record of every collection against its policy (nothing is deleted)."""
    now = now_ms() if at_ms is None else at_ms
    out = []
    for name, days in policy(config).items():
        if name in FOLDERS:
            continue
        oldest = store.oldest_ms(name)
        out.append(CollectionRetention(
            name, days, oldest, None if oldest is None else round((now - oldest) / DAY_MS, 2),
            store.count_older(name, retention_cutoff(now, days)), 0))
    return out


def _old_files(folder: Path, cutoff_ms: int) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in data_files(folder) if p.stat().st_mtime * 1000 < cutoff_ms]


def cleanup(config: Config, store: DocumentStore, dry_run: bool = False,
            at_ms: int | None = None) -> CleanupReport:
    """Delete what is past its retention, `[retention] batch_size` records per write with a
    pause between writes; a dry run reports what would go."""
    started = time.monotonic()
    now = now_ms() if at_ms is None else at_ms
    report = CleanupReport(dry_run, now)
    free_before = store.free_bytes()
    batch = config.retention.batch_size
    for row in survey(config, store, now):
        removed = 0
        if not dry_run and row.expired:
            cutoff = retention_cutoff(now, row.days)
            while True:
                t0 = time.monotonic()
                n = store.expire(row.collection, cutoff, batch)
                report.longest_batch_ms = max(report.longest_batch_ms,
                                              (time.monotonic() - t0) * 1000)
                removed += n
                if n < batch:
                    break
                if config.retention.pause_seconds:
                    time.sleep(config.retention.pause_seconds)
        report.collections.append(dataclasses.replace(row, removed=removed))
    for name in FOLDERS:
        days = float(getattr(config.retention, name))
        old = _old_files(config.data_dir / name, retention_cutoff(now, days))
        if old:
            report.files_removed[name] = len(old)
            if not dry_run:
                for path in old:
                    path.unlink(missing_ok=True)
    if not dry_run:
        report.model_versions_removed = prune_models(config, store,
                                                     keep=config.retention.model_versions)
        checkpoint_databases(config.data_dir)
        free_after = store.free_bytes()
        if free_before is not None and free_after is not None:
            report.bytes_freed = max(0, free_after - free_before)
    report.seconds = round(time.monotonic() - started, 3)
    report.longest_batch_ms = round(report.longest_batch_ms, 1)
    return report
