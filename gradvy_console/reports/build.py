"""Analytics reports: the figures of a day, a week or a month (`analytics.reports`), read from
the stored events and learners, written as Markdown, CSV per table and JSON under
`DATA_DIR/reports/<period>/<date>/` (owner-only; written to a temporary directory and renamed,
so a failed run leaves nothing half-written), and kept in the store's `reports` collection with
their headline figures so the history survives and can be compared."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ..analytics import reports as r
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..private_files import private_dir
from ..store import DocumentStore

REPORTS = "reports"
PERIODS = ("day", "week", "month")
FORMATS = ("md", "html", "csv", "json")
COHORT_WEEKS = 8
MIN_CELL = 10


@dataclass
class Report:
    period: str
    start: date
    end: date                 # the last day in the period
    zone: str
    generated_ms: int
    content: dict[str, Any]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.period}-{self.start.isoformat()}"

    def headline(self) -> dict[str, Any]:
        act = self.content["activity"]
        return {"active_learners": act["active_learners"], "stickiness": act["stickiness"],
                "events": self.content["events"], "no_data": self.content["no_data"]}


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The first and last day of the period that contains `day` (weeks start on Monday)."""
    if period == "day":
        return day, day
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period == "month":
        start = day.replace(day=1)
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start, following - timedelta(days=1)
    raise GradvyError(f"Unknown period {period!r}: give day, week or month.", exit_code=2)


def parse_report_date(text: str | None, zone: ZoneInfo, now: int) -> date:
    """A report's date: ISO (YYYY-MM-DD), default yesterday in the report's zone; never a day
    still to come."""
    today = datetime.fromtimestamp(now / 1000, tz=zone).date()
    if text is None:
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise GradvyError(f"--date {text!r} is not a date: give YYYY-MM-DD.",
                          exit_code=2) from None
    if day > today:
        raise GradvyError(f"--date {text} lies in the future.", exit_code=2)
    return day


