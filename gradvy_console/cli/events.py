"""Verbs that move events: simulate-data, process-events, ingest, consent, test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import GradvyError
from .common import (
    at_least,
    cli_config,
    echo_json,
    engine,
    human_time,
    logged,
    print_table,
    progress_bar,
    rich_table,
    run_app,
    store_only,
)


@run_app.command("simulate-data")
@logged("simulate")
def simulate_data(
    simulate_count: Annotated[int | None, typer.Option(
        "--simulate-count", help="Events to make (default: the population's realistic "
        "activity, 1.25 events per learner per day).")] = None,
    users: Annotated[int | None, typer.Option(help="Simulated learners (default: [simulator] "
                                                   "users).")] = None,
    days: Annotated[int | None, typer.Option(help="Days of history (default: [simulator] "
                                                  "days).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and end, same data.")] = 0,
    end: Annotated[str | None, typer.Option(
        help="Last moment simulated, ISO 8601 (default: now, to the minute).")] = None,
    quality_faults: Annotated[bool, typer.Option(
        "--quality-faults", help="Also plant data-quality faults at known counts (a silent "
        "type, a burst, a new property, a type change, late events, out-of-range scores; "
        "`quality-check --against-truth` finds them).")] = False,
    merge: Annotated[bool, typer.Option(
        "--merge", help="The same learners as the first run (sim-u...), not new ones.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Simulate learners and events; the events wait in the pending inbox. Each run's
    learners are new ones (sim-u..., sim2-u..., ...) unless --merge."""
    from ..analytics.events import parse_timestamp_ms
    from ..pipeline import simulate_data as run_simulation

    config = cli_config()
    store = store_only(config)
    end_ms = None
    if end is not None:
        end_ms = parse_timestamp_ms(end)
        if end_ms is None:
            raise GradvyError(f"--end {end!r} is not an ISO 8601 time.", exit_code=2)
    with progress_bar("simulating", not json_out) as progress:
        report = run_simulation(config, store,
                                simulate_count if simulate_count is not None
                                else config.simulator.count or None,
                                config.simulator.users if users is None else users,
                                config.simulator.days if days is None else days,
                                seed, end_ms, progress, quality_faults=quality_faults,
                                merge=merge)
    if json_out:
        echo_json(report.__dict__)
        return
    faults = ", ".join(f"{k} {v}" for k, v in report.faults.items() if v) or "none"
    typer.echo(f"Simulated {report.events:,} events for {report.users:,} learners "
               f"({report.id_prefix}-u...) over {days or config.simulator.days} days (run "
               f"{report.run_id}); "
               f"{report.courses} courses. Planted faults: {faults}; PII in "
               f"{report.pii_planted} searches. Pending: run 'gradvy run process-events'.")


