"""The typed, frozen settings: one dataclass per section, the queues, the periodic jobs and the
console's key ids. Loading them from TOML and the environment is `config.load`; ``config.toml``
at the repository root documents every setting with its default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analytics.scoring import ScoringModel

QUEUES: tuple[str, ...] = (
    "realtime",
    "analytics",
    "ml",
    "reports",
    "maintenance",
    "compliance",
    "monitoring",
)


@dataclass(frozen=True)
class QueueSettings:
    workers: int = 1
    worker_type: str = "thread"  # thread | process
    # SqliteHuey polls: first delay after an empty poll, growth factor, cap (seconds).
    initial_delay: float = 0.1
    backoff: float = 1.15
    max_delay: float = 2.0
    shutdown_timeout: float = 30.0


@dataclass(frozen=True)
class TaskSettings:
    queue: str = "analytics"
    priority: int = 5
    retries: int = 0
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    timeout: float = 0.0  # hard time limit in seconds; 0 means none


@dataclass(frozen=True)
class IngestSettings:
    max_payload_bytes: int = 16_384
    max_future_seconds: int = 3_600
    max_depth: int = 32
    pii_in_identifiers: str = "pseudonymise"
    # The zone a timestamp without an offset was written in: "local" (this host's zone, as the
    # guide's datetime.now().isoformat() means it) or a zone name ("UTC", "Europe/Berlin").
    naive_timezone: str = "local"
    batch_size: int = 0                 # process-events' batch size; 0: chosen for the work
    inbox_lease_seconds: float = 60.0
    result_timeout_seconds: float = 120.0
    result_ttl_seconds: float = 3600.0
    local_processes: int = 2
    task_group_max: int = 100


@dataclass(frozen=True)
class ConsentSettings:
    storage_purpose: str = "analytics"
    profile_purpose: str = "behavioral_analysis"
    purposes: tuple[str, ...] = (
        "analytics",
        "behavioral_analysis",
        "personalization",
        "marketing",
        "location",
        "device_fingerprinting",
        "third_party_sharing",
    )
    # A consent older than this many days counts as not given (0: consents never expire).
    max_age_days: float = 0.0


@dataclass(frozen=True)
class ReportSettings:
    """Analytics reports (`gradvy run generate-reports`)."""

    timezone: str = "UTC"        # days, weeks and months are counted in this zone
    min_cell_size: int = 10      # a breakdown cell about fewer learners is suppressed


@dataclass(frozen=True)
class QualitySettings:
    """The data-quality assessment's thresholds (`gradvy run quality-check`)."""

    late_hours: float = 72.0              # Snowplow's default: 3 days behind is late
    dead_letter_warn_share: float = 0.01  # of the events seen in the last day
    dead_letter_fail_share: float = 0.05
    stale_days: float = 7.0               # a learner with no activity this long is stale
    stale_warn_share: float = 0.30        # re-engagement recommended past this share
    extreme_engagement: float = 0.95
    extreme_warn_share: float = 0.05
    consistency_sample: int = 25          # learners whose profile is recomputed each run


@dataclass(frozen=True)
class RetentionSettings:
    """Days each collection is kept (by the age of its records), GDPR Art. 5(1)(e). Raw
    events, sessions, behaviour and analyses, and consent records: the original's defaults."""

    events: float = 365.0            # raw events (every type but learning_session)
    sessions: float = 90.0           # learning_session events
    profiles: float = 730.0          # behaviour profiles of learners inactive this long
    user_analysis: float = 730.0     # stored analyses
    segment_history: float = 730.0
    anomalies: float = 730.0         # by when last seen
    consent_history: float = 2555.0  # 7 years; the newest entry per purpose is always kept
    task_runs: float = 30.0
    dead_letters: float = 30.0
    alerts: float = 180.0            # cleared alerts
    action_log: float = 365.0
    evaluations: float = 365.0
    audits: float = 365.0
    erasure_requests: float = 2555.0  # pseudonymous proof that a request was honoured
    exports: float = 30.0            # files in DATA_DIR/exports
    reports: float = 365.0           # files in DATA_DIR/reports
    model_versions: int = 5          # versions kept per model (a count, not days)
    batch_size: int = 1_000          # records per delete: ingestion waits for one batch at most
    pause_seconds: float = 0.002     # between batches: a waiting writer gets the lock


