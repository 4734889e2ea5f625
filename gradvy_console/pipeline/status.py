"""`status`: events, users, queues, consumers, pools, system and alerts, as plain data."""

from __future__ import annotations

import socket
from typing import Any

from ..clock import now_ms
from ..config import Config
from ..live import LiveState
from ..monitoring import fleet
from ..queues import current_queue_metrics
from ..store import DocumentStore


def status(config: Config, store: DocumentStore, live: LiveState) -> dict[str, Any]:
    """Everything `gradvy run status` shows, as plain data."""
    at = now_ms()
    counters = store.counters()
    pending = store.inbox_count()
    oldest = store.inbox_oldest_ms()
    users = store.count_users()
    active = store.count_users_active_since(at - 86_400_000)
    consumers = fleet(live, config.live.heartbeat_ttl_seconds, at_ms=at)
    hour = at // 3_600_000
    processed_24h = sum(v for k, v in counters.items() if k.startswith("processed_hour:")
                        and hour - int(k.split(":", 1)[1]) < 24)
    failed_24h = store.count_failed_runs(at - 86_400_000)
    pools = sorted(live.scan_json("sup:", at).values(), key=lambda s: s.get("id", ""))
    return {
        "at_ms": at,
        "host": socket.gethostname(),
        "data_dir": str(config.data_dir),
        "config": config.source,
        "backends": {"queue": config.queue_backend, "live": live.backend,
                     "store": store.backend},
        "events": {
            "pending": pending,
            "oldest_pending_age_s": round((at - oldest) / 1000, 1) if oldest else None,
            "processed": counters.get("processed", 0),
            "processed_24h": processed_24h,
            "dead_lettered": counters.get("dead_lettered", 0),
            "duplicates": counters.get("duplicates", 0),
            "no_consent": counters.get("no_consent", 0),
            "profiled": counters.get("profiled", 0),
            "failed_tasks_24h": failed_24h,
            "pii_masked": counters.get("pii_masked", 0),
            "keys_dropped": counters.get("keys_dropped", 0),
            "unknown_type": counters.get("unknown_type", 0),
            "queue_messages_rejected": counters.get("queue_messages_rejected", 0),
            "suppressed": counters.get("suppressed", 0),
            "collector_accepted": counters.get("collector_accepted", 0),
            "rejected": {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
                         if k.startswith("rejected:")},
            "stored_by_type": {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
                               if k.startswith("stored_type:")},
        },
        "users": {"total": users, "active_24h": active,
                  "activity_rate": round(active / users, 4) if users else 0.0},
        "queues": current_queue_metrics(config, store, live, at),
        "consumers": consumers,
        "pools": pools,
        "system": live.get_json("metrics:system", at),
        "alerts": store.alerts(active_only=True, limit=50),
        "live_counters": live.counters(),
    }
