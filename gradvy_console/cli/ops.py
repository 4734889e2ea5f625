"""Verbs that watch and operate: status, tasks, retry, schedule, trigger, monitor, alerts, ack."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ..errors import GradvyError
from .common import (
    JSON_OPTION,
    activate,
    at_least,
    cli_config,
    echo_json,
    engine,
    human_time,
    known_queue,
    logged,
    print_table,
    rich_table,
    run_app,
    say,
    store_only,
)


@run_app.command("status")
def status(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Pipeline status: events, users, queues, consumers, backends."""
    from ..pipeline import status as build_status

    config = cli_config()
    store, live, _ing = engine(config)
    data = build_status(config, store, live)
    if json_out:
        echo_json(data)
        return
    from .status_view import render_status

    render_status(data)


@run_app.command("tasks")
def tasks_cmd(
    failed: Annotated[bool, typer.Option("--failed", help="Only failed runs.")] = False,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 30,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recent task runs (newest first): task, queue, status, duration, error."""
    at_least("--limit", limit)
    known_queue(queue)
    config = cli_config()
    store = store_only(config)
    runs = store.task_runs(limit=limit, failed_only=failed, queue=queue)
    if json_out:
        echo_json(runs)
        return
    if not runs:
        typer.echo("No task runs recorded" + (" that failed." if failed else "."))
        return
    errors = any(r.get("error") for r in runs)
    table = rich_table(None, ["ended UTC", "task id", "queue", "task", "status", "took",
                              *(["error"] if errors else [])])
    table.columns[3].no_wrap = True         # a task's name reads whole; the error folds
    for r in runs:
        took = f"{r['duration_s'] * 1000:,.0f} ms" if r.get("duration_s") is not None else "-"
        table.add_row(human_time(r.get("ended_ms"))[5:], r["task_id"][:8], r["queue"],
                      r["task"], r["status"], took, *([r.get("error") or ""] if errors else []))
    print_table(table)


@run_app.command("retry")
@logged("retry_task")
def retry(task_id: Annotated[str, typer.Argument(help="A failed run's task id "
                                                       "(from 'gradvy run tasks --failed').")],
          json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Re-enqueue a failed task with its original arguments."""
    from ..pipeline import retry_task

    config = cli_config()
    store = store_only(config)
    name, new_id = retry_task(store, task_id)
    say(json_out, f"Re-enqueued {name} as task {new_id}.", task=name, task_id=new_id)


@run_app.command("schedule")
def schedule_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """Periodic jobs: crontab, queue, last run and outcome, next run (UTC)."""
    from ..pipeline import schedule_table

    config = cli_config()
    store = store_only(config)
    jobs = schedule_table(config, store)
    if json_out:
        echo_json(jobs)
        return
    table = rich_table(None, ["job", "crontab", "queue", "last run UTC", "outcome",
                              "next UTC"])
    for job in jobs:
        nxt = human_time(job["next_run_ms"])[5:16] if job["next_run_ms"] else "disabled"
        table.add_row(job["job"], job["cron"] or "-", job["queue"],
                      human_time(job["last_run_ms"])[5:] if job["last_run_ms"] else "never",
                      job["last_outcome"] or "-", nxt)
    print_table(table)


@run_app.command("trigger")
@logged("trigger_job")
def trigger(job: Annotated[str, typer.Argument(help="A job from 'gradvy run schedule'.")],
            json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Run a periodic job now (enqueued on its queue)."""
    from ..config import JOBS
    from ..queues import registered_tasks

    config = cli_config()
    activate(config)
    from .. import tasks  # noqa: F401 - registers the jobs

    if job not in JOBS:
        raise GradvyError(f"Unknown job '{job}'; jobs are {', '.join(JOBS)}.", exit_code=2)
    handle = registered_tasks()[job].apply_async()
    say(json_out, f"Triggered {job} on queue {handle.queue} (task {handle.id}).", job=job,
        queue=handle.queue, task_id=handle.id)


@run_app.command("monitor")
@logged("monitor")
def monitor(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
            ) -> None:
    """Measure the system now (CPU, memory, disk, load, consumers) and update alerts."""
    from ..monitoring import HISTORY_5M, tick
    from ..pipeline import current_queue_metrics

    config = cli_config()
    store, live, _ing = engine(config)
    now = int(time.time() * 1000)
    snap = tick(config, store, live, HISTORY_5M, current_queue_metrics(config, store, live, now),
                now)
    if json_out:
        echo_json(snap)
        return
    cpu = "n/a (first sample)" if snap["cpu_percent"] is None else f"{snap['cpu_percent']}%"
    typer.echo(f"CPU {cpu}, memory {snap['memory_percent']}%, disk {snap['disk_percent']}%, "
               f"load {' '.join(str(x) for x in snap['load'])} ({snap['cores']} cores)")
    for c in snap["consumers"]:
        typer.echo(f"  {c['queue']:<11} {c['host']} pid {c['pid']}: "
                   f"{'alive' if c['alive'] else 'DEAD'}, CPU {c['cpu_percent']}%, "
                   f"{(c['rss_bytes'] or 0) / 2**20:.0f} MiB")
    for alert in snap["alerts_changed"]:
        verb = "CLEARED" if alert.get("cleared_ms") else "RAISED"
        typer.echo(f"{verb} [{alert['severity']}] {alert['message']}")
    if snap["alerts_pending"]:
        typer.echo(f"Pending (over the line, raised once it holds for "
                   f"{config.alerts.for_seconds:g} s): {', '.join(snap['alerts_pending'])}")


@run_app.command("alerts")
def alerts_cmd(all_: Annotated[bool, typer.Option("--all", help="History too.")] = False,
               json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
               ) -> None:
    """Active alerts (with --all, the history of raised and cleared alerts)."""
    config = cli_config()
    store = store_only(config)
    found = store.alerts(active_only=not all_, limit=200)
    if json_out:
        echo_json(found)
        return
    if not found:
        typer.echo("No active alerts." if not all_ else "No alerts recorded.")
        return
    table = rich_table(None, ["id", "raised UTC", "severity", "state", "message"])
    for a in found:
        state = ("cleared " + human_time(a["cleared_ms"])[11:] if a.get("cleared_ms")
                 else "ACTIVE") + (", acked" if a.get("acknowledged_ms") else "")
        table.add_row(a["alert_id"][:8], human_time(a["raised_ms"])[5:], a["severity"], state,
                      a["message"])
    print_table(table)


@run_app.command("ack")
@logged("ack_alert")
def ack(alert_id: Annotated[str, typer.Argument(help="An alert id (or its start).")],
        json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Acknowledge an alert."""
    from ..monitoring import acknowledge

    config = cli_config()
    store = store_only(config)
    alert = acknowledge(store, alert_id)
    if alert is None:
        raise GradvyError(f"No alert {alert_id} (ids are in 'gradvy run alerts --all').",
                          exit_code=2)
    say(json_out, f"Acknowledged {alert['alert_id']}: {alert['message']}", alert=alert)


@run_app.command("doctor")
def doctor_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
               ) -> None:
    """Check integrity, permissions, keys, backends and free disk; say what to do about each
    finding. Exit code 0 when every check passes, 1 otherwise. Changes nothing."""
    from ..pipeline.doctor import doctor

    findings = doctor(cli_config())
    if json_out:
        echo_json([f.as_dict() for f in findings])
    else:
        table = rich_table(None, ["", "check", "finding"])
        for f in findings:
            table.add_row("ok" if f.ok else "FAIL", f.check,
                          f.detail + ("" if f.ok else f" -> {f.fix}"))
        print_table(table)
    if not all(f.ok for f in findings):
        raise typer.Exit(1)