@dataclass(frozen=True)
class PrivacySettings:
    erasure_deadline_days: float = 30.0       # GDPR Art. 12(3): a month
    # The original's rule: learners who revoked all three analytics purposes and were inactive
    # for this long have their analytics data cleaned by the audit.
    clean_revoked_inactive: bool = True
    revoked_inactive_days: float = 30.0
    analytics_purposes: tuple[str, ...] = ("analytics", "behavioral_analysis", "personalization")
    # Records of processing (GDPR Art. 30) for the automated profiling the product does.
    processing: dict[str, str] = field(default_factory=lambda: {
        "dropout_risk": "purpose: offer help to learners likely to drop out; inputs: activity "
                        "recency and frequency, quiz results, session lengths; consent: "
                        "behavioral_analysis",
        "anomaly_flags": "purpose: find bots and data faults; inputs: event rates, quiz "
                         "times and scores; consent: behavioral_analysis",
        "segments": "purpose: group learners for course teams; inputs: engagement, "
                    "performance, activity; consent: behavioral_analysis",
        "recommendations": "purpose: suggest courses; inputs: course interactions; consent: "
                           "personalization",
    })


# The scoring weights are defined once, by the model that uses them.
ScoringSettings = ScoringModel


@dataclass(frozen=True)
class LiveSettings:
    user_day_ttl_seconds: int = 86_400
    session_ttl_seconds: int = 3_600
    session_max_events: int = 200
    minute_ttl_seconds: int = 7_200
    heartbeat_ttl_seconds: int = 15


@dataclass(frozen=True)
class LogSettings:
    max_bytes: int = 10_485_760          # a consumer's or the pool's log is rotated past this
    backups: int = 3                     # rotated copies kept (worker-QUEUE.log.1 ...)
    repeat_every_seconds: float = 60.0   # the same backend error is logged once this often


@dataclass(frozen=True)
class SimulatorSettings:
    users: int = 100
    days: int = 30
    count: int = 0              # 0: the population's realistic activity over the days
    fault_share: float = 0.02
    pii_share: float = 0.01
    courses: int = 120
    no_consent_share: float = 0.05


@dataclass(frozen=True)
class AlertSettings:
    cpu_warning: float = 80.0
    memory_critical: float = 85.0
    disk_critical: float = 90.0
    queue_latency_warning_s: float = 60.0
    dead_letter_rate_warning: float = 0.05
    hysteresis_percent: float = 5.0
    cpu_window_seconds: float = 300.0   # CPU alerts on its mean over this long, not a sample
    for_seconds: float = 60.0           # a measured value must stay over its threshold this long


@dataclass(frozen=True)
class InsightSettings:
    active_days: int = 7                  # analyze-users without --user-id: active this recently
    dropout_horizon_days: float = 14.0    # no activity for this long = dropped out
    anomaly_contamination: float = 0.02   # IsolationForest's expected share of outliers
    clusters_min: int = 3                 # KMeans k range, chosen by silhouette
    clusters_max: int = 8
    recommend_limit: int = 10
    recommend_half_life_days: float = 60.0
    holdout_share: float = 0.2            # evaluate: the last share of the simulated days
    test_users_share: float = 0.3         # evaluate: users held out from dropout training
    seed: int = 0


