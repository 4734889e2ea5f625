"""The Huey tasks, grouped by queue. Import them from here, as the guide does:

    from gradvy_console.tasks import process_analytics_event
    process_analytics_event.delay(event_data).get()
"""

from __future__ import annotations

from .monitoring import monitor_system_performance
from .realtime import (
    batch_process_events,
    process_analytics_event,
    process_pending_events,
    self_test_probe,
    update_realtime_metrics,
)

__all__ = [
    "batch_process_events",
    "monitor_system_performance",
    "process_analytics_event",
    "process_pending_events",
    "self_test_probe",
    "update_realtime_metrics",
]
