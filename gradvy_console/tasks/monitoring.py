"""Monitoring queue: the periodic system check and the data-quality assessment."""

from __future__ import annotations

from typing import Any

from .. import runtime
from ..clock import now_ms
from ..monitoring import HISTORY_5M, check_alerts, tick
from ..quality import run_assessment
from ..queues import current_queue_metrics, task


@task("monitoring", periodic="monitor_system_performance")
def monitor_system_performance() -> dict[str, Any]:
    """Sample CPU, memory, disk, load and consumers; keep the day's 5-minute history; raise and
    clear alerts. Returns the snapshot."""
    config = runtime.get_config()
    store, live = runtime.store(), runtime.live()
    now = now_ms()
    return tick(config, store, live, HISTORY_5M, current_queue_metrics(config, store, live, now),
                now)


def assess_quality(keep: bool = True, since_ms: int | None = None) -> dict[str, Any]:
    """The data-quality assessment here and now; a failing check raises its alert
    (`data_quality:<check>`), a passing one clears it."""
    config, store = runtime.get_config(), runtime.store()
    report = run_assessment(config, store, keep=keep, since_ms=since_ms)
    if keep:
        check_alerts(config, store, "data_quality", "Data quality", report.checks)
    return report.as_dict()


@task("monitoring", periodic="data_quality_assessment")
def data_quality_assessment() -> dict[str, Any]:
    """Fold the events stored since the last run into the quality aggregates and run every
    check (volume, freshness, schema drift, timeliness, references, profiles), kept with its
    history; failing checks raise alerts, passing ones clear them."""
    return assess_quality()
