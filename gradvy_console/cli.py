"""`gradvy`: the headless front end (Typer). It formats and dispatches; the verbs live in
`pipeline`. `gradvy run VERB` for operator actions, `gradvy worker QUEUE` for a consumer."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer

from .config import Config, load_config
from .errors import GradvyError, lost_backend

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Gradvy analytics pipeline: workers, processing and operator verbs.")
run_app = typer.Typer(no_args_is_help=True, help="Operator verbs, headless (for scripts, cron).")
app.add_typer(run_app, name="run")

_state: dict[str, Any] = {"config_path": None}


@app.callback()
def _root(config: Annotated[str | None, typer.Option(
        "--config", help="Config file (default: $GRADVY_CONFIG, then ./config.toml).")] = None
          ) -> None:
    _state["config_path"] = config


def _config() -> Config:
    return load_config(_state["config_path"])


def _activate(config: Config) -> None:
    """Make `config` the process's configuration; backends open when first used."""
    from . import runtime

    runtime.activate(config)


def _engine(config: Config) -> tuple[Any, Any, Any]:
    from . import runtime

    _activate(config)
    return runtime.store(), runtime.live(), runtime.ingestor()


def _store(config: Config) -> Any:
    """The document store alone, for verbs that touch nothing else (no live-state
    connection is opened for them)."""
    from . import runtime

    _activate(config)
    return runtime.store()


def _echo_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
                     .decode() + "\n")


