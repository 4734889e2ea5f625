"""The worker pool: start, stop, scale, restart, and `gradvy worker QUEUE`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import GradvyError
from .common import (
    JSON_OPTION,
    activate,
    app,
    at_least,
    cli_config,
    known_queue,
    logged,
    run_app,
    say,
    state,
)


@run_app.command("start")
@logged("start_pool")
def start(
    queue: Annotated[str | None, typer.Argument(
        help="Start only this (stopped) queue's consumer on the running pool.")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Run the pool in the background.")
                      ] = False,
    json_out: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Start the worker pool: one supervised consumer per queue, until SIGINT/SIGTERM."""
    import logging
    import os

    from ..pool.control import running_pid, send_command, start_detached, wait_for_consumers
    from ..pool.supervisor import Supervisor

    config = cli_config()
    if known_queue(queue) is not None:
        activate(config)
        reply = send_command(config, {"cmd": "start", "queue": queue})
        say(json_out, f"{queue}: running (pid {reply['consumer']['pid']}).",
            consumer=reply["consumer"])
        return
    pid = running_pid(config)
    if pid is not None:
        raise GradvyError(f"already running (pid {pid})", exit_code=1)
    from .. import runtime

    # Every backend answers before anything starts: a pool whose store is down would only
    # crash-loop its consumers (one sentence and exit code 2 instead).
    runtime.activate(config)
    runtime.live().ping()
    runtime.store()
    if detach:
        pid = start_detached(config, state["config_path"])
        up = wait_for_consumers(config, pid)
        say(json_out, f"Worker pool started in the background (pid {pid}, {up} consumers "
            f"up); log: {config.data_dir / 'supervisor.log'}.", pid=pid, consumers_up=up)
        return
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..pool.logs import mask_log_records

    mask_log_records(config.logs.repeat_every_seconds)
    supervisor = Supervisor(config, state["config_path"])
    supervisor.acquire()
    try:
        typer.echo(f"Worker pool running (pid {os.getpid()}): "
                   f"{', '.join(supervisor.consumers)}. Stop with ^C or 'gradvy run stop'.",
                   err=True)
        supervisor.run()
    finally:
        supervisor.release()


@run_app.command("stop")
@logged("stop_pool")
def stop(
    queue: Annotated[str | None, typer.Argument(
        help="Stop only this queue's consumer (the pool keeps running).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 120.0,
    json_out: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Stop the running pool gracefully; returns when every process has exited."""
    from ..pool.control import send_command, stop_running

    config = cli_config()
    if known_queue(queue) is not None:
        activate(config)
        send_command(config, {"cmd": "stop", "queue": queue}, timeout)
        say(json_out, f"{queue}: stopped (start it again: gradvy run start {queue}).",
            queue=queue)
        return
    pid = stop_running(config, timeout)
    say(json_out, f"Worker pool (pid {pid}) stopped.", pid=pid)


@run_app.command("scale")
@logged("scale_queue")
def scale(queue: Annotated[str, typer.Argument()],
          workers: Annotated[int, typer.Argument(help="Workers for the queue's consumer.")],
          json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Change a running queue consumer's worker count (it restarts gracefully)."""
    from ..pool.control import send_command

    known_queue(queue)
    at_least("WORKERS", workers)
    config = cli_config()
    activate(config)
    reply = send_command(config, {"cmd": "scale", "queue": queue, "workers": workers})
    c = reply["consumer"]
    say(json_out, f"{queue}: {c['workers']} {c['worker_type']} workers (pid {c['pid']}).",
        consumer=c)


@run_app.command("restart")
@logged("restart_queue")
def restart(queue: Annotated[str, typer.Argument()],
            json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Restart one queue's consumer on the running pool."""
    from ..pool.control import send_command

    known_queue(queue)
    config = cli_config()
    activate(config)
    reply = send_command(config, {"cmd": "restart", "queue": queue})
    say(json_out, f"{queue}: restarted (pid {reply['consumer']['pid']}).",
        consumer=reply["consumer"])


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
    from ..pool.worker import run_worker

    run_worker(cli_config(), queue, workers, worker_type, periodic=not no_periodic,
               verbose=verbose)