# Console key bindings: id -> default key (Textual key names). `[console.keys]` remaps them.
CONSOLE_KEYS: dict[str, str] = {
    "screen.dashboard": "1", "screen.tasks": "2", "screen.dead_letters": "3",
    "screen.schedule": "4", "screen.alerts": "5", "screen.users": "6",
    "screen.action_log": "7", "help": "question_mark", "quit": "q",
    "theme.toggle": "ctrl+t", "refresh": "ctrl+r",
    "action.simulate": "s", "action.process": "p", "action.self_test": "x",
    "action.monitor": "m",
    "queue.start": "g", "queue.stop": "k", "queue.restart": "r", "queue.scale": "w",
    "queue.pause": "P", "queue.purge": "X", "consumer.log": "l", "log.close": "escape",
    "log.follow": "f",
    "task.detail": "enter", "task.waiting": "W", "task.revoke": "v", "table.row": "i",
    "alert.acknowledge": "a", "task.retry": "r", "task.failed_only": "f",
    "dead_letter.replay": "r", "dead_letter.replay_reason": "a", "job.trigger": "g",
    "user.lookup": "slash",
    "screen.insights": "8", "insights.analyze": "a", "insights.anomalies": "c",
    "insights.segments": "u", "insights.models": "t", "insights.evaluate": "e",
    "anomaly.acknowledge": "k",
    "screen.privacy": "9", "privacy.audit": "a", "privacy.forget": "f",
    "privacy.export": "e", "privacy.cleanup": "c",
    "screen.quality": "0", "quality.assess": "a",
    "screen.reports": "R", "reports.generate": "g",
}


@dataclass(frozen=True)
class WriteKey:
    """A collector write key: its name (recorded as the events' source), the SHA-256 of the
    key (the key itself is never stored), a rate limit in events per second (0 = none) with
    its burst, and the browser origins allowed to send with it (CORS)."""

    name: str = ""
    sha256: str = ""
    events_per_second: float = 1000.0
    burst: int = 0                        # 0: two seconds' worth of events_per_second
    origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectorSettings:
    enabled: bool = False                 # run `gradvy serve` under the worker pool
    host: str = "127.0.0.1"
    port: int = 8470
    workers: int = 1                      # server processes
    max_events: int = 1000                # events in one request
    max_bytes: int = 4_194_304            # one request's body, after decompression
    max_backlog: int = 1_000_000          # inbox rows waiting: past this, 503 + Retry-After
    retry_after_seconds: int = 5
    group_max: int = 2000                 # events written to the inbox in one commit
    commit_timeout_seconds: float = 10.0  # a write waiting longer for the store: 503
    keys: tuple[WriteKey, ...] = ()


@dataclass(frozen=True)
class ConsoleSettings:
    refresh_seconds: float = 1.0
    theme: str = "dark"
    quit_default: str = "leave"
    start_pool: bool = True
    read_only: bool = False
    keys: dict[str, str] = field(default_factory=dict)


# Periodic jobs and their crontabs (UTC), defaults from seed/ORIGINAL.md; "" disables one.
JOBS: dict[str, str] = {
    "process_pending_events": "* * * * *",
    "update_realtime_metrics": "* * * * *",
    "monitor_system_performance": "*/5 * * * *",
    "analyze_active_users": "*/15 * * * *",
    "process_user_anomalies": "*/15 * * * *",
    "update_user_segments": "0 * * * *",
    "update_recommendation_models": "0 */6 * * *",
    "privacy_compliance_audit": "0 0 * * *",
    "cleanup_old_analytics_data": "0 2 * * *",
    "data_quality_assessment": "5 * * * *",
    "generate_daily_report": "0 6 * * *",
    "generate_weekly_report": "30 6 * * 1",
    "generate_monthly_report": "0 7 1 * *",
}


# Every task the product defines (Huey names them by module path; `[tasks.NAME]` routes and
# tunes them). A test checks this list against the registered tasks.
TASK_NAMES: tuple[str, ...] = (
    "process_analytics_event", "batch_process_events", "process_pending_events",
    "update_realtime_metrics", "self_test_probe", "self_test_event", "analyze_user_behavior",
    "analyze_active_users", "check_user_anomalies", "process_user_anomalies",
    "update_user_segments", "update_recommendation_models", "generate_content_recommendations",
    "monitor_system_performance", "erase_user", "export_user_data",
    "privacy_compliance_audit", "cleanup_old_analytics_data", "data_quality_assessment",
    "generate_analytics_reports", "generate_daily_report", "generate_weekly_report",
    "generate_monthly_report",
)


