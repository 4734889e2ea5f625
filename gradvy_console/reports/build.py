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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ..analytics import reports as r
from ..analytics.behavior import INTERVENTION_RISK
from ..analytics.scoring import profile_view
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..private_files import private_dir
from ..store import DocumentStore
from .text import markdown, tables

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
        """The figures kept in the history and compared with the previous report's."""
        c = self.content
        return {"active_learners": c["activity"]["active_learners"],
                "stickiness": c["activity"]["stickiness"], "events": c["events"],
                "no_data": c["no_data"], "at_risk": c["engagement"]["at_risk"],
                "quality_score": c["pipeline"]["quality_score"]}


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


def parse_report_date(text: str | None, zone: ZoneInfo, now: int, period: str = "day") -> date:
    """A report's date: ISO (YYYY-MM-DD), never a day still to come. By default the last
    complete period in the report's zone: yesterday, last week (Monday to Sunday), last month."""
    today = datetime.fromtimestamp(now / 1000, tz=zone).date()
    if text is None:
        return period_bounds(period, today)[0] - timedelta(days=1)
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


def previous_report(store: DocumentStore, period: str, start: date) -> dict[str, Any] | None:
    """The newest kept report of the same period that began before `start`."""
    earlier = [d for d in store.get_documents(REPORTS)
               if d.get("period") == period and d.get("start", "") < start.isoformat()]
    return max(earlier, key=lambda d: (d["start"], d["generated_ms"])) if earlier else None


STEPS = ("events", "learners", "figures", "insights", "pipeline", "files")


def compute(config: Config, store: DocumentStore, period: str, day: date,
            progress: Callable[[int, int], None] | None = None) -> Report:
    """The report's figures, from the stored events of the period (and the 30 days before it,
    for monthly actives, and the cohort weeks before it, for retention), the learners' profiles
    and the stored analyses, anomalies, segments, recommendations and pipeline records.
    `progress(done, total)` is told as each of the STEPS starts."""
    told = progress or (lambda done, total: None)

    def step(name: str) -> None:
        told(STEPS.index(name), len(STEPS))
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
    step("events")
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
    step("learners")
    active = {e["user_id"] for e in in_period}
    engagement: list[tuple[float, str]] = []
    velocity: list[tuple[float, str]] = []
    for user in store.iter_users():
        uid, acc = user["user_id"], user.get("acc") or {}
        # A learner seen before the loaded history is not new: their profile says when they
        # began.
        first = acc.get("first")
        if first is not None and first < since and uid in days_active:
            days_active[uid].add(history_from - timedelta(days=1))
        if uid in active and acc.get("last") is not None:
            view = profile_view(acc, config.scoring, upto - 1)
            engagement.append((float(view["engagement_score"]), uid))
            velocity.append((float(view["learning_velocity"]), uid))
    step("figures")
    previous = previous_report(store, period, start)
    content = {
        "period": period, "start": start.isoformat(), "end": end.isoformat(),
        "timezone": zone.key, "min_cell_size": min_cell, "events": len(in_period),
        "no_data": not in_period,
        "activity": r.activity(days_active, start, end, cells),
        "events_per_type": r.events_per_type(in_period, zone),
        "retention": r.retention(days_active, end, COHORT_WEEKS, cells),
        "funnels": r.funnels(in_period, cells),
        "quizzes": r.quizzes(in_period, cells),
        "searches": r.searches(in_period, min_cell),
        "sessions": r.session_lengths(in_period, cells),
    }
    del in_period
    step("insights")
    content["engagement"] = {
        "engagement": r.binned("engagement", engagement, [0.0, 0.2, 0.4, 0.6, 0.8], cells),
        "velocity": r.binned("velocity", velocity, VELOCITY_EDGES, cells),
        **r.risk_and_interventions(store.get_documents("user_analysis"), active, first_ms,
                                   upto, now_ms() + 1, INTERVENTION_RISK, cells),
        "anomalies": r.anomalies_by_kind(store.get_documents("anomalies"), first_ms, upto,
                                         cells),
        "segments": r.segment_moves(store.get_documents("segments"),
                                    store.get_documents("segment_history"),
                                    previous["generated_ms"] if previous else first_ms, cells),
        "segments_since": previous["start"] if previous else None,
    }
    content["recommendations"] = _recommendations(store)
    step("pipeline")
    content["pipeline"] = _pipeline(store, first_ms, upto)
    content["health"] = r.queue_health(store.task_runs(limit=200_000, since_ms=first_ms),
                                       store.alerts(limit=10_000), first_ms, upto)
    content["previous"] = None if previous is None else {
        "start": previous["start"], "end": previous["end"], "headline": previous["headline"]}
    content["suppressed"] = sorted(set(cells.suppressed))
    return Report(period, start, end, zone.key, now_ms(), content,
                  seconds=round(time.monotonic() - started, 3))


