"""Privacy verbs: forget, unsuppress, erasures, export-user, audit, cleanup (consent files are
imported by `consent --file`, in `events`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..errors import GradvyError
from .common import (
    JSON_OPTION,
    cli_config,
    echo_json,
    engine,
    logged,
    print_table,
    rich_table,
    run_app,
    say,
    store_only,
)


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _removed(removed: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(removed.items())) or "nothing"


@run_app.command("forget")
@logged("forget")
def forget_cmd(
    user_ids: Annotated[list[str] | None, typer.Argument(help="Learners to erase.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file of learner ids, one per "
                                                             "line.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept with the request; ids in it are "
                                             "pseudonymised).")] = "",
    wait: Annotated[float, typer.Option(help="Seconds to wait for the compliance queue.")
                    ] = 3600.0,
    in_process: Annotated[bool, typer.Option("--in-process", help="Run here even if a "
                                             "compliance consumer is running.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Erase learners everywhere (GDPR Art. 17), verify nothing is left, suppress their
    future events."""
    from ..pipeline import forget, read_ids

    ids = list(user_ids or [])
    if file is not None:
        ids += read_ids(file)
    config = cli_config()
    store, live, _ing = engine(config)
    where, results = forget(config, store, live, ids, reason, wait, in_process)
    if json_out:
        echo_json({"ran": where, "requests": results})
    else:
        for r in results:
            line = (f"{r['request_id']}  {r['status']}  subject {r['subject']}: removed "
                    f"{_removed(r['removed'])}")
            if r["status"] == "verified":
                line += f"; verified {_when(r['verified_ms'])}"
            elif r["status"] == "failed":
                line += (f"; failed at step {r['failed_step']}"
                         + (f" (traces: {_removed(r['evidence'])})" if r.get("evidence")
                            else ""))
            typer.echo(line)
            if not r["had_data"] and r["status"] == "verified":
                typer.echo("  No data was held about this learner; the request is recorded "
                           "and their future events are suppressed.")
        typer.echo(f"({'on the compliance queue' if where == 'queue' else 'run in-process'}; "
                   "future events of these learners are suppressed until 'gradvy run "
                   "unsuppress'.)")
    if any(r["status"] == "failed" for r in results):
        raise typer.Exit(1)


@run_app.command("unsuppress")
@logged("unsuppress")
def unsuppress_cmd(user_id: Annotated[str, typer.Argument(help="An erased learner.")],
                   json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Let an erased learner's events in again (recorded on their erasure request)."""
    from ..pipeline import unsuppress_user

    config = cli_config()
    if unsuppress_user(config, store_only(config), user_id):
        say(json_out, f"{user_id}: no longer suppressed; their next events are stored.",
            user_id=user_id)
    else:
        raise GradvyError(f"{user_id} is not suppressed.", exit_code=2)


@run_app.command("erasures")
def erasures_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                 ) -> None:
    """Erasure requests: status, rows removed, when verified (no learner ids: subject keys)."""
    from ..pipeline import erasure_requests

    config = cli_config()
    docs = erasure_requests(store_only(config))
    if json_out:
        echo_json(docs)
        return
    if not docs:
        typer.echo("No erasure requests.")
        return
    table = rich_table(None, ["request", "status", "requested", "verified", "removed"])
    for d in docs:
        step = f" at {d['step']}" if d.get("step") else ""
        table.add_row(d["_id"], f"{d['status']}{step}", _when(d["requested_ms"]),
                      _when(d.get("verified_ms")),
                      f"{sum((d.get('removed') or {}).values()):,} records")
    print_table(table)


@run_app.command("export-user")
@logged("export_user")
def export_user_cmd(
    user_id: Annotated[str, typer.Argument(help="The learner.")],
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: "
                                             "DATA_DIR/exports/).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everything held about a learner as one JSON document (GDPR Art. 15 and 20), readable
    by its owner only."""
    from ..pipeline import export_learner

    config = cli_config()
    store, live, _ing = engine(config)
    report = export_learner(config, store, live, user_id, out)
    if json_out:
        echo_json(report.__dict__)
        return
    if not report.known:
        typer.echo(f"Nothing is held about {user_id}; an empty export was written to "
                   f"{report.path}.")
        return
    typer.echo(f"Wrote {report.path}: {report.events:,} events with the profile, consent "
               "history, live counters and insights (mode 0600).")


@run_app.command("audit")
@logged("run_audit")
def audit_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
              ) -> None:
    """The privacy audit now: every check with pass, warn or fail and its evidence counts."""
    from ..pipeline import audit

    config = cli_config()
    engine(config)
    report = audit()
    if json_out:
        echo_json(report)
    else:
        typer.echo(f"Audit {report['status']} in {report['seconds']:.1f} s.")
        table = rich_table(None, ["", "check", "severity", "finding"])
        for c in report["checks"]:
            table.add_row(c["status"].upper(), c["check"], c["severity"], c["summary"])
        print_table(table)
    if report["status"] == "fail":
        raise typer.Exit(1)


@run_app.command("cleanup")
@logged("cleanup")
def cleanup_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete what is past its [retention], in short batches."""
    from ..pipeline import retention_cleanup

    config = cli_config()
    report = retention_cleanup(config, store_only(config), dry_run)
    if json_out:
        echo_json(report.as_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for c in report.collections:
        oldest = "empty" if c.oldest_days is None else f"oldest {c.oldest_days:,.1f} d"
        n = c.expired if dry_run else c.removed
        typer.echo(f"{c.collection:<18} keep {c.days:>6,.0f} d  {oldest:<18} {verb} {n:,}")
    for folder, n in sorted(report.files_removed.items()):
        typer.echo(f"{folder:<18} {verb} {n:,} files")
    if not dry_run:
        freed = "" if report.bytes_freed is None else f", {report.bytes_freed:,} bytes freed"
        typer.echo(f"Removed {sum(c.removed for c in report.collections):,} records and "
                   f"{report.model_versions_removed} old model versions in {report.seconds:.1f} "
                   f"s{freed}.")
