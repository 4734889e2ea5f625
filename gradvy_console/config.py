"""One typed, frozen configuration object.

Order of precedence: ``--config PATH``, then ``GRADVY_CONFIG``, then ``./config.toml``, then the
built-in defaults below. ``GRADVY_DATA_DIR``, ``GRADVY_REDIS_URL`` and ``GRADVY_MONGO_URL``
override the file. Unknown keys and wrong types are refused with a sentence naming the key and
the file. ``config.toml`` at the repository root documents every setting with its default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .analytics.scoring import ScoringModel
from .errors import ConfigError

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
    batch_size: int = 100
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
class SimulatorSettings:
    users: int = 100
    days: int = 30
    count: int = 10
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
    "alert.acknowledge": "a", "task.retry": "r", "task.failed_only": "f",
    "dead_letter.replay": "r", "job.trigger": "g", "user.lookup": "slash",
    "screen.insights": "8", "insights.analyze": "a", "insights.anomalies": "c",
    "insights.segments": "u", "insights.models": "t", "insights.evaluate": "e",
    "anomaly.acknowledge": "k",
}


@dataclass(frozen=True)
class ConsoleSettings:
    refresh_seconds: float = 1.0
    theme: str = "dark"
    quit_default: str = "leave"
    start_pool: bool = True
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
}


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
        "analyze_user_behavior": TaskSettings(**analysis),  # type: ignore[arg-type]
        "analyze_active_users": TaskSettings(**analysis),  # type: ignore[arg-type]
        "update_recommendation_models": TaskSettings(**models),  # type: ignore[arg-type]
    }


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path(".gradvy")
    redis_url: str = ""
    mongo_url: str = ""
    mongo_db: str = "gradvy"
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


# --- loading -------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check `value` against annotation `tp`; return it converted (ints to floats, lists to
    tuples, paths). Raises ConfigError naming the key and the file."""
    origin = typing.get_origin(tp)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} in {where} must be a number, not {value!r}.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} in {where} must be a whole number, not {value!r}.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} in {where} must be true or false, not {value!r}.")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} in {where} must be a string, not {value!r}.")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{key} in {where} must be a path string, not {value!r}.")
        return Path(value)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key} in {where} must be a list, not {value!r}.")
        return tuple(_coerce(v, item_tp, key, where) for v in value)
    if origin is dict:
        (_key_tp, item_tp) = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} in {where} must be a table, not {value!r}.")
        return {k: _coerce(v, item_tp, f"{key}.{k}", where) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} in {where} must be a table, not {value!r}.")
        return _build(tp, value, key, where)
    if isinstance(tp, types.UnionType):
        raise ConfigError(f"{key} in {where}: unsupported setting type {tp}.")
    raise ConfigError(f"{key} in {where}: unsupported setting type {_type_name(tp)}.")


def _build(cls: type, table: dict[str, Any], prefix: str, where: str,
           base: Any | None = None) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(table) - names)
    if unknown:
        dotted = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"Unknown setting '{dotted}' in {where}.")
    changes = {}
    for name, value in table.items():
        dotted = f"{prefix}.{name}" if prefix else name
        changes[name] = _coerce(value, hints[name], dotted, where)
    return dataclasses.replace(base if base is not None else cls(), **changes)