def _default_queues() -> dict[str, QueueSettings]:
    queues = {name: QueueSettings() for name in QUEUES}
    # The realtime queue answers fast: poll often, never back off far.
    queues["realtime"] = QueueSettings(workers=2, initial_delay=0.01, max_delay=0.25)
    return queues


def _default_tasks() -> dict[str, TaskSettings]:
    # Numbers from seed/ORIGINAL.md: process event 3 retries from 60 s, 60 s hard limit;
    # analysis 2 retries at 300 s, 300 s limit; model update 2 retries at 1800 s, 1800 s limit.
    realtime = dict(queue="realtime", priority=9, retries=3, retry_delay=60.0, retry_backoff=2.0,
                    timeout=60.0)
    analysis = dict(queue="analytics", priority=5, retries=2, retry_delay=300.0,
                    retry_backoff=1.0, timeout=300.0)
    models = dict(queue="ml", priority=5, retries=2, retry_delay=1800.0, retry_backoff=1.0,
                  timeout=1800.0)
    return {
        "process_analytics_event": TaskSettings(**realtime),  # type: ignore[arg-type]
        "batch_process_events": TaskSettings(**realtime),  # type: ignore[arg-type]
        "update_realtime_metrics": TaskSettings(**realtime),  # type: ignore[arg-type]
        "self_test_probe": TaskSettings(queue="realtime", priority=9),
        "self_test_event": TaskSettings(queue="realtime", priority=9, retries=0),
        "erase_user": TaskSettings(queue="compliance", priority=9, timeout=3600.0),
        "export_user_data": TaskSettings(queue="compliance", priority=7, timeout=600.0),
        "privacy_compliance_audit": TaskSettings(queue="compliance", priority=5,
                                                 timeout=1800.0),
        "cleanup_old_analytics_data": TaskSettings(queue="maintenance", priority=3,
                                                   timeout=3600.0),
        "data_quality_assessment": TaskSettings(queue="monitoring", priority=4,
                                                timeout=1800.0),
        "generate_analytics_reports": TaskSettings(queue="reports", priority=3, timeout=3600.0),
        "generate_daily_report": TaskSettings(queue="reports", priority=3, timeout=3600.0),
        "generate_weekly_report": TaskSettings(queue="reports", priority=3, timeout=3600.0),
        "generate_monthly_report": TaskSettings(queue="reports", priority=3, timeout=3600.0),
        "analyze_user_behavior": TaskSettings(**analysis),  # type: ignore[arg-type]
        "analyze_active_users": TaskSettings(**analysis),  # type: ignore[arg-type]
        "update_recommendation_models": TaskSettings(**models),  # type: ignore[arg-type]
    }


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path(".gradvy")
    task_modules: tuple[str, ...] = ()   # a platform's own task modules, imported by workers
    redis_url: str = ""
    mongo_url: str = ""
    mongo_db: str = "gradvy"
    socket_timeout_seconds: float = 10.0
    ingest: IngestSettings = field(default_factory=IngestSettings)
    consent: ConsentSettings = field(default_factory=ConsentSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    queues: dict[str, QueueSettings] = field(default_factory=_default_queues)
    tasks: dict[str, TaskSettings] = field(default_factory=_default_tasks)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    insights: InsightSettings = field(default_factory=InsightSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    schedule: dict[str, str] = field(default_factory=lambda: dict(JOBS))
    source: str = "built-in defaults"

    @property
    def queue_backend(self) -> str:
        return "redis" if self.redis_url else "sqlite"

    @property
    def store_backend(self) -> str:
        return "mongodb" if self.mongo_url else "sqlite"

    def task_settings(self, name: str) -> TaskSettings:
        return self.tasks.get(name, TaskSettings())

    def with_overrides(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)
