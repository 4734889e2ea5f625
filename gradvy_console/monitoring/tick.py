"""The monitoring tick: samples, alert rules applied, alerts raised and cleared.

`sample(...)` measures CPU (from cpu_times deltas against the previous sample kept in live
state, so no worker is blocked for a second), memory, disk of the data dir's filesystem, load
average and every consumer's CPU and memory (from their heartbeats). `tick(...)` stores the
sample as the current snapshot and in a rolling history, evaluates the alert rules and records
every raise and clear in the store. The supervisor ticks every 5 s (the hour at 5 s); the
`monitor_system_performance` job every 5 minutes (the day at 5 min).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

import psutil

from ..analytics.alerts import Change, Rule, evaluate
from ..config import QUEUES, Config
from ..live import LiveState
from ..private_files import private_dir
from ..store import DocumentStore
from .fleet import fleet

HISTORY_5S = ("sys:history:5s", 720, 3_600 + 60)        # one hour of 5-second samples
HISTORY_5M = ("sys:history:5m", 288, 86_400 + 600)      # one day of 5-minute samples


def rules(config: Config) -> dict[str, Rule]:
    a = config.alerts
    h, held = a.hysteresis_percent, a.for_seconds
    # The measured values wait `for_seconds` before they raise; the conditions below them (a
    # consumer that stopped beating, a crash loop) are already judged over a heartbeat's TTL
    # or several restarts, so they raise at once.
    return {
        "cpu": Rule("cpu", "warning", a.cpu_warning, h, "%", held),
        "memory": Rule("memory", "critical", a.memory_critical, h, "%", held),
        "disk": Rule("disk", "critical", a.disk_critical, h, "%", held),
        "queue_latency": Rule("queue_latency", "warning", a.queue_latency_warning_s,
                              a.queue_latency_warning_s * 0.25, " s", held),
        "dead_letter_rate": Rule("dead_letter_rate", "warning", a.dead_letter_rate_warning,
                                 a.dead_letter_rate_warning * 0.25, "", held),
        "consumer_dead": Rule("consumer_dead", "critical", 0.5, 0.0, "bool"),
        "crash_loop": Rule("crash_loop", "critical", 0.5, 0.0, "bool"),
        "backend_unreachable": Rule("backend_unreachable", "critical", 0.5, 0.0, "bool"),
        "consumer_died": Rule("consumer_died", "warning", 0.5, 0.0, "bool"),
        "bot_like_users": Rule("bot_like_users", "warning", 0.5, 0.0, "bool"),
        "bad_queue_message": Rule("bad_queue_message", "critical", 0.5, 0.0, "bool"),
        "pending_drain_failing": Rule("pending_drain_failing", "critical", 0.5, 0.0, "bool"),
        "pool_silent": Rule("pool_silent", "critical", 0.5, 0.0, "bool"),
        "privacy_audit": Rule("privacy_audit", "critical", 0.5, 0.0, "bool"),
        "erasure_failed": Rule("erasure_failed", "critical", 0.5, 0.0, "bool"),
        "data_quality": Rule("data_quality", "warning", 0.5, 0.0, "bool"),
    }


# Alerts raised and cleared by events (the supervisor), not by the periodic evaluation.
EVENT_KINDS = ("backend_unreachable", "consumer_died", "bot_like_users", "bad_queue_message",
               "pending_drain_failing", "pool_silent", "privacy_audit", "erasure_failed",
               "data_quality")

POOLS_SEEN = "pools:seen"
PENDING_ALERTS = "alerts:pending"
POOL_SILENT_AFTER_MS = 15_000
POOL_FORGOTTEN_AFTER_MS = 86_400_000


def watch_pools(config: Config, store: DocumentStore, live: LiveState,
                pools: list[dict[str, Any]], now_ms: int) -> list[str]:
    """Every pool that reported in live state is remembered; one that stops reporting for
    15 s without having stopped cleanly (it leaves `sup-stopped:<id>` when it does) raises
    `pool_silent:<id>`, cleared when it reports again. Run by every pool's tick and by the
    console, so any of them notices another that was killed or whose host went down.
    Returns the ids of the silent pools."""
    seen: dict[str, Any] = dict(live.get_json(POOLS_SEEN, now_ms) or {})
    for pool in pools:
        seen[str(pool.get("id"))] = {"host": pool.get("host"), "last_ms": now_ms}
    stopped = live.scan_json("sup-stopped:", now_ms)
    active = {a["key"] for a in store.alerts(active_only=True, limit=1000)}
    current = {str(p.get("id")) for p in pools}
    silent = []
    for pool_id, info in list(seen.items()):
        key = f"pool_silent:{pool_id}"
        age = now_ms - int(info.get("last_ms", now_ms))
        if pool_id in current or f"sup-stopped:{pool_id}" in stopped:
            if key in active:
                event_alert(config, store, key, False, now_ms=now_ms)
            if pool_id not in current:
                del seen[pool_id]
            continue
        if age > POOL_FORGOTTEN_AFTER_MS:
            del seen[pool_id]
            continue
        if age > POOL_SILENT_AFTER_MS:
            silent.append(pool_id)
            if key not in active:
                event_alert(config, store, key, True,
                            f"The worker pool {pool_id} on {info.get('host')} stopped "
                            f"reporting {age // 1000} s ago without stopping cleanly (killed, "
                            "or its host or its connection to Redis is down); its queues "
                            "may have no consumer.", now_ms)
    live.put_json(POOLS_SEEN, seen, ttl_s=7 * 86_400)
    return silent


def event_alert(config: Config, store: DocumentStore, key: str, raise_it: bool,
                message: str = "", now_ms: int | None = None) -> None:
    """Raise (once) or clear an event-driven alert such as a consumer that died."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    kind = key.split(":", 1)[0]
    rule = rules(config)[kind]
    active = {a["key"] for a in store.alerts(active_only=True, limit=1000)}
    if raise_it and key not in active:
        apply_changes(store, None, [Change("raise", key, rule, 1.0)], now, {key: message})
    elif not raise_it and key in active:
        apply_changes(store, None, [Change("clear", key, rule, 0.0)], now)


