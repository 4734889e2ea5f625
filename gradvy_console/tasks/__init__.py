"""The Huey tasks, grouped by queue. Import them from here, as the guide does:

    from gradvy_console.tasks import process_analytics_event
    process_analytics_event.delay(event_data).get()
"""

from __future__ import annotations

from ..queues import SoftTimeLimitExceeded, shared_task
from .compliance import erase_user, export_user_data, privacy_compliance_audit
from .insights import (
    analyze_active_users,
    analyze_user_behavior,
    check_user_anomalies,
    generate_content_recommendations,
    process_user_anomalies,
    update_recommendation_models,
    update_user_segments,
)
from .maintenance import cleanup_old_analytics_data
from .monitoring import data_quality_assessment, monitor_system_performance
from .realtime import (
    batch_process_events,
    process_analytics_event,
    process_pending_events,
    self_test_event,
    self_test_probe,
    update_realtime_metrics,
)
from .reports import (
    generate_analytics_reports,
    generate_daily_report,
    generate_monthly_report,
    generate_weekly_report,
)

__all__ = [
    "SoftTimeLimitExceeded",
    "shared_task",
    "analyze_active_users",
    "analyze_user_behavior",
    "batch_process_events",
    "check_user_anomalies",
    "cleanup_old_analytics_data",
    "erase_user",
    "export_user_data",
    "privacy_compliance_audit",
    "generate_content_recommendations",
    "process_user_anomalies",
    "update_recommendation_models",
    "update_user_segments",
    "monitor_system_performance",
    "data_quality_assessment",
    "generate_analytics_reports",
    "generate_daily_report",
    "generate_monthly_report",
    "generate_weekly_report",
    "process_analytics_event",
    "process_pending_events",
    "self_test_event",
    "self_test_probe",
    "update_realtime_metrics",
]
