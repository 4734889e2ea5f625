"""Monitoring queue: the periodic system check."""

from __future__ import annotations

from typing import Any

from .. import runtime
from ..clock import now_ms
from ..monitoring import HISTORY_5M, tick
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