def _merge_named(defaults: dict[str, Any], table: Any, section: str, where: str,
                 cls: type, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{section} in {where} must be a table.")
    merged = dict(defaults)
    for name, sub in table.items():
        if allowed is not None and name not in allowed:
            raise ConfigError(
                f"Unknown queue '{section}.{name}' in {where}; queues are {', '.join(allowed)}."
            )
        if not isinstance(sub, dict):
            raise ConfigError(f"{section}.{name} in {where} must be a table.")
        merged[name] = _build(cls, sub, f"{section}.{name}", where, merged.get(name))
    return merged


def config_from_table(table: dict[str, Any], where: str) -> Config:
    """Build a Config from a parsed TOML table (top level: [general], [backends], sections)."""
    table = dict(table)
    flat: dict[str, Any] = {}
    general = table.pop("general", {})
    backends = table.pop("backends", {})
    for section_name, section in (("general", general), ("backends", backends)):
        if not isinstance(section, dict):
            raise ConfigError(f"[{section_name}] in {where} must be a table.")
    allowed_general = {"data_dir"}
    allowed_backends = {"redis_url", "mongo_url", "mongo_db"}
    for key in general:
        if key not in allowed_general:
            raise ConfigError(f"Unknown setting 'general.{key}' in {where}.")
    for key in backends:
        if key not in allowed_backends:
            raise ConfigError(f"Unknown setting 'backends.{key}' in {where}.")
    flat.update(general)
    flat.update(backends)
    queues = table.pop("queues", None)
    tasks = table.pop("tasks", None)
    schedule = table.pop("schedule", None)
    config: Config = _build(Config, {**flat, **table}, "", where)
    if queues is not None:
        config = dataclasses.replace(
            config, queues=_merge_named(config.queues, queues, "queues", where, QueueSettings,
                                        QUEUES))
    if tasks is not None:
        config = dataclasses.replace(
            config, tasks=_merge_named(config.tasks, tasks, "tasks", where, TaskSettings, None))
    if schedule is not None:
        if not isinstance(schedule, dict):
            raise ConfigError(f"[schedule] in {where} must be a table of job = \"crontab\".")
        merged = dict(config.schedule)
        for job, expression in schedule.items():
            if job not in JOBS:
                raise ConfigError(f"Unknown job 'schedule.{job}' in {where}; jobs are "
                                  f"{', '.join(JOBS)}.")
            if not isinstance(expression, str):
                raise ConfigError(f"schedule.{job} in {where} must be a crontab string.")
            merged[job] = expression
        config = dataclasses.replace(config, schedule=merged)
    from .schedule import parse as parse_cron

    for job, expression in config.schedule.items():
        if expression:
            try:
                parse_cron(expression)
            except ValueError as exc:
                raise ConfigError(f"schedule.{job} = {expression!r} in {where}: {exc}.") from None
    for name, task in config.tasks.items():
        if task.queue not in QUEUES:
            raise ConfigError(
                f"tasks.{name}.queue in {where} names unknown queue '{task.queue}'; "
                f"queues are {', '.join(QUEUES)}."
            )
    console = config.console
    if console.theme not in ("dark", "light"):
        raise ConfigError(f"console.theme in {where} must be 'dark' or 'light'.")
    if console.quit_default not in ("stop", "leave"):
        raise ConfigError(f"console.quit_default in {where} must be 'stop' or 'leave'.")
    if console.refresh_seconds < 0.1:
        raise ConfigError(f"console.refresh_seconds in {where} must be at least 0.1.")
    for binding in console.keys:
        if binding not in CONSOLE_KEYS:
            raise ConfigError(f"Unknown key binding 'console.keys.{binding}' in {where}; "
                              f"bindings are {', '.join(CONSOLE_KEYS)}.")
    for name, queue in config.queues.items():
        if queue.worker_type not in ("thread", "process"):
            raise ConfigError(
                f"queues.{name}.worker_type in {where} must be 'thread' or 'process'."
            )
        if queue.workers < 1:
            raise ConfigError(f"queues.{name}.workers in {where} must be at least 1.")
    return config


def load_config(path: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None) -> Config:
    """Load the configuration in the documented order and apply environment overrides."""
    env = dict(os.environ) if env is None else env
    chosen: Path | None = None
    if path:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError(f"Config file {chosen} (from --config) does not exist.")
    elif env.get("GRADVY_CONFIG"):
        chosen = Path(env["GRADVY_CONFIG"])
        if not chosen.is_file():
            raise ConfigError(f"Config file {chosen} (from GRADVY_CONFIG) does not exist.")
    elif Path("config.toml").is_file():
        chosen = Path("config.toml")

    if chosen is None:
        config = Config()
    else:
        try:
            table = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{chosen} is not valid TOML: {exc}.") from None
        except OSError as exc:
            raise ConfigError(f"Cannot read config file {chosen}: {exc.strerror}.") from None
        config = config_from_table(table, str(chosen))
        config = dataclasses.replace(config, source=str(chosen))

    changes: dict[str, Any] = {}
    if env.get("GRADVY_DATA_DIR"):
        changes["data_dir"] = Path(env["GRADVY_DATA_DIR"])
    if "GRADVY_REDIS_URL" in env:
        changes["redis_url"] = env["GRADVY_REDIS_URL"]
    if "GRADVY_MONGO_URL" in env:
        changes["mongo_url"] = env["GRADVY_MONGO_URL"]
    if changes:
        config = dataclasses.replace(config, **changes)
    return config


def origin_of(config: Config, setting: str) -> str:
    """Where a backend setting came from, for error messages."""
    env_names = {"redis_url": "GRADVY_REDIS_URL", "mongo_url": "GRADVY_MONGO_URL",
                 "data_dir": "GRADVY_DATA_DIR"}
    name = env_names.get(setting)
    if name and os.environ.get(name):
        return name
    return config.source
