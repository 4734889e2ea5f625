"""Reports queue: the analytics reports of a day, a week or a month, written and kept."""

from __future__ import annotations

from typing import Any

from .. import runtime
from ..queues import task
from ..reports import generate


def report_now(period: str, day: str | None = None, formats: list[str] | None = None,
               out: str | None = None) -> dict[str, Any]:
    from pathlib import Path

    report = generate(runtime.get_config(), runtime.store(), period, day, formats,
                      Path(out) if out else None)
    return {"period": report.period, "start": report.start.isoformat(),
            "end": report.end.isoformat(), "files": report.files, "seconds": report.seconds,
            "headline": report.headline()}


@task("reports")
def generate_analytics_reports(period: str = "day", day: str | None = None,
                               formats: list[str] | None = None) -> dict[str, Any]:
    """One report (Markdown, HTML, CSV and JSON under DATA_DIR/reports), kept in the history."""
    return report_now(period, day, formats)


@task("reports", periodic="generate_daily_report")
def generate_daily_report() -> dict[str, Any]:
    """Yesterday's report (daily at 06:00)."""
    return report_now("day")


@task("reports", periodic="generate_weekly_report")
def generate_weekly_report() -> dict[str, Any]:
    """Last week's report (Mondays)."""
    return report_now("week")


@task("reports", periodic="generate_monthly_report")
def generate_monthly_report() -> dict[str, Any]:
    """Last month's report (on the 1st)."""
    return report_now("month")
