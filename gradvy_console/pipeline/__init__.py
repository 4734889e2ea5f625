"""The operator's verbs, one implementation each; the CLI and the console both call these.

No Textual, no Rich: progress is reported through a plain callback `progress(done, total)`.
`processing` (process-events), `simulation` (simulate-data), `status`, `users` (one
learner), `self_test`, `task_admin` (schedule, retry). The verbs that belong to a capability
are re-exported here from it, so there is one place to call them from.
"""

from __future__ import annotations

from ..ingest import (
    drain_inbox,
    drain_parallel,
    drain_partition,
    ingest_source,
    read_event_source,
    replay_dead_letter,
)
from ..monitoring import fleet, live_consumers, pipeline_metrics
from ..privacy import change_consent
from ..progress import Progress
from ..queues import current_queue_metrics, percentile, queue_metrics
from .doctor import Finding, doctor
from .privacy import (
    audit,
    erasure_requests,
    export_learner,
    forget,
    import_consent,
    read_ids,
    retention_cleanup,
    unsuppress_user,
)
from .processing import ProcessReport, process_outcome, process_pending
from .quality import against_truth, quality_check
from .queue_ops import (
    log_since,
    log_tail,
    paused_queues,
    purge_queue,
    revoke_task,
    set_paused,
    task_detail,
    waiting,
)
from .self_test import Check, self_test
from .simulation import SimulationReport, simulate_data
from .status import status
from .task_admin import retry_task, schedule_table
from .users import user_insights, user_report

__all__ = [
    "Check", "Finding", "ProcessReport", "Progress", "SimulationReport", "change_consent",
    "current_queue_metrics", "doctor", "drain_inbox", "drain_parallel", "drain_partition", "fleet",
    "ingest_source", "live_consumers", "percentile", "pipeline_metrics", "process_outcome",
    "process_pending",
    "queue_metrics", "read_event_source", "replay_dead_letter", "retry_task", "schedule_table",
    "self_test", "simulate_data", "status", "user_insights", "user_report",
    "audit", "erasure_requests", "export_learner", "forget", "import_consent", "read_ids",
    "retention_cleanup", "unsuppress_user", "against_truth", "quality_check",
    "log_since", "log_tail", "paused_queues", "purge_queue", "revoke_task", "set_paused",
    "task_detail", "waiting",
]
