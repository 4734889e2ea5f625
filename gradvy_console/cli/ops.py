"""Verbs that watch and operate: status, tasks, retry, schedule, trigger, monitor, alerts, ack."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ..errors import GradvyError
from .common import activate, cli_config, echo_json, engine, logged, run_app, store_only


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
    config = cli_config()
    store = store_only(config)
    runs = store.task_runs(limit=limit, failed_only=failed, queue=queue)
    if json_out:
        echo_json(runs)
        return
    if not runs:
        typer.echo("No task runs recorded" + (" that failed." if failed else "."))
        return
    for r in runs:
        when = time.strftime("%H:%M:%S", time.gmtime(r["ended_ms"] / 1000))
        took = f"{r['duration_s'] * 1000:.0f} ms" if r.get("duration_s") is not None else "-"
        line = (f"{when} {r['task_id'][:8]} {r['queue']:<11} {r['task']:<28} "
                f"{r['status']:<9} {took:>8}")
        if r.get("error"):
            line += f"  {r['error']}"
        typer.echo(line)


@run_app.command("retry")
@logged("retry_task")
def retry(task_id: Annotated[str, typer.Argument(help="A failed run's task id "
                                                       "(from 'gradvy run tasks --failed').")]
          ) -> None:
    """Re-enqueue a failed task with its original arguments."""
    from ..pipeline import retry_task

    config = cli_config()
    store = store_only(config)
    name, new_id = retry_task(store, task_id)
    typer.echo(f"Re-enqueued {name} as task {new_id}.")


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
    for job in jobs:
        last = (time.strftime("%m-%d %H:%M:%S", time.gmtime(job["last_run_ms"] / 1000))
                if job["last_run_ms"] else "never")
        nxt = (time.strftime("%m-%d %H:%M", time.gmtime(job["next_run_ms"] / 1000))
               if job["next_run_ms"] else "disabled")
        typer.echo(f"{job['job']:<28} {job['cron'] or '-':<13} {job['queue']:<11} "
                   f"last {last} ({job['last_outcome'] or '-'})  next {nxt}")


@run_app.command("trigger")
@logged("trigger_job")
def trigger(job: Annotated[str, typer.Argument(help="A job from 'gradvy run schedule'.")]
            ) -> None:
    """Run a periodic job now (enqueued on its queue)."""
    from ..config import JOBS
    from ..queues import registered_tasks

    config = cli_config()
    activate(config)
    from .. import tasks  # noqa: F401 - registers the jobs

    if job not in JOBS:
        raise GradvyError(f"Unknown job '{job}'; jobs are {', '.join(JOBS)}.", exit_code=2)
    handle = registered_tasks()[job].apply_async()
    typer.echo(f"Triggered {job} on queue {handle.queue} (task {handle.id}).")


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
    for a in found:
        when = time.strftime("%m-%d %H:%M:%S", time.gmtime(a["raised_ms"] / 1000))
        state = ("cleared " + time.strftime("%H:%M:%S", time.gmtime(a["cleared_ms"] / 1000))
                 if a.get("cleared_ms") else "ACTIVE")
        ack = " (acknowledged)" if a.get("acknowledged_ms") else ""
        typer.echo(f"{a['alert_id']} {when} {a['severity']:<8} {state:<16} {a['message']}{ack}")


@run_app.command("ack")
@logged("ack_alert")
def ack(alert_id: Annotated[str, typer.Argument(help="An alert id (or its start).")]) -> None:
    """Acknowledge an alert."""
    from ..monitoring import acknowledge

    config = cli_config()
    store = store_only(config)
    alert = acknowledge(store, alert_id)
    if alert is None:
        raise GradvyError(f"No alert {alert_id}.", exit_code=1)
    typer.echo(f"Acknowledged {alert['alert_id']}: {alert['message']}")


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
        for f in findings:
            typer.echo(f"{'ok  ' if f.ok else 'FAIL'}  {f.check}: {f.detail}"
                       + ("" if f.ok else f"\n      -> {f.fix}"))
    if not all(f.ok for f in findings):
        raise typer.Exit(1)
