"""`gradvy serve` (the HTTP collector), `gradvy run collector-key` (a new write key) and
`gradvy run metrics` (the Prometheus text, for node_exporter's textfile collector)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import GradvyError
from .common import activate, app, cli_config, echo_json, logged, run_app, state


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (\\[collector] host, "
                                                  "default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (\\[collector] port, default 8470).")
                    ] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (\\[collector] workers)."
                                                )] = None,
) -> None:
    """Run the HTTP event collector (POST /v1/events, /v1/consent; /metrics, /healthz,
    /readyz, /openapi.json) until Ctrl-C or SIGTERM."""
    from ..collector import serve

    config = cli_config()
    settings = config.collector
    serve(config, state["config_path"], host or settings.host,
          settings.port if port is None else port,
          settings.workers if workers is None else workers)


@run_app.command("collector-key")
@logged("collector_key")
def collector_key(
    name: Annotated[str, typer.Argument(help="The key's name: it becomes the events' source.")],
    rate: Annotated[float, typer.Option(help="Events per second allowed (0: no limit).")
                    ] = 1000.0,
    origin: Annotated[list[str] | None, typer.Option(
        help="A browser origin allowed to send with it (scheme://host[:port]); repeatable."
    )] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a new write key: prints the key once (give it to the frontend) and the config
    entry to add, which holds only its SHA-256."""
    import re

    from ..collector import key_hash, new_key

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
        raise GradvyError("The name must be 1-32 letters, digits, '-' or '_'.", exit_code=2)
    if rate < 0:
        raise GradvyError("--rate must not be negative.", exit_code=2)
    origins = origin or []
    for value in origins:
        if value != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", value):
            raise GradvyError(f"{value!r} is not an origin (scheme://host[:port], or '*').",
                              exit_code=2)
    key = new_key()
    digest = key_hash(key)
    shown = ", ".join(f'"{o}"' for o in origins)
    entry = (f'[[collector.keys]]\nname = "{name}"\nsha256 = "{digest}"\n'
             f"events_per_second = {rate:g}\norigins = [{shown}]\n")
    if json_out:
        echo_json({"name": name, "key": key, "sha256": digest, "events_per_second": rate,
                   "origins": origins, "config": entry,
                   "environment": f"GRADVY_COLLECTOR_KEY_{name.upper()}"})
        return
    typer.echo(f"Write key for '{name}' (shown once; the collector keeps only its hash):\n\n"
               f"    {key}\n\nAdd to config.toml:\n\n{entry}\nor give the key itself as "
               f"GRADVY_COLLECTOR_KEY_{name.upper()} in the collector's environment.")


@run_app.command("metrics")
def metrics_command(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file (atomically: node_exporter's textfile "
                               "collector reads *.prom files) instead of standard output.")
    ] = None,
) -> None:
    """The pipeline's Prometheus metrics (the figures of `status --json`), in the text
    format."""
    from .. import runtime
    from ..collector import render_pipeline
    from ..pipeline import status

    config = cli_config()
    activate(config)
    body = render_pipeline(status(config, runtime.store(), runtime.live()))
    if output is None:
        sys.stdout.write(body.decode())
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(body)
        os.chmod(tmp, 0o644)   # counts only, no personal data: the exporter must read it
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GradvyError(f"Cannot write {output}: {exc.strerror}.", exit_code=1) from None
    typer.echo(f"Wrote {len(body):,} bytes of metrics to {output}.")