def check_alerts(config: Config, store: DocumentStore, kind: str, title: str,
                 checks: Iterable[Any], now_ms: int | None = None) -> None:
    """One alert `KIND:CHECK` per failing check of an audit-like report (each check has
    `check`, `status` and `summary`), cleared when the check passes again."""
    for check in checks:
        event_alert(config, store, f"{kind}:{check.check}", check.status == "fail",
                    f"{title}: {check.check} failed: {check.summary}", now_ms)


def queue_message_rejected(config: Config, store: DocumentStore, why: str,
                           now_ms: int | None = None) -> None:
    """A queue value failed its signature or shape and was dropped: count it and raise the
    `bad_queue_message` alert (it stays until an operator clears it: someone wrote to the
    queues who should not have, or a host runs with another queue key)."""
    with store.transaction() as tx:
        tx.add_counters({"queue_messages_rejected": 1})
    event_alert(config, store, "bad_queue_message", True,
                f"A queue message failed its check and was dropped, never run: {why}. Check "
                "who can write to the queues, and that every host has the same queue key.",
                now_ms)


def drain_failing(config: Config, store: DocumentStore, failing: bool, runs: int = 0,
                  error: BaseException | None = None) -> None:
    """Raise (after the periodic pending-events drain failed `runs` >= 2 times running) or
    clear the `pending_drain_failing` alert: pending events are not being processed."""
    detail = (str(error).splitlines() or [""])[0][:160] if error is not None else ""
    event_alert(config, store, "pending_drain_failing", failing,
                f"The every-minute drain of pending events failed {runs} times running "
                f"({type(error).__name__ if error else ''}: {detail}); pending events wait. "
                "See the realtime consumer's log and 'gradvy run doctor'.")


