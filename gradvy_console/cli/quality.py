"""The data-quality verb: `quality-check` (the assessment now, or planted against found)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from .common import cli_config, echo_json, engine, logged, rich_table, run_app


def _show(report: dict[str, Any]) -> None:
    console = Console()
    at = datetime.fromtimestamp(report["at_ms"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    if report["no_data"]:
        console.print(f"Data quality at {at}: no data yet (nothing has been received).")
        return
    checks = rich_table(f"Data quality at {at}: score {report['score']}/100, {report['status']}",
                    ["state", "check", "finding"])
    for c in report["checks"]:
        style = {"fail": "bold red", "warn": "yellow"}.get(c["status"], "green")
        checks.add_row(f"[{style}]{c['status']}[/]", c["check"], c["summary"])
    console.print(checks)
    types = rich_table("Event types (the last day)", ["type", "seen", "stored", "dup", "no consent",
                                                  "dead", "received", "newest event"])
    for name, t in sorted(report["types"].items()):
        day = t.get("last_day", {})
        types.add_row(name, *(f"{day.get(k, 0):,}" for k in ("seen", "stored", "duplicates",
                                                              "no_consent", "dead_lettered")),
                      _age(t["since_receipt_s"]) if "since_receipt_s" in t else "-",
                      _age(t["since_event_s"]) if "since_event_s" in t else "-")
    console.print(types)
    windows = rich_table("Counts", ["", *report["windows"]])
    names = sorted({k for w in report["windows"].values() for k in w
                    if not k.startswith(("stored_type:", "duplicate_type:", "no_consent_type:",
                                         "dead_type:"))})
    for name in names:
        windows.add_row(name, *(f"{w.get(name, 0):,}" for w in report["windows"].values()))
    console.print(windows)
    console.print(f"{report['scanned']:,} stored events read in all; this run took "
                  f"{report['seconds']:.1f} s.")


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172_800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} days ago"


@run_app.command("quality-check")
@logged("assess_quality")
def quality_check_cmd(
    since: Annotated[str | None, typer.Option(help="Also count from this time, and judge "
                                                   "volume on every day since: an ISO date or "
                                                   "time, or an age (90m, 6h, 2d, 1w).")] = None,
    against_truth: Annotated[bool, typer.Option(
        "--against-truth", help="Planted against found, per fault kind, for simulated data "
        "('simulate-data --quality-faults').")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The data-quality assessment now: volume, freshness, schema drift, timeliness,
    references, profiles; each check pass, warn or fail with its evidence, and a score.
    Exit 1 when a check fails."""
    from ..pipeline import against_truth as truth
    from ..pipeline import quality_check

    config = cli_config()
    store, _live, _ingestor = engine(config)
    report = quality_check(since)
    if against_truth:
        result = truth(config, store)
        if json_out:
            echo_json(result)
        else:
            table = rich_table("Planted against found", ["kind", "what", "planted", "found", ""])
            for row in result["rows"]:
                same = row["planted"] == row["found"]
                table.add_row(row["kind"], row["what"], f"{row['planted']:,}",
                              f"{row['found']:,}", "[green]exact[/]" if same else "[red]off[/]")
            Console().print(table)
            typer.echo(f"False volume alarms: {len(result['false_alarms'])}.")
        if not result["exact"] or result["false_alarms"]:
            raise typer.Exit(1)
        return
    if json_out:
        echo_json(report)
    else:
        _show(report)
    if report["status"] == "fail":
        raise typer.Exit(1)