@contextmanager
def _progress(label: str, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a `progress(done, total)` callback."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task_id = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total or None)

        yield update


@run_app.command("simulate-data")
def simulate_data(
    simulate_count: Annotated[int, typer.Option("--simulate-count", help="Events to make.")] = 10,
    users: Annotated[int | None, typer.Option(help="Simulated users.")] = None,
    days: Annotated[int | None, typer.Option(help="Days of history.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and end, same data.")] = 0,
    end: Annotated[str | None, typer.Option(
        help="Last moment simulated, ISO 8601 (default: now, to the minute).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Simulate learners and events; the events wait in the pending inbox."""
    from .analytics.events import parse_timestamp_ms
    from .pipeline import simulate_data as run_simulation

    config = _config()
    store = _store(config)
    end_ms = None
    if end is not None:
        end_ms = parse_timestamp_ms(end)
        if end_ms is None:
            raise GradvyError(f"--end {end!r} is not an ISO 8601 time.", exit_code=2)
    with _progress("simulating", not json_out) as progress:
        report = run_simulation(config, store, simulate_count,
                                users or config.simulator.users, days or config.simulator.days,
                                seed, end_ms, progress)
    if json_out:
        _echo_json(report.__dict__)
        return
    faults = ", ".join(f"{k} {v}" for k, v in report.faults.items() if v) or "none"
    typer.echo(f"Simulated {report.events} events for {report.users} users over "
               f"{days or config.simulator.days} days (run {report.run_id}); "
               f"{report.courses} courses. Planted faults: {faults}; PII in "
               f"{report.pii_planted} searches. Pending: run 'gradvy run process-events'.")


@run_app.command("process-events")
def process_events(
    batch_size: Annotated[int, typer.Option("--batch-size", help="Events per batch.")] = 100,
    in_process: Annotated[bool, typer.Option(
        "--in-process", help="Do not use the queue even if a consumer is running.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Process every pending event (through the realtime queue when a consumer runs)."""
    from .pipeline import live_consumers, process_pending

    if batch_size < 1:
        raise GradvyError("--batch-size must be at least 1.", exit_code=2)
    config = _config()
    store, live, ingestor = _engine(config)
    use_queue = False if in_process else bool(live_consumers(live, "realtime"))
    if not json_out:
        typer.echo("A realtime consumer is running: sending batches through the queue."
                   if use_queue else "No realtime consumer is running: processing in-process.",
                   err=True)
    with _progress("processing", not json_out) as progress:
        report = process_pending(config, store, live, ingestor, batch_size, progress, use_queue)
    r = report.result
    rate = (r.total / report.seconds) if report.seconds > 0 else 0.0
    if json_out:
        _echo_json({"mode": report.mode, "batches": report.batches,
                    "seconds": round(report.seconds, 3), "events_per_s": round(rate, 1),
                    **r.as_dict()})
        return
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.reasons.items())) or "none"
    typer.echo(f"Processed {r.processed}, duplicates {r.duplicates}, no consent {r.no_consent}, "
               f"dead-lettered {r.dead_lettered} ({reasons}) in {report.seconds:.2f} s "
               f"({rate:,.0f} events/s, {report.mode}).")


@run_app.command("ingest")
def ingest(
    source: Annotated[str, typer.Argument(help="NDJSON or JSON-array file, or '-' for stdin.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ingest events from a file directly; prints accepted / duplicate / rejected."""
    from .pipeline import ingest_source

    config = _config()
    store, _live, ingestor = _engine(config)
    with _progress("ingesting", not json_out) as progress:
        result = ingest_source(store, ingestor, source, progress=progress)
    if json_out:
        _echo_json(result.as_dict())
        return
    typer.echo(f"accepted {result.processed}, duplicate {result.duplicates}, "
               f"no consent {result.no_consent}, rejected {result.dead_lettered}")
    for reason, n in sorted(result.reasons.items()):
        typer.echo(f"  rejected {reason}: {n}")


@run_app.command("consent")
def consent(
    user_id: Annotated[str, typer.Argument(help="The user.")],
    grant: Annotated[str, typer.Option(help="Purposes to grant, comma-separated.")] = "",
    revoke: Annotated[str, typer.Option(help="Purposes to revoke, comma-separated.")] = "",
    method: Annotated[str, typer.Option(help="How consent was given (form, api, cli).")] = "cli",
    version: Annotated[str, typer.Option(help="Version of the consent text.")] = "1",
    legal_basis: Annotated[str, typer.Option("--legal-basis")] = "consent",
) -> None:
    """Record consent changes for a user (appended to the consent history)."""
    from .pipeline import change_consent

    config = _config()
    store = _store(config)
    split = [p.strip() for p in grant.split(",") if p.strip()]
    revoked = [p.strip() for p in revoke.split(",") if p.strip()]
    if not split and not revoked:
        history = store.consent_history(user_id)
        if not history:
            typer.echo(f"{user_id}: no consent recorded (processing fails closed).")
            return
        for entry in history:
            typer.echo(f"{entry['at_ms']} {entry['purpose']}: "
                       f"{'granted' if entry['granted'] else 'revoked'} via {entry['method']} "
                       f"(v{entry['version']}, {entry['legal_basis']}, by {entry['actor']})")
        return
    granted = change_consent(config, store, user_id, split, revoked, method, version,
                             legal_basis)
    typer.echo(f"{user_id}: granted {', '.join(sorted(granted)) or 'nothing'}.")


@run_app.command("status")
def status(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Pipeline status: events, users, queues, consumers, backends."""
    from .pipeline import status as build_status

    config = _config()
    store, live, _ing = _engine(config)
    data = build_status(config, store, live)
    if json_out:
        _echo_json(data)
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
    config = _config()
    store = _store(config)
    runs = store.task_runs(limit=limit, failed_only=failed, queue=queue)
    if json_out:
        _echo_json(runs)
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
def retry(task_id: Annotated[str, typer.Argument(help="A failed run's task id "
                                                       "(from 'gradvy run tasks --failed').")]
          ) -> None:
    """Re-enqueue a failed task with its original arguments."""
    from .pipeline import retry_task

    config = _config()
    store = _store(config)
    name, new_id = retry_task(store, task_id)
    typer.echo(f"Re-enqueued {name} as task {new_id}.")


@run_app.command("schedule")
def schedule_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """Periodic jobs: crontab, queue, last run and outcome, next run (UTC)."""
    from .pipeline import schedule_table

    config = _config()
    store = _store(config)
    jobs = schedule_table(config, store)
    if json_out:
        _echo_json(jobs)
        return
    for job in jobs:
        last = (time.strftime("%m-%d %H:%M:%S", time.gmtime(job["last_run_ms"] / 1000))
                if job["last_run_ms"] else "never")
        nxt = (time.strftime("%m-%d %H:%M", time.gmtime(job["next_run_ms"] / 1000))
               if job["next_run_ms"] else "disabled")
        typer.echo(f"{job['job']:<28} {job['cron'] or '-':<13} {job['queue']:<11} "
                   f"last {last} ({job['last_outcome'] or '-'})  next {nxt}")


@run_app.command("trigger")
def trigger(job: Annotated[str, typer.Argument(help="A job from 'gradvy run schedule'.")]
            ) -> None:
    """Run a periodic job now (enqueued on its queue)."""
    from .config import JOBS
    from .queues import registered_tasks

    config = _config()
    _activate(config)
    from . import tasks  # noqa: F401 - registers the jobs

    if job not in JOBS:
        raise GradvyError(f"Unknown job '{job}'; jobs are {', '.join(JOBS)}.", exit_code=2)
    handle = registered_tasks()[job].apply_async()
    typer.echo(f"Triggered {job} on queue {handle.queue} (task {handle.id}).")


@run_app.command("monitor")
def monitor(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
            ) -> None:
    """Measure the system now (CPU, memory, disk, load, consumers) and update alerts."""
    from .monitoring import HISTORY_5M, tick
    from .pipeline import current_queue_metrics

    config = _config()
    store, live, _ing = _engine(config)
    now = int(time.time() * 1000)
    snap = tick(config, store, live, HISTORY_5M, current_queue_metrics(config, store, live, now),
                now)
    if json_out:
        _echo_json(snap)
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
    config = _config()
    store = _store(config)
    found = store.alerts(active_only=not all_, limit=200)
    if json_out:
        _echo_json(found)
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
def ack(alert_id: Annotated[str, typer.Argument(help="An alert id (or its start).")]) -> None:
    """Acknowledge an alert."""
    from .monitoring import acknowledge

    config = _config()
    store = _store(config)
    alert = acknowledge(store, alert_id)
    if alert is None:
        raise GradvyError(f"No alert {alert_id}.", exit_code=1)
    typer.echo(f"Acknowledged {alert['alert_id']}: {alert['message']}")


@run_app.command("test")
def self_test(wait: Annotated[float, typer.Option(help="Seconds to wait for a worker.")] = 20.0
              ) -> None:
    """End-to-end self-test through a real queue, store and live state."""
    from .pipeline import self_test as run_checks

    config = _config()
    store, live, ingestor = _engine(config)
    checks = run_checks(config, store, live, ingestor, wait_s=wait)
    for check in checks:
        typer.echo(f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@run_app.command("start")
def start(
    queue: Annotated[str | None, typer.Argument(
        help="Start only this (stopped) queue's consumer on the running pool.")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Run the pool in the background.")
                      ] = False,
) -> None:
    """Start the worker pool: one supervised consumer per queue, until SIGINT/SIGTERM."""
    import logging
    import os

    from .supervisor import Supervisor, running_pid, send_command, start_detached

    config = _config()
    if queue is not None:
        _activate(config)
        reply = send_command(config, {"cmd": "start", "queue": queue})
        typer.echo(f"{queue}: running (pid {reply['consumer']['pid']}).")
        return
    pid = running_pid(config)
    if pid is not None:
        raise GradvyError(f"already running (pid {pid})", exit_code=1)
    if detach:
        pid = start_detached(config, _state["config_path"])
        typer.echo(f"Worker pool started in the background (pid {pid}); log: "
                   f"{config.data_dir / 'supervisor.log'}.")
        return
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from . import runtime

    runtime.activate(config)
    runtime.live().ping()
    supervisor = Supervisor(config, _state["config_path"])
    supervisor.acquire()
    try:
        typer.echo(f"Worker pool running (pid {os.getpid()}): "
                   f"{', '.join(supervisor.consumers)}. Stop with ^C or 'gradvy run stop'.",
                   err=True)
        supervisor.run()
    finally:
        supervisor.release()


@run_app.command("stop")
def stop(
    queue: Annotated[str | None, typer.Argument(
        help="Stop only this queue's consumer (the pool keeps running).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 120.0,
) -> None:
    """Stop the running pool gracefully; returns when every process has exited."""
    from .supervisor import send_command, stop_running

    config = _config()
    if queue is not None:
        _activate(config)
        send_command(config, {"cmd": "stop", "queue": queue}, timeout)
        typer.echo(f"{queue}: stopped (start it again: gradvy run start {queue}).")
        return
    pid = stop_running(config, timeout)
    typer.echo(f"Worker pool (pid {pid}) stopped.")


@run_app.command("scale")
def scale(queue: Annotated[str, typer.Argument()],
          workers: Annotated[int, typer.Argument(help="Workers for the queue's consumer.")]
          ) -> None:
    """Change a running queue consumer's worker count (it restarts gracefully)."""
    from .supervisor import send_command

    if workers < 1:
        raise GradvyError("N must be at least 1.", exit_code=2)
    config = _config()
    _activate(config)
    reply = send_command(config, {"cmd": "scale", "queue": queue, "workers": workers})
    c = reply["consumer"]
    typer.echo(f"{queue}: {c['workers']} {c['worker_type']} workers (pid {c['pid']}).")


@run_app.command("restart")
def restart(queue: Annotated[str, typer.Argument()]) -> None:
    """Restart one queue's consumer on the running pool."""
    from .supervisor import send_command

    config = _config()
    _activate(config)
    reply = send_command(config, {"cmd": "restart", "queue": queue})
    typer.echo(f"{queue}: restarted (pid {reply['consumer']['pid']}).")


# --- insights ------------------------------------------------------------------------------


@run_app.command("analyze-users")
def analyze_users_cmd(
    user_id: Annotated[str | None, typer.Option("--user-id", help="One user (default: users "
                                                "active in the last insights.active_days).")
                       ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every user, however long ago "
                                                          "active.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Behaviour analysis (learning patterns, engagement, risk, personalisation)."""
    from .insights import analyze_users

    config = _config()
    store, live, _ing = _engine(config)
    with _progress("analysing users", not json_out) as progress:
        summary = analyze_users(config, store, live, user_id, progress, all_users)
    if json_out:
        latest = live.get_json(f"analysis:{user_id}", summary["at_ms"]) if user_id else None
        _echo_json({**summary, "analysis": latest} if user_id else summary)
        return
    if user_id:
        a = live.get_json(f"analysis:{user_id}", summary["at_ms"]) or {}
        lp, en, rk, pe = (a.get("learning_patterns", {}), a.get("engagement", {}),
                          a.get("risk", {}), a.get("personalisation", {}))
        prefs = ", ".join(f"{p['category']} {p['share']:.0%}" for p in
                          lp.get("content_preferences", []))
        typer.echo(f"{user_id}: engagement {en.get('current')} ({en.get('trend_direction')}, "
                   f"trend {en.get('trend')}), consistency {lp.get('consistency')}, velocity "
                   f"{lp.get('velocity')}, peak hours {lp.get('peak_hours')}, prefers {prefs}")
        factors = "; ".join(f"{f['label']} = {f['value']}" for f in rk.get("factors", []))
        why = f": {factors}" if factors else ""
        typer.echo(f"  risk {rk.get('score')} ({rk.get('source')}){why}"
                   f"{'  -> intervention' if rk.get('intervention') else ''}; difficulty "
                   f"{pe.get('difficulty')}, content {pe.get('top_content_types')}")
        return
    typer.echo(f"Analysed {summary['analysed']} users (risk from the {summary['risk_source']}).")


@run_app.command("check-anomalies")
def check_anomalies_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run the anomaly rules and the IsolationForest now; record and act on findings."""
    from .insights import process_anomalies

    config = _config()
    store, live, _ing = _engine(config)
    summary = process_anomalies(config, store, live)
    if json_out:
        _echo_json(summary)
        return
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary["open_by_kind"].items())) or "none"
    typer.echo(f"Open anomalies: {kinds}; bot-like users excluded from training: "
               f"{summary['bot_like_users']}.")


@run_app.command("anomalies")
def anomalies_cmd(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recorded anomalies: kind, severity, evidence, status and the action taken."""
    from .insights import list_anomalies

    if status not in (None, "open", "acknowledged", "resolved"):
        raise GradvyError("--status must be open, acknowledged or resolved.", exit_code=2)
    config = _config()
    store = _store(config)
    found = list_anomalies(store, status, user_id)
    if json_out:
        _echo_json(found)
        return
    if not found:
        typer.echo("No anomalies recorded" + (f" with status {status}." if status else "."))
    for a in found:
        evidence = ", ".join(f"{k}={v}" for k, v in a["evidence"].items())
        action = a["action"]["type"]
        if action == "remedial_content":
            weak = ", ".join(w["category"] for w in a["action"]["weak_areas"]) or "-"
            action += f" (weak: {weak}; {', '.join(a['action']['courses'][:3])})"
        typer.echo(f"{a['_id']:<42} {a['severity']:<6} {a['status']:<12} "
                   f"{evidence}  -> {action}")


@run_app.command("anomaly-ack")
def anomaly_ack(anomaly_id: Annotated[str, typer.Argument(help="USER:KIND")]) -> None:
    """Acknowledge an open anomaly."""
    from .insights import acknowledge_anomaly

    config = _config()
    store = _store(config)
    a = acknowledge_anomaly(store, anomaly_id)
    typer.echo(f"{a['_id']}: {a['status']}.")


@run_app.command("update-segments")
def update_segments_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Rule segments and behavioural clusters; changes are kept as history."""
    from .insights import update_segments

    config = _config()
    store = _store(config)
    run = update_segments(config, store)
    if json_out:
        _echo_json(run)
        return
    sizes = ", ".join(f"{k} {v}" for k, v in sorted(run["rule_sizes"].items()))
    typer.echo(f"Segmented {run['users']} users ({run['changes']} changes): {sizes}.")
    if run["clusters"]:
        c = run["clusters"]
        typer.echo(f"Clusters: k={c['k']} (silhouette {c['silhouette']}): "
                   + "; ".join(f"{d} ({n})" for d, n in c["sizes"].items()))


@run_app.command("update-models")
def update_models_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Train, evaluate and save new versions of the recommender and the dropout model."""
    from .insights import update_models

    config = _config()
    store = _store(config)
    out = update_models(config, store)
    if json_out:
        _echo_json(out)
        return
    r = out["recommender"]
    if r["version"] is None:
        typer.echo(f"recommender: not trained ({r['reason']})")
    else:
        e = r["evaluation"]
        typer.echo(f"recommender v{r['version']}: NDCG@10 {e['model']['ndcg']} (popular "
                   f"{e['popular']['ndcg']}) on {e['users']} users of a time split")
    d = out["dropout"]
    typer.echo(f"dropout model: v{d['version']}" if d["version"] else
               f"dropout model: not trained ({d['reason']})")


@run_app.command("recommend")
def recommend_cmd(
    user_id: Annotated[str, typer.Option("--user-id", help="The learner.")],
    limit: Annotated[int, typer.Option(help="How many courses.")] = 10,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Courses for one user, each with score, source and reason."""
    from .insights import recommend_for

    if limit < 1:
        raise GradvyError("--limit must be at least 1.", exit_code=2)
    config = _config()
    store, live, _ing = _engine(config)
    result = recommend_for(config, store, live, user_id, limit)
    if json_out:
        _echo_json(result)
        return
    kind = "personalised" if result["personalised"] else "popular (no history or no consent)"
    typer.echo(f"{user_id}: {kind}, model v{result['model_version']}")
    for i, item in enumerate(result["items"], 1):
        typer.echo(f"{i:>2}. {item['course_id']}  {item['score']:.3f}  {item['source']:<13} "
                   f"{item['reason']}")


@run_app.command("evaluate")
def evaluate_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Score every insight against the simulator's ground truth (held-out split)."""
    from .evaluation import evaluate

    config = _config()
    store = _store(config)
    with _progress("evaluating", not json_out) as progress:
        r = evaluate(config, store, progress)
    if json_out:
        _echo_json(r)
        return
    typer.echo(format_evaluation(r))


def format_evaluation(r: dict[str, Any]) -> str:
    rec, an, seg, dr = r["recommendations"], r["anomalies"], r["segments"], r["dropout"]
    ok = {True: "met", False: "NOT met"}
    lines = [
        f"Evaluation on {r['users']} simulated users, {r['events']:,} events (run {r['sim_run']})",
        f"recommendations  P@10 {rec['model']['precision']}  R@10 {rec['model']['recall']}  "
        f"NDCG@10 {rec['model']['ndcg']}  | popular: P@10 {rec['popular']['precision']}  "
        f"R@10 {rec['popular']['recall']}  NDCG@10 {rec['popular']['ndcg']}  "
        f"({rec['ndcg_vs_popular']}x; target 2x: {ok[r['met']['ndcg_vs_popular']]})",
        f"anomalies        precision {an['precision']}  recall {an['recall']}  AUC {an['auc']}  "
        f"({an['flagged']} flagged, {an['planted']} planted; target recall 0.9 at precision "
        f"0.8: {ok[r['met']['anomalies']]})",
        f"segments         k {seg.get('k')}  silhouette {seg.get('silhouette')}  ARI vs "
        f"personas {seg.get('adjusted_rand_index')}",
        f"dropout          AUC {dr['auc']}  Brier {dr['brier']}  rule baseline AUC "
        f"{dr['rule_baseline_auc']}  ({dr['test_users']} held-out users; target AUC 0.85 and "
        f"above the baseline: {ok[r['met']['dropout']]})",
    ]
    return "\n".join(lines)


@app.command("worker")
def worker(
    queue: Annotated[str, typer.Argument(help="realtime, analytics, ml, reports, maintenance,"
                                              " compliance or monitoring.")],
    workers: Annotated[int | None, typer.Option("--workers", "-w")] = None,
    worker_type: Annotated[str | None, typer.Option(
        "--worker-type", "-k", help="thread or process")] = None,
    no_periodic: Annotated[bool, typer.Option(
        "--no-periodic", help="Do not enqueue periodic jobs (a second consumer on a queue).")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every task.")] = False,
) -> None:
    """Run one queue's consumer in the foreground; SIGINT or SIGTERM stop it gracefully."""
    from .worker import run_worker

    run_worker(_config(), queue, workers, worker_type, periodic=not no_periodic,
               verbose=verbose)


def main() -> None:
    """Entry point: every user mistake becomes one sentence and an exit code."""
    try:
        app()
    except GradvyError as exc:
        typer.echo(f"gradvy: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        sentence = lost_backend(exc)
        if sentence is None:
            raise
        typer.echo(f"gradvy: {sentence}", err=True)
        sys.exit(2)