def cpu_percent(live: LiveState, now_ms: int) -> float | None:
    """Whole-machine CPU % since the previous sample (None for the first one)."""
    times = psutil.cpu_times()
    busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    total = sum(times)
    previous = live.get_json("sys:cpu_times", now_ms)
    live.put_json("sys:cpu_times", {"busy": busy, "total": total}, ttl_s=3600)
    if not previous or total <= previous["total"]:
        return None
    return round(100.0 * (busy - float(previous["busy"])) / (total - float(previous["total"])), 1)


def sample(config: Config, live: LiveState, consumers: list[dict[str, Any]], now_ms: int
           ) -> dict[str, Any]:
    private_dir(config.data_dir)
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(config.data_dir))
    load = os.getloadavg()
    return {
        "at_ms": now_ms,
        "cpu_percent": cpu_percent(live, now_ms),
        "memory_percent": memory.percent,
        "memory_used_bytes": memory.total - memory.available,
        "disk_percent": disk.percent,
        "disk_free_bytes": disk.free,
        "load": [round(x, 2) for x in load],
        "cores": psutil.cpu_count() or 1,
        "consumers": [{"queue": c.get("queue"), "host": c.get("host"), "pid": c.get("pid"),
                       "cpu_percent": c.get("cpu_percent"), "rss_bytes": c.get("rss_bytes"),
                       "alive": c.get("alive")} for c in consumers],
    }


def alert_values(snapshot: dict[str, Any], queues: dict[str, dict[str, Any]],
                 consumers: list[dict[str, Any]], pools: list[dict[str, Any]],
                 dead_letter_rate: float | None) -> dict[str, float | None]:
    values: dict[str, float | None] = {
        "cpu": snapshot.get("cpu_percent"),
        "memory": snapshot.get("memory_percent"),
        "disk": snapshot.get("disk_percent"),
        "dead_letter_rate": dead_letter_rate,
    }
    for queue in QUEUES:
        age = queues.get(queue, {}).get("oldest_age_s")
        values[f"queue_latency:{queue}"] = age if age is not None else 0.0
    for c in consumers:
        if not c.get("alive"):
            values[f"consumer_dead:{c['host']}:{c['pid']}:{c['queue']}"] = 1.0
    for pool in pools:
        for c in pool.get("consumers", []):
            if c.get("state") == "crash_loop":
                values[f"crash_loop:{pool['host']}:{c['queue']}"] = 1.0
    return values


