"""The guide's `cache.get(...)`, read-only, over live state and the store, on the embedded
default and on Redis alike:

    from gradvy_console.cache import cache
    metrics = cache.get('system_metrics')
    print(f"CPU: {metrics['system']['cpu_percent']}%")
    alerts = cache.get('system_alerts', [])

Keys (each a plain JSON value; a missing or stale one gives `default`, never an exception):

- `system_metrics`: {"at_ms", "system": {"cpu_percent", "memory_percent", "memory_used_bytes",
  "disk_percent", "disk_free_bytes", "load": [1, 5, 15 min], "cores"}, "consumers": [{"queue",
  "host", "pid", "cpu_percent", "rss_bytes", "alive"}]}, from the latest monitoring run (every
  5 minutes by default, or `gradvy run monitor`; kept 10 minutes).
- `system_alerts`: the active alerts, newest first: [{"type", "value", "severity", "since"
  (epoch ms), "message", "alert_id"}], read from the store as they are.
- `analysis:<user_id>`: the learner's latest analysis (`analyze_user_behavior`; kept 1 hour).
- `recommendations:<user_id>`: their latest recommendations (kept as long as the model).
- `audit`: the latest privacy audit {"at_ms", "status", "checks": [...]} (daily, or `gradvy run
  audit`).
- `pipeline_metrics`: the pipeline counters and rates (every minute).
- `data_quality`: the latest data-quality assessment {"at_ms", "status", "score", "no_data",
  "checks": [...], "windows", "types"} (hourly, or `gradvy run quality-check`).

Writing goes through the verbs: there is no `set`.
"""

from __future__ import annotations

import time
from typing import Any

_NOT_FOUND = object()


class ReadOnlyCache:
    """`get(key, default=None)` over the pipeline's live state."""

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self._read(str(key))
        except Exception:  # noqa: BLE001 - the guide's callers expect a value, not an outage
            return default
        return default if value is _NOT_FOUND or value is None else value

    def _read(self, key: str) -> Any:
        from . import runtime

        now = int(time.time() * 1000)
        if key == "system_metrics":
            snap = runtime.live().get_json("metrics:system", now)
            if not snap:
                return _NOT_FOUND
            system = {k: snap.get(k) for k in ("cpu_percent", "memory_percent",
                                                "memory_used_bytes", "disk_percent",
                                                "disk_free_bytes", "load", "cores")}
            return {"at_ms": snap.get("at_ms"), "system": system,
                    "consumers": snap.get("consumers", [])}
        if key == "system_alerts":
            return [{"type": a.get("kind"), "value": a.get("value"),
                     "severity": a.get("severity"), "since": a.get("raised_ms"),
                     "message": a.get("message"), "alert_id": a.get("alert_id")}
                    for a in runtime.store().alerts(active_only=True, limit=1000)]
        if key == "audit":
            from .privacy import latest_audit

            audit = latest_audit(runtime.store())
            if audit is None:
                return _NOT_FOUND
            return {k: v for k, v in audit.items() if k != "_id"}
        if key == "data_quality":
            from .quality import latest_assessment

            assessment = latest_assessment(runtime.store())
            if assessment is None:
                return _NOT_FOUND
            return {k: v for k, v in assessment.items() if k != "_id"}
        if key == "pipeline_metrics":
            return runtime.live().get_json("metrics:pipeline", now)
        if key.startswith(("analysis:", "recommendations:")):
            return runtime.live().get_json(key, now)
        return _NOT_FOUND

    def set(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("gradvy_console.cache is read-only: the pipeline's verbs and tasks "
                        "write it.")


cache = ReadOnlyCache()