def zone_of(config: Config) -> ZoneInfo:
    try:
        return ZoneInfo(config.reports.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise GradvyError(f"[reports] timezone {config.reports.timezone!r} is not a time zone "
                          "name (e.g. UTC, Europe/Berlin).", exit_code=2) from None


def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def compute(config: Config, store: DocumentStore, period: str, day: date) -> Report:
    """The report's figures, from the stored events of the period (and the 30 days before it,
    for monthly actives, and the cohort weeks before it, for retention)."""
    started = time.monotonic()
    zone = zone_of(config)
    start, end = period_bounds(period, day)
    min_cell = config.reports.min_cell_size
    cells = r.Suppressor(min_cell)
    history_from = min(start - timedelta(days=29),
                       r.week_start(end) - timedelta(weeks=COHORT_WEEKS - 1))
    since, until = _midnight_ms(history_from, zone), _midnight_ms(end + timedelta(days=1), zone)
    first_ms, upto = _midnight_ms(start, zone), until
    days_active: dict[str, set[date]] = defaultdict(set)
    in_period: list[dict[str, Any]] = []
    slot_day: dict[int, date] = {}
    for batch in store.iter_events(since_ms=since):
        for e in batch:
            ts = e["ts"]
            if ts >= until:
                continue
            slot = ts // 900_000          # 15 minutes: every zone's day starts on one
            d = slot_day.get(slot)
            if d is None:
                d = slot_day[slot] = r.local_day(ts, zone)
            days_active[e["user_id"]].add(d)
            if ts >= first_ms and ts < upto:
                in_period.append(e)
    # A learner seen before the loaded history is not new: their profile says when they began.
    for user in store.iter_users():
        first = (user.get("acc") or {}).get("first")
        if first is not None and first < since and user["user_id"] in days_active:
            days_active[user["user_id"]].add(history_from - timedelta(days=1))
    active = r.activity(days_active, start, end, cells)
    content = {
        "period": period, "start": start.isoformat(), "end": end.isoformat(),
        "timezone": zone.key, "min_cell_size": min_cell, "events": len(in_period),
        "no_data": not in_period,
        "activity": active,
        "events_per_type": r.events_per_type(in_period, zone),
        "retention": r.retention(days_active, end, COHORT_WEEKS, cells),
        "funnels": r.funnels(in_period, cells),
        "quizzes": r.quizzes(in_period, cells),
        "searches": r.searches(in_period, min_cell),
        "pipeline": _pipeline(store),
        "health": r.queue_health(store.task_runs(limit=200_000, since_ms=first_ms),
                                 store.alerts(limit=10_000), first_ms, upto),
    }
    content["suppressed"] = sorted(set(cells.suppressed))
    return Report(period, start, end, zone.key, now_ms(), content,
                  seconds=round(time.monotonic() - started, 3))


def _pipeline(store: DocumentStore) -> dict[str, Any]:
    counters = store.counters()
    from ..quality import latest_assessment

    quality = latest_assessment(store)
    return {"processed": counters.get("processed", 0),
            "dead_lettered": counters.get("dead_lettered", 0),
            "dead_lettered_by_reason": {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
                                        if k.startswith("rejected:")},
            "duplicates": counters.get("duplicates", 0),
            "no_consent": counters.get("no_consent", 0),
            "quality_score": quality.get("score") if quality else None}


# --- rendering -------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return "<10"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _md_table(columns: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "no data\n"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def tables(report: Report) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Every table of the report: name -> (columns, rows). The CSV files and the Markdown."""
    c = report.content
    act = c["activity"]["days"]
    out: dict[str, tuple[list[str], list[list[Any]]]] = {
        "activity": (["day", "dau", "wau", "mau", "new", "returning", "resurrecting",
                      "dormant"], [[d[k] for k in ("day", "dau", "wau", "mau", "new",
                                                   "returning", "resurrecting", "dormant")]
                                   for d in act]),
    }
    types = c["events_per_type"]
    days = sorted({d for per in types.values() for d in per})
    out["events_per_type"] = (["day", *types], [[d, *(types[t].get(d, 0) for t in types)]
                                                for d in days])
    weeks = max((len(row["weeks"]) for row in c["retention"]), default=0)
    out["retention"] = (["cohort", "size", *(f"week {k}" for k in range(weeks))],
                        [[row["cohort"], row["size"], *row["weeks"],
                          *([""] * (weeks - len(row["weeks"])))] for row in c["retention"]])
    steps = ["view", "enroll", "start", "complete", "enroll_rate", "start_rate",
             "complete_rate"]
    out["funnel_categories"] = (["category", *steps], [[f["category"], *(f[s] for s in steps)]
                                                       for f in c["funnels"]["categories"]])
    out["funnel_top_courses"] = (["course", *steps], [[f["course"], *(f[s] for s in steps)]
                                                      for f in c["funnels"]["top_courses"]])
    out["quizzes"] = (["category", "learners", "attempts", "mean score ratio"],
                      [[q["category"], q["learners"], q["attempts"], q["mean_score_ratio"]]
                       for q in c["quizzes"]])
    out["top_queries"] = (["query", "learners"], [[q["query"], q["learners"]]
                                                  for q in c["searches"]["top_queries"]])
    out["queues"] = (["queue", "task runs", "failed", "wait p95 (s)"],
                     [[q, v["runs"], v["failed"], "-" if v["wait_p95_s"] is None
                       else f"{v['wait_p95_s']:.3f}"]
                      for q, v in c["health"]["queues"].items()])
    return out


def markdown(report: Report) -> str:
    c = report.content
    act = c["activity"]
    title = {"day": "Daily", "week": "Weekly", "month": "Monthly"}[report.period]
    span = report.start.isoformat() if report.start == report.end else \
        f"{report.start.isoformat()} to {report.end.isoformat()}"
    parts = [f"# {title} analytics report: {span}\n",
             f"Time zone {report.zone}; cells about fewer than {c['min_cell_size']} learners are "
             "shown as `<10`. Generated "
             f"{datetime.fromtimestamp(report.generated_ms / 1000).astimezone().isoformat()}.\n"]
    if c["no_data"]:
        parts.append("No data: no event was stored for this period.\n")
    stick = "no data" if act["stickiness"] is None else f"{act['stickiness']:.1%}"
    parts.append(f"**{act['active_learners']:,} active learners, {c['events']:,} events; "
                 f"stickiness (mean DAU / MAU) {stick}.**\n")
    search = c["searches"]
    share = "no data" if search["no_result_share"] is None else f"{search['no_result_share']:.1%}"
    parts.append(f"Searches: {search['searches']:,}, with no result: {share}.\n")
    titles = {"activity": "Activity", "events_per_type": "Events per type per day",
              "retention": "Retention: weekly cohorts, the share active each week after",
              "funnel_categories": "Funnel by category (view, enrol, start, complete)",
              "funnel_top_courses": "Funnel of the top courses", "quizzes": "Quizzes",
              "top_queries": f"Top searches (by at least {c['min_cell_size']} learners)",
              "queues": "Queues in the period: task runs, failures, wait p95"}
    for name, (columns, rows) in tables(report).items():
        parts.append(f"## {titles[name]}\n\n{_md_table(columns, rows)}")
    p = c["pipeline"]
    reasons = ", ".join(f"{k} {v:,}" for k, v in p["dead_lettered_by_reason"].items()) or "none"
    quality = "not assessed" if p["quality_score"] is None else f"{p['quality_score']}/100"
    raised = ", ".join(f"{k} {v:,}" for k, v in c["health"]["alerts_raised"].items()) or "none"
    parts.append(f"Alerts raised in the period: {raised}.\n")
    parts.append("## Pipeline health (since the start)\n\n"
                 f"Processed {p['processed']:,}; dead-lettered {p['dead_lettered']:,} "
                 f"({reasons}); duplicates {p['duplicates']:,}; without consent "
                 f"{p['no_consent']:,}; data quality {quality}.\n")
    if c["suppressed"]:
        parts.append(f"{len(c['suppressed'])} cells were suppressed (fewer than "
                     f"{c['min_cell_size']} learners).\n")
    return "\n".join(parts)


def write(report: Report, out_dir: Path, formats: list[str]) -> list[str]:
    """The report's files in `out_dir/<period>/<start>/`, all at once: written in a temporary
    directory beside it and renamed over the old one."""
    target = out_dir / report.period / report.start.isoformat()
    try:
        private_dir(target.parent)
        staging = Path(tempfile.mkdtemp(prefix=".report-", dir=target.parent))
    except OSError as exc:
        raise GradvyError(f"Cannot write reports under {out_dir}: {exc.strerror}.",
                          exit_code=2) from None
    try:
        os.chmod(staging, 0o700)
        names = []

        def put(name: str, data: bytes) -> None:
            fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            names.append(name)
        if "md" in formats:
            put("report.md", markdown(report).encode())
        if "html" in formats:
            from .html import render  # Jinja2 only when an HTML report is built

            put("report.html", render(report, tables(report)).encode())
        if "json" in formats:
            put("report.json", orjson.dumps(
                {"period": report.period, "start": report.start.isoformat(),
                 "end": report.end.isoformat(), "generated_ms": report.generated_ms,
                 **report.content}, option=orjson.OPT_INDENT_2))
        if "csv" in formats:
            for name, (columns, rows) in tables(report).items():
                text = io.StringIO()
                writer = csv.writer(text)
                writer.writerow(columns)
                writer.writerows([["" if v is None else v for v in row] for row in rows])
                put(f"{name}.csv", text.getvalue().encode())
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [str(target / n) for n in names]


def generate(config: Config, store: DocumentStore, period: str, day_text: str | None = None,
             formats: list[str] | None = None, out_dir: Path | None = None) -> Report:
    """Compute, write and keep one report."""
    if period not in PERIODS:
        raise GradvyError(f"Unknown period {period!r}: give day, week or month.", exit_code=2)
    chosen = list(formats or FORMATS)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise GradvyError(f"Unknown format {unknown[0]!r}: give md, html, csv or json.",
                          exit_code=2)
    zone = zone_of(config)
    day = parse_report_date(day_text, zone, now_ms())
    report = compute(config, store, period, day)
    report.files = write(report, out_dir or config.data_dir / "reports", chosen)
    store.put_documents(REPORTS, [{"_id": report.key, "period": period,
                                   "start": report.start.isoformat(),
                                   "end": report.end.isoformat(),
                                   "generated_ms": report.generated_ms,
                                   "headline": report.headline(), "files": report.files,
                                   "seconds": report.seconds}])
    return report


def report_history(store: DocumentStore) -> list[dict[str, Any]]:
    return sorted(store.get_documents(REPORTS), key=lambda d: (-d["generated_ms"], d["_id"]))
