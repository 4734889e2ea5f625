"""Monitoring: the tick that samples the machine and the consumers and applies the alert rules
(`tick`), the fleet of consumers seen through their heartbeats (`fleet`) and the pipeline's
throughput (`throughput`). Backends come in as parameters."""

from __future__ import annotations

from .fleet import fleet, live_consumers
from .throughput import pipeline_metrics
from .tick import (
    EVENT_KINDS,
    HISTORY_5M,
    HISTORY_5S,
    acknowledge,
    alert_values,
    apply_changes,
    backend_outage,
    check_alerts,
    cpu_percent,
    drain_failing,
    event_alert,
    queue_message_rejected,
    rules,
    sample,
    subjects,
    tick,
    watch_pools,
)

__all__ = [
    "EVENT_KINDS", "HISTORY_5M", "HISTORY_5S", "acknowledge", "alert_values", "apply_changes",
    "backend_outage", "check_alerts", "cpu_percent", "drain_failing", "event_alert", "fleet",
    "live_consumers",
    "pipeline_metrics", "queue_message_rejected", "rules", "sample", "subjects", "tick",
    "watch_pools",
]
