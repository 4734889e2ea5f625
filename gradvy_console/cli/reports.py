"""Report verbs: `generate-reports` (one report now) and `reports` (the history)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .common import cli_config, echo_json, logged, progress_bar, rich_table, run_app, store_only


@run_app.command("generate-reports")
@logged("generate_report")
def generate_reports_cmd(
    period: Annotated[str, typer.Option(help="day, week or month.")] = "day",
    date: Annotated[str | None, typer.Option(
        "--date", help="A day in the period, YYYY-MM-DD (default: the last complete period in "
        "[reports] timezone: yesterday, last week, last month).")] = None,
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: md, html, csv, "
                                                          "json.")] = "md,html,csv,json",
    out: Annotated[Path | None, typer.Option(help="Directory to write under (default: "
                                                  "DATA_DIR/reports).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate the analytics report of a day, a week or a month: activity, lifecycle,
    retention cohorts, funnels, quizzes, searches, pipeline health; written as files and
    kept in the history."""
    from ..reports import generate

    config = cli_config()
    store = store_only(config)
    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    with progress_bar(f"{period} report", not json_out) as progress:
        report = generate(config, store, period, date, chosen, out, progress)
    if json_out:
        echo_json({"period": report.period, "start": report.start.isoformat(),
                   "end": report.end.isoformat(), "files": report.files,
                   "seconds": report.seconds, "headline": report.headline()})
        return
    head = report.headline()
    typer.echo(f"{report.period.capitalize()} report {report.start} to {report.end}: "
               f"{head['active_learners']:,} active learners, {head['events']:,} events"
               f"{' (no data)' if head['no_data'] else ''}; {len(report.files)} files in "
               f"{Path(report.files[0]).parent if report.files else '-'} "
               f"({report.seconds:.1f} s).")


@run_app.command("reports")
def reports_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                ) -> None:
    """The reports generated so far, newest first, with their headline figures."""
    from ..reports import report_history

    config = cli_config()
    history = report_history(store_only(config))
    if json_out:
        echo_json(history)
        return
    if not history:
        typer.echo("No report yet: run 'gradvy run generate-reports'.")
        return
    table = rich_table(None, ["period", "from", "to", "generated", "active", "events", "where"])
    for doc in history:
        head = doc.get("headline", {})
        made = datetime.fromtimestamp(doc["generated_ms"] / 1000, tz=UTC)
        table.add_row(doc["period"], doc["start"], doc["end"], made.strftime("%Y-%m-%d %H:%M"),
                      f"{head.get('active_learners', 0):,}", f"{head.get('events', 0):,}",
                      str(Path(doc["files"][0]).parent) if doc.get("files") else "-")
    Console().print(table)