VELOCITY_EDGES = [0.0, 0.01, 0.02, 0.05, 0.1]


def _recommendations(store: DocumentStore) -> dict[str, Any]:
    """The latest offline evaluation (when one was run) and the catalogue's coverage."""
    evaluations = store.get_documents("evaluations")
    latest = max(evaluations, key=lambda d: d["at_ms"]) if evaluations else None
    evaluation = None
    if latest is not None:
        recs, anomalies, drop = (latest.get("recommendations", {}), latest.get("anomalies", {}),
                                 latest.get("dropout", {}))
        evaluation = {"at_ms": latest["at_ms"], "users": latest.get("users"),
                      "ndcg": recs.get("model", {}).get("ndcg"),
                      "popular_ndcg": recs.get("popular", {}).get("ndcg"),
                      "ndcg_vs_popular": recs.get("ndcg_vs_popular"),
                      "anomaly_precision": anomalies.get("precision"),
                      "anomaly_recall": anomalies.get("recall"),
                      "dropout_auc": drop.get("auc"),
                      "rule_baseline_auc": drop.get("rule_baseline_auc")}
    return {"evaluation": evaluation,
            **r.coverage(store.get_documents("recommendations"),
                         len(store.get_documents("courses")))}


def _pipeline(store: DocumentStore, first_ms: int, until_ms: int) -> dict[str, Any]:
    counters = store.counters()
    from ..privacy import latest_audit
    from ..quality import latest_assessment

    quality = latest_assessment(store)
    audit = latest_audit(store)
    restarts = sum(1 for a in store.actions(limit=100_000)
                   if a.get("action") == "restart_queue"
                   and first_ms <= a.get("started_ms", -1) < until_ms)
    return {"processed": counters.get("processed", 0),
            "dead_lettered": counters.get("dead_lettered", 0),
            "dead_lettered_by_reason": {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
                                        if k.startswith("rejected:")},
            "duplicates": counters.get("duplicates", 0),
            "no_consent": counters.get("no_consent", 0),
            "operator_restarts": restarts,
            "quality_score": quality.get("score") if quality else None,
            "privacy_audit": None if audit is None else {"status": audit["status"],
                                                         "at_ms": audit["at_ms"]}}


def _writable(folder: Path) -> None:
    try:
        private_dir(folder)
        os.rmdir(tempfile.mkdtemp(prefix=".report-", dir=folder))
    except OSError as exc:
        raise GradvyError(f"Cannot write reports under {folder.parent}: {exc.strerror}.",
                          exit_code=2) from None


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
             formats: list[str] | None = None, out_dir: Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> Report:
    """Compute, write and keep one report; `progress(done, total)` as its steps start."""
    if period not in PERIODS:
        raise GradvyError(f"Unknown period {period!r}: give day, week or month.", exit_code=2)
    chosen = list(formats or FORMATS)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise GradvyError(f"Unknown format {unknown[0]!r}: give md, html, csv or json.",
                          exit_code=2)
    zone = zone_of(config)
    day = parse_report_date(day_text, zone, now_ms(), period)
    started = time.monotonic()
    out = out_dir or config.data_dir / "reports"
    _writable(out / period)             # before the work, not after it
    report = compute(config, store, period, day, progress)
    if progress:
        progress(STEPS.index("files"), len(STEPS))
    report.files = write(report, out, chosen)
    report.seconds = round(time.monotonic() - started, 3)
    store.put_documents(REPORTS, [{"_id": report.key, "period": period,
                                   "start": report.start.isoformat(),
                                   "end": report.end.isoformat(),
                                   "generated_ms": report.generated_ms,
                                   "headline": report.headline(), "files": report.files,
                                   "seconds": report.seconds}])
    if progress:
        progress(len(STEPS), len(STEPS))
    return report


def report_history(store: DocumentStore) -> list[dict[str, Any]]:
    return sorted(store.get_documents(REPORTS), key=lambda d: (-d["generated_ms"], d["_id"]))
