"""Verbs on a queue and its tasks: pause, resume, purge, waiting, revoke, task (a run's
traceback and arguments) and logs (a consumer's log, followed with --follow)."""

from __future__ import annotations

import sys
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
    human_time,
    known_queue,
    logged,
    print_table,
    rich_table,
    run_app,
    say,
    store_only,
)

QUEUE_ARGUMENT = typer.Argument(help="A queue: realtime, analytics, ml, reports, maintenance, "
                                     "compliance or monitoring.")


@run_app.command("pause")
@logged("pause_queue")
def pause(queue: Annotated[str, QUEUE_ARGUMENT],
          json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Pause a queue on every host: its consumers take nothing; what is enqueued waits."""
    from ..pipeline import set_paused

    activate(cli_config())
    was = set_paused(queue, True)
    say(json_out, f"{queue} was paused already." if was else
        f"Paused {queue}: its consumers take nothing until 'gradvy run resume {queue}'; "
        "what is enqueued meanwhile waits.", queue=queue, paused=True)


@run_app.command("resume")
@logged("resume_queue")
def resume(queue: Annotated[str, QUEUE_ARGUMENT],
           json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Resume a paused queue: its consumers take what waits, in order."""
    from ..pipeline import set_paused

    activate(cli_config())
    was = set_paused(queue, False)
    say(json_out, f"Resumed {queue}." if was else f"{queue} was not paused.", queue=queue,
        paused=False)


@run_app.command("purge")
@logged("purge_queue")
def purge(queue: Annotated[str, QUEUE_ARGUMENT],
          yes: Annotated[bool, typer.Option("--yes", help="Do not ask (scripts).")] = False,
          json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Delete every waiting task of a queue (its scheduled tasks stay); says how many."""
    from ..pipeline import purge_queue

    known_queue(queue)
    activate(cli_config())
    if not yes:
        if not sys.stdin.isatty():
            raise GradvyError("Purging deletes the queue's waiting tasks: give --yes to do it "
                              "without a question.", exit_code=2)
        if not typer.confirm(f"Delete every waiting task of {queue}?"):
            raise GradvyError("Nothing purged.", exit_code=1)
    n = purge_queue(queue)
    also = (" Their events stay in the inbox: the pending job ingests them."
            if queue == "realtime" and n else "")
    say(json_out, f"Purged {n:,} waiting task{'s' if n != 1 else ''} from {queue}.{also}",
        queue=queue, purged=n)


@run_app.command("waiting")
def waiting_cmd(
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many per queue and kind.")] = 50,
    json_out: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Tasks not run yet: waiting (next first) and scheduled (soonest first), with their ids
    for 'gradvy run revoke'."""
    from ..pipeline import paused_queues, waiting

    at_least("--limit", limit)
    known_queue(queue)
    activate(cli_config())
    tasks = waiting(queue, limit)
    paused = paused_queues()
    if json_out:
        echo_json({"paused": paused, "tasks": [
            {"task_id": t.task_id, "task": t.task, "queue": t.queue, "where": t.where,
             "enqueued_ms": t.enqueued_ms, "eta": t.eta, "args": t.args_summary}
            for t in tasks]})
        return
    if paused:
        typer.echo(f"Paused: {', '.join(paused)}.")
    if not tasks:
        typer.echo("Nothing is waiting" + (f" on {queue}." if queue else "."))
        return
    # Ids as 'tasks' shows them: their first 8 characters are what 'revoke' needs.
    table = rich_table(None, ["task id", "queue", "task", "state", "enqueued / due UTC"])
    table.columns[2].no_wrap = True
    for t in tasks:
        when = (t.eta[5:19].replace("T", " ") if t.eta else
                human_time(t.enqueued_ms)[5:] if t.enqueued_ms else "-")
        table.add_row(t.task_id[:8], t.queue, t.task, t.where, when)
    print_table(table)


@run_app.command("revoke")
@logged("revoke_task")
def revoke(task_id: Annotated[str, typer.Argument(help="A waiting or scheduled task's id (or "
                                                       "its start), from 'gradvy run waiting'.")],
           json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Delete one waiting or scheduled task before a consumer takes it."""
    from ..pipeline import revoke_task

    activate(cli_config())
    task = revoke_task(task_id)
    say(json_out, f"Revoked {task.task} {task.task_id} ({task.where} on {task.queue}): it "
        "will not run.", task=task.task, task_id=task.task_id, queue=task.queue,
        where=task.where)


@run_app.command("task")
def task_cmd(task_id: Annotated[str, typer.Argument(help="A run's task id (or its start), "
                                                         "from 'gradvy run tasks'.")],
             json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """One run of the history: status, timings, error, traceback and arguments (failed runs)."""
    from ..pipeline import task_detail

    run = task_detail(store_only(cli_config()), task_id)
    if json_out:
        echo_json(run)
        return
    took = f"{run['duration_s'] * 1000:,.0f} ms" if run.get("duration_s") is not None else "-"
    waited = f"{run['wait_s']:,.3f} s" if run.get("wait_s") is not None else "-"
    typer.echo(f"{run['task']} {run['task_id']} on {run['queue']}: {run['status']}, ended "
               f"{human_time(run.get('ended_ms'))} UTC, took {took}, waited {waited}.")
    typer.echo(f"Arguments: {run.get('args_summary') or '-'}")
    if run.get("args_json"):
        typer.echo(f"Arguments kept for retry (masked): {run['args_json']}")
    if run.get("error"):
        typer.echo(f"Error: {run['error']}")
    if run.get("traceback"):
        typer.echo(run["traceback"].rstrip())


@run_app.command("logs")
def logs(queue: Annotated[str, typer.Argument(help="A queue (its consumer's log on this "
                                                   "host), or 'collector'.")],
         lines: Annotated[int, typer.Option("--lines", "-n", help="How many.")] = 50,
         follow: Annotated[bool, typer.Option("--follow", "-f",
                                              help="Go on printing new lines (Ctrl+C ends).")]
         = False) -> None:
    """A consumer's log on this host: its last lines, and with --follow what it writes next."""
    from ..pipeline import log_since, log_tail

    at_least("--lines", lines)
    config = cli_config()
    offset, tail = log_tail(config, queue, lines)
    for line in tail:
        typer.echo(line)
    while follow:
        offset, new = log_since(config, queue, offset)
        for line in new:
            typer.echo(line)
        if not new:
            time.sleep(0.25)
