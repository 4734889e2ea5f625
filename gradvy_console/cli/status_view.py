"""Rich rendering of `gradvy run status` (a front end: formats, computes nothing)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table


def _age(ms: int | None, now_ms: int) -> str:
    if not ms:
        return "-"
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def render_status(data: dict[str, Any], console: Console | None = None) -> None:
    from .common import cli_console

    console = console or cli_console()
    now = data["at_ms"]
    backends = data["backends"]
    alive = [c for c in data["consumers"] if c.get("alive")]
    running = bool(alive)
    console.print(f"[bold]Gradvy pipeline[/] on {data['host']} - "
                  f"{'[green]running[/]' if running else '[yellow]no consumers running[/]'}"
                  f"  (queues: {backends['queue']}, live: {backends['live']}, "
                  f"store: {backends['store']}; data dir {data['data_dir']})")
    for pool in data.get("pools", []):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(pool["started_ms"] / 1000))
        console.print(f"Pool {pool['id']} (pid {pool['pid']}) started {when} "
                      f"({_age(pool['started_ms'], now)} ago)")
    system = data.get("system")
    if system:
        cpu = "-" if system.get("cpu_percent") is None else f"{system['cpu_percent']}%"
        console.print(f"CPU {cpu}   memory {system['memory_percent']}%   disk "
                      f"{system['disk_percent']}%   load "
                      f"{' '.join(str(x) for x in system['load'])}   "
                      f"(measured {_age(system['at_ms'], now)} ago)")
    else:
        console.print("System: not measured yet (gradvy run monitor)")
    for alert in data.get("alerts", []):
        color = "red" if alert["severity"] == "critical" else "yellow"
        console.print(f"[{color}]{alert['severity'].upper()}[/] {alert['message']} "
                      f"(since {_age(alert['raised_ms'], now)} ago, id {alert['alert_id']})")
    events = data["events"]
    users = data["users"]
    table = Table(title="Events and users", title_justify="left", show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column()
    table.add_row("pending", f"{events['pending']:,}",
                  f"oldest {events['oldest_pending_age_s']:,} s" if events["pending"] else "")
    table.add_row("processed", f"{events['processed']:,}",
                  f"last 24 h {events['processed_24h']:,}, profiled {events['profiled']:,}")
    table.add_row("dead-lettered", f"{events['dead_lettered']:,}",
                  ", ".join(f"{k} {v:,}" for k, v in events["rejected"].items()))
    table.add_row("duplicates", f"{events['duplicates']:,}", "")
    table.add_row("failed tasks", f"{events['failed_tasks_24h']:,}", "last 24 h")
    table.add_row("no consent", f"{events['no_consent']:,}", "")
    table.add_row("PII masked", f"{events['pii_masked']:,}",
                  f"keys dropped {events['keys_dropped']:,}")
    table.add_row("users", f"{users['total']:,}",
                  f"active 24 h {users['active_24h']:,} ({users['activity_rate']:.1%})")
    console.print(table)
    queues = Table(title="Queues", title_justify="left", box=None, header_style="bold")
    for col in ("queue", "pending", "sched", "oldest", "done/min", "fail/min", "p95",
                "consumers"):
        queues.add_column(col, justify="left" if col == "queue" else "right")
    for name, q in data["queues"].items():
        p95 = f"{q['p95_s'] * 1000:.0f} ms" if q.get("p95_s") is not None else "-"
        oldest = f"{q['oldest_age_s']:.1f} s" if q.get("oldest_age_s") is not None else "-"
        queues.add_row(name + (" (paused)" if q.get("paused") else ""),
                       f"{q.get('pending') or 0:,}", f"{q.get('scheduled') or 0:,}", oldest,
                       f"{q['processed_per_min']:g}", f"{q['failed_per_min']:g}", p95,
                       str(q["consumers"]))
    console.print(queues)
    failures = [(name, f) for name, q in data["queues"].items() for f in q["recent_failures"]]
    if failures:
        console.print("[bold]Recent failures[/]")
        for name, f in failures[:6]:
            console.print(f"  [red]{name}[/] {f['task']} {f['task_id'][:8]}: {f['error']}")
    restarts = {(p["host"], c["pid"]): c["restarts"] for p in data.get("pools", [])
                for c in p["consumers"]}
    if data["consumers"]:
        hosts = {c.get("host") for c in data["consumers"]}
        consumers = Table(title="Consumers", title_justify="left", box=None,
                          header_style="bold")
        columns = ["queue", *(["host"] if len(hosts) > 1 else []), "pid", "state", "up",
                   "CPU", "memory", "restarts", "done/failed", "current"]
        for col in columns:
            consumers.add_column(col, justify="right" if col in (
                "pid", "CPU", "memory", "restarts", "done/failed") else "left",
                overflow="fold", no_wrap=col != "current",
                min_width=12 if col == "current" else None)
        for c in data["consumers"]:
            state = "[green]alive[/]" if c.get("alive") else "[red]dead[/]"
            row = [c.get("queue", "?"), *([c.get("host", "?")] if len(hosts) > 1 else []),
                   str(c.get("pid")), state, _age(c.get("started_ms"), now),
                   f"{c.get('cpu_percent', 0):.0f}%",
                   f"{c.get('rss_bytes', 0) / 2**20:,.0f}M",
                   str(restarts.get((c.get("host"), c.get("pid")), "-")),
                   f"{c.get('done') or 0:,}/{c.get('failed') or 0:,}",
                   c.get("current") or "-"]
            consumers.add_row(*row)
        console.print(consumers)