def apply_changes(store: DocumentStore, live: LiveState | None, changes: list[Change],
                  now_ms: int, describe: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Record raises and clears: the store keeps the history, live state the active set."""
    active = {a["key"]: a for a in store.alerts(active_only=True, limit=1000)}
    done = []
    for change in changes:
        if change.action == "raise":
            subject = (describe or {}).get(change.key, change.key)
            alert = {"alert_id": uuid.uuid4().hex[:12], "key": change.key,
                     "kind": change.rule.kind, "severity": change.rule.severity,
                     "value": change.value, "message": change.rule.message(subject,
                                                                           change.value),
                     "raised_ms": now_ms, "cleared_ms": None, "acknowledged_ms": None}
        else:
            if change.key not in active:
                continue
            alert = {**active[change.key], "cleared_ms": now_ms, "cleared_value": change.value}
        store.record_alert(alert)
        done.append(alert)
    return done


def subjects(values: dict[str, float | None]) -> dict[str, str]:
    names = {"cpu": "CPU", "memory": "Memory", "disk": "Disk",
             "dead_letter_rate": "Dead-letter rate"}
    out = {}
    for key in values:
        kind, _, rest = key.partition(":")
        if kind in names:
            out[key] = names[kind]
        elif kind == "queue_latency":
            out[key] = f"Queue {rest}: oldest waiting task"
        elif kind == "consumer_dead":
            host, pid, queue = rest.split(":")
            out[key] = f"Consumer {queue} on {host} (pid {pid}) stopped beating"
        elif kind == "crash_loop":
            host, queue = rest.split(":")
            out[key] = f"Consumer {queue} on {host} is crash-looping"
    return out


def sustained_cpu(history: list[dict[str, Any]], now_ms: int, window_s: float) -> float | None:
    """The CPU figure alerts are judged on: the mean of the samples of the last `window_s`
    seconds (at least the last three), so a busy minute neither raises nor clears an alert."""
    samples = [h for h in history if h.get("cpu_percent") is not None]
    recent = [h["cpu_percent"] for h in samples if h.get("at_ms", 0) >= now_ms - window_s * 1000]
    if len(recent) < 3:
        recent = [h["cpu_percent"] for h in samples[-3:]]
    return round(sum(recent) / len(recent), 1) if recent else None


def tick(config: Config, store: DocumentStore, live: LiveState, history: tuple[str, int, int],
         queues: dict[str, dict[str, Any]], now_ms: int | None = None) -> dict[str, Any]:
    """One monitoring round: sample, store snapshot and history, evaluate and apply alerts."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    consumers = fleet(live, config.live.heartbeat_ttl_seconds, now)
    pools = sorted(live.scan_json("sup:", now).values(), key=lambda s: s.get("id", ""))
    watch_pools(config, store, live, pools, now)
    snap = sample(config, live, consumers, now)
    live.put_json("metrics:system", snap, ttl_s=600)
    key, max_len, ttl = history
    sample_row = {k: snap[k] for k in ("at_ms", "cpu_percent", "memory_percent",
                                       "disk_percent", "load")}
    # Each queue's depth and oldest waiting age, for the console's last-hour charts.
    sample_row["queues"] = {q: [m.get("pending") or 0, m.get("oldest_age_s")]
                            for q, m in queues.items()}
    live.push_bounded(key, sample_row, max_len, ttl)
    counters = store.counters()
    previous = live.get_json("sys:dlq_mark", now)
    live.put_json("sys:dlq_mark", {"dead": counters.get("dead_lettered", 0),
                                   "all": sum(counters.get(k, 0) for k in (
                                       "processed", "dead_lettered", "duplicates",
                                       "no_consent"))}, ttl_s=3600)
    rate = None
    if previous:
        dead = counters.get("dead_lettered", 0) - previous["dead"]
        total = sum(counters.get(k, 0) for k in ("processed", "dead_lettered", "duplicates",
                                                   "no_consent")) - previous["all"]
        rate = round(dead / total, 4) if total > 0 else 0.0
    values = alert_values(snap, queues, consumers, pools, rate)
    values["cpu"] = sustained_cpu(live.get_list(key, now), now,
                                  config.alerts.cpu_window_seconds)
    active = {a["key"] for a in store.alerts(active_only=True, limit=1000)
              if a["kind"] not in EVENT_KINDS}
    # Keys over their threshold but not yet for long enough, kept between ticks (any
    # process may run the next one: the pool every 5 s, the monitoring job, `monitor`).
    pending: dict[str, int] = live.get_json(PENDING_ALERTS, now) or {}
    changes = evaluate(values, active, rules(config), pending, now)
    live.put_json(PENDING_ALERTS, pending, ttl_s=3600)
    snap["alerts_pending"] = sorted(pending)
    snap["alerts_changed"] = apply_changes(store, live, changes, now, subjects(values))
    return snap


def backend_outage(config: Config, store: DocumentStore, backend: str, down: bool,
                   error: str = "", now_ms: int | None = None) -> None:
    """Raise (or clear) the alert for an unreachable backend, straight in the store: the live
    state may be the thing that is down."""
    event_alert(config, store, f"backend_unreachable:{backend}", down,
                f"{backend} unreachable: {error}"[:200], now_ms)


def acknowledge(store: DocumentStore, alert_id: str, now_ms: int | None = None
                ) -> dict[str, Any] | None:
    for alert in store.alerts(limit=1000):
        if alert["alert_id"] == alert_id or alert["alert_id"].startswith(alert_id):
            alert = {**alert, "acknowledged_ms": now_ms or int(time.time() * 1000)}
            store.record_alert(alert)
            return alert
    return None
