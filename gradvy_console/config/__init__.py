"""Configuration: the typed, frozen settings (`settings`), loading them from TOML and the
environment with clear refusals (`load`), the crontab grammar the schedule uses (`cron`) and
the process's active configuration (`active`)."""

from __future__ import annotations

from .active import get_config, set_active
from .load import config_from_table, load_config, origin_of
from .settings import (
    CONSOLE_KEYS,
    JOBS,
    QUEUES,
    AlertSettings,
    CollectorSettings,
    Config,
    ConsentSettings,
    ConsoleSettings,
    IngestSettings,
    InsightSettings,
    LiveSettings,
    QueueSettings,
    ScoringSettings,
    SimulatorSettings,
    TaskSettings,
    WriteKey,
)


def known_queue(queue: str) -> str:
    """`queue`, or one sentence (exit 2) naming the queues there are."""
    from ..errors import GradvyError

    if queue not in QUEUES:
        raise GradvyError(f"Unknown queue '{queue}'; queues are {', '.join(QUEUES)}.",
                          exit_code=2)
    return queue


__all__ = [
    "CONSOLE_KEYS", "JOBS", "QUEUES", "AlertSettings", "CollectorSettings", "Config",
    "ConsentSettings", "ConsoleSettings", "IngestSettings", "InsightSettings", "LiveSettings",
    "QueueSettings", "ScoringSettings", "SimulatorSettings", "TaskSettings", "WriteKey",
    "config_from_table", "get_config", "known_queue", "load_config", "origin_of", "set_active",
]
