"""Monitoring queue: the periodic system check."""

from __future__ import annotations

from typing import Any

from .. import runtime
from ..queues import task


@task("monitoring", periodic="monitor_system_performance")
def monitor_system_performance() -> dict[str, Any]:
    """Sample CPU, memory, disk, load and consumers; keep the day's 5-minute history; raise and
    clear alerts. Returns the snapshot."""
    from ..monitoring import HISTORY_5M, tick
    from ..pipeline import queue_metrics
    from ..queues import current

    config = runtime.get_config()
    store, live = runtime.store(), runtime.live()
    queues = current()
    import time

    now = int(time.time() * 1000)
    metrics = queue_metrics(config, store, live, queues.depths(),
                            {q: queues.oldest_age_s(q, now) for q in queues.hueys}, now)
    return tick(config, store, live, HISTORY_5M, metrics, now)