@run_app.command("process-events")
@logged("process")
def process_events(
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", help="Events per batch (default: [ingest] batch_size; 0 there: "
        "chosen for the work, 10,000 in-process).")] = None,
    in_process: Annotated[bool, typer.Option(
        "--in-process", help="Do not use the queue even if a consumer is running.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Process every pending event (through the realtime queue when a consumer runs)."""
    from ..pipeline import live_consumers, process_outcome, process_pending

    if batch_size is not None and batch_size < 1:
        raise GradvyError("--batch-size must be at least 1.", exit_code=2)
    config = cli_config()
    if batch_size is not None:
        at_least("--batch-size", batch_size)
    batch_size = batch_size or config.ingest.batch_size or None
    store, live, ingestor = engine(config)
    use_queue = False if in_process else bool(live_consumers(live, "realtime"))
    if not json_out:
        typer.echo("A realtime consumer is running: sending batches through the queue."
                   if use_queue else "No realtime consumer is running: processing in-process.",
                   err=True)
    with progress_bar("processing", not json_out) as progress:
        report = process_pending(config, store, live, ingestor, batch_size, progress, use_queue)
    r = report.result
    rate = (r.total / report.seconds) if report.seconds > 0 else 0.0
    if json_out:
        echo_json({"mode": report.mode, "batches": report.batches,
                    "batch_size": report.batch_size, "seconds": round(report.seconds, 3),
                    "events_per_s": round(rate, 1), **r.as_dict(),
                    "by_the_pool": report.by_the_pool})
        return
    for line in process_outcome(store, report):
        typer.echo(line)


@run_app.command("ingest")
@logged("ingest")
def ingest(
    source: Annotated[str, typer.Argument(help="NDJSON or JSON-array file, or '-' for stdin.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ingest events from a file directly; prints accepted / duplicate / rejected."""
    from ..pipeline import ingest_source

    config = cli_config()
    store, _live, ingestor = engine(config)
    with progress_bar("ingesting", not json_out) as progress:
        result = ingest_source(store, ingestor, source, progress=progress)
    if json_out:
        echo_json(result.as_dict())
        return
    suppressed = f", suppressed {result.suppressed:,}" if result.suppressed else ""
    typer.echo(f"accepted {result.processed:,}, duplicate {result.duplicates:,}, "
               f"no consent {result.no_consent:,}, rejected {result.dead_lettered:,}{suppressed}")
    for reason, n in sorted(result.reasons.items()):
        typer.echo(f"  rejected {reason}: {n:,}")


@run_app.command("consent")
@logged("consent")
def consent(
    user_id: Annotated[str | None, typer.Argument(help="The user.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Import a CSV or NDJSON file of "
                                              "consent rows (columns: user_id, granted, "
                                              "revoked, method, notice_version, legal_basis, "
                                              "time).")] = None,
    grant: Annotated[str, typer.Option(help="Purposes to grant, comma-separated.")] = "",
    revoke: Annotated[str, typer.Option(help="Purposes to revoke, comma-separated.")] = "",
    method: Annotated[str, typer.Option(help="How consent was given (form, api, cli).")] = "cli",
    version: Annotated[str, typer.Option(help="Version of the consent text.")] = "1",
    legal_basis: Annotated[str, typer.Option("--legal-basis")] = "consent",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Record consent changes for a user, or import a consent file (appended to the consent
    ledger; importing the same file twice changes nothing)."""
    from ..pipeline import change_consent, import_consent

    config = cli_config()
    store = store_only(config)
    if file is not None:
        if user_id is not None or grant or revoke:
            raise GradvyError("Give either a user with --grant/--revoke, or --file.",
                              exit_code=2)
        result = import_consent(config, store, file)
        if json_out:
            echo_json({"file": str(file), "rows": result.rows, "accepted": result.accepted,
                       "added": result.added,
                       "rejected": [{"line": n, "reason": why} for n, why in result.rejected]})
            return
        typer.echo(f"{file}: {result.rows:,} rows, {result.accepted:,} accepted, "
                   f"{result.added:,} ledger entries added, {len(result.rejected):,} rejected.")
        for line, why in result.rejected[:20]:
            typer.echo(f"  line {line}: {why}")
        if len(result.rejected) > 20:
            typer.echo(f"  ... and {len(result.rejected) - 20:,} more")
        if result.rejected:
            raise typer.Exit(1)
        return
    if user_id is None:
        raise GradvyError("Name a user, or give --file.", exit_code=2)
    split = [p.strip() for p in grant.split(",") if p.strip()]
    revoked = [p.strip() for p in revoke.split(",") if p.strip()]
    if not split and not revoked:
        from ..privacy import stored_user_id

        history = store.consent_history(stored_user_id(config, user_id))
        if json_out:
            echo_json(history)
            return
        if not history:
            typer.echo(f"{user_id}: no consent recorded (processing fails closed).")
            return
        table = rich_table(f"{user_id}: consent history", ["when UTC", "purpose", "change",
                                                           "method", "notice", "basis", "by"])
        for entry in history:
            table.add_row(human_time(entry["at_ms"]), entry["purpose"],
                          "granted" if entry["granted"] else "revoked", entry["method"],
                          f"v{entry['version']}", entry["legal_basis"], entry["actor"])
        print_table(table)
        return
    granted = change_consent(config, store, user_id, split, revoked, method, version,
                             legal_basis)
    if json_out:
        echo_json({"user_id": user_id, "granted": sorted(granted)})
        return
    typer.echo(f"{user_id}: granted {', '.join(sorted(granted)) or 'nothing'}.")


@run_app.command("test")
@logged("self_test")
def self_test(wait: Annotated[float, typer.Option(help="Seconds to wait for a worker.")] = 20.0,
              json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
              ) -> None:
    """End-to-end self-test through a real queue, store and live state."""
    from ..pipeline import self_test as run_checks

    config = cli_config()
    store, live, ingestor = engine(config)
    checks = run_checks(config, store, live, ingestor, wait_s=wait)
    if json_out:
        echo_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        table = rich_table(None, ["", "check", "detail"])
        for check in checks:
            table.add_row("PASS" if check.ok else "FAIL", check.name, check.detail)
        print_table(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
