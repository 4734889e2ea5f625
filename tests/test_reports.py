"""Reports: every figure against an independent count on a hand-made event set (active
learners, lifecycle, cohorts, funnels, quizzes, searches, suppression of small cells), the same
figures on SQLite and mongomock, the files (owner-only, nothing half-written) and the verbs'
refusals."""

from __future__ import annotations

import re
import stat
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import mongo_store_factory
from helpers import env_for, gradvy

from gradvy_console.analytics import reports as r
from gradvy_console.analytics.events import Event
from gradvy_console.config import Config
from gradvy_console.config.settings import ReportSettings
from gradvy_console.reports import generate, report_history
from gradvy_console.reports.build import compute, period_bounds
from gradvy_console.store.sqlite import SqliteStore

UTC = ZoneInfo("UTC")
D0 = date(2026, 11, 2)          # a Monday


def at(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def ev(user: str, day: date, etype: str = "search", hour: int = 12, **props: Any
       ) -> dict[str, Any]:
    return {"user_id": user, "event_type": etype, "ts": at(day, hour),
            "properties": props or {"query": "python", "results_count": 1}}


def test_activity_and_lifecycle_on_a_hand_counted_week() -> None:
    # a: days 0,1,2   b: days 0,2   c: day 2 only   d: day 1 (and once long before)
    active = {"a": {D0, D0 + timedelta(1), D0 + timedelta(2)}, "b": {D0, D0 + timedelta(2)},
              "c": {D0 + timedelta(2)}, "d": {D0 - timedelta(40), D0 + timedelta(1)}}
    out = r.activity(active, D0, D0 + timedelta(2), r.Suppressor(1))
    day0, day1, day2 = out["days"]
    assert (day0["dau"], day1["dau"], day2["dau"]) == (2, 2, 3)
    assert day2["wau"] == 4 and day2["mau"] == 4       # d's old day is 42 days back
    # day 1: a returning (active day 0 too), d resurrecting, b dormant (active day 0, not 1)
    assert (day1["new"], day1["returning"], day1["resurrecting"], day1["dormant"]) == (
        0, 1, 1, 1)
    # day 2: c new, a returning, b resurrecting, d dormant
    assert (day2["new"], day2["returning"], day2["resurrecting"], day2["dormant"]) == (
        1, 1, 1, 1)
    assert out["active_learners"] == 4
    assert out["stickiness"] == round((2 + 2 + 3) / 3 / 4, 4)


def test_small_cells_are_suppressed_and_listed() -> None:
    cells = r.Suppressor(10)
    assert cells.count("x", 3) is None and cells.count("y", 0) == 0
    assert cells.count("z", 10) == 10
    assert cells.share("s", 5, 9) is None            # a share of fewer than 10 learners
    assert cells.share("t", 12, 40) == 0.3
    assert cells.suppressed == ["x", "s"]


def test_retention_cohorts_by_monday_weeks() -> None:
    weeks = [D0 + timedelta(weeks=k) for k in range(3)]
    active = {f"u{i}": {weeks[0]} for i in range(4)}              # cohort 1: four learners
    active["u0"] |= {weeks[1], weeks[2] + timedelta(days=3)}      # active weeks 1 and 2
    active["u1"] |= {weeks[2]}                                    # active week 2
    active["v"] = {weeks[1] + timedelta(days=6)}                  # cohort 2 (a Sunday)
    rows = r.retention(active, weeks[2] + timedelta(days=6), 8, r.Suppressor(1))
    assert rows == [
        {"cohort": weeks[0].isoformat(), "size": 4, "weeks": [1.0, 0.25, 0.5]},
        {"cohort": weeks[1].isoformat(), "size": 1, "weeks": [1.0, 0.0]}]


def _funnel_events() -> list[dict[str, Any]]:
    out = []
    for i in range(12):                      # 12 view, 8 enrol, 6 start (5 of them enrolled), 2
        user = f"u{i}"
        out.append(ev(user, D0, "course_interaction", action="view", course_id="c1",
                      course_category="music"))
        if i < 8:
            out.append(ev(user, D0, "course_interaction", action="enroll", course_id="c1",
                          course_category="music"))
        if i < 5 or i == 10:
            out.append(ev(user, D0, "course_interaction", action="start", course_id="c1",
                          course_category="music"))
        if i < 2:
            out.append(ev(user, D0, "course_interaction", action="complete", course_id="c1",
                          course_category="music"))
    return out


def test_funnel_counts_only_learners_who_did_the_step_before() -> None:
    out = r.funnels(_funnel_events(), r.Suppressor(1))
    row = out["categories"][0]
    assert (row["view"], row["enroll"], row["start"], row["complete"]) == (12, 8, 5, 2)
    assert row["enroll_rate"] == round(8 / 12, 4) and row["start_rate"] == round(5 / 8, 4)
    assert out["top_courses"][0]["course"] == "c1"
    small = r.funnels(_funnel_events(), r.Suppressor(10))["categories"][0]
    assert (small["view"], small["enroll"], small["start"], small["complete"]) == (
        12, None, None, None)                      # fewer than 10 learners: suppressed


def test_quizzes_and_searches() -> None:
    events = [ev(f"u{i}", D0, "quiz_attempt", score=s, total_questions=10,
                 course_category="maths") for i, s in enumerate([5, 7, 9])]
    assert r.quizzes(events, r.Suppressor(1)) == [
        {"category": "maths", "learners": 3, "attempts": 3, "mean_score_ratio": 0.7}]
    assert r.quizzes(events, r.Suppressor(10))[0]["mean_score_ratio"] is None
    searches = [ev(f"u{i}", D0, query="Python", results_count=0 if i < 2 else 3)
                for i in range(4)] + [ev("u9", D0, query="rare thing", results_count=1)]
    out = r.searches(searches, k=3)
    assert out["searches"] == 5 and out["no_result_share"] == 0.4
    assert out["top_queries"] == [{"query": "python", "learners": 4}]   # "rare thing": 1


def test_periods() -> None:
    assert period_bounds("week", date(2026, 11, 5)) == (date(2026, 11, 2), date(2026, 11, 8))
    assert period_bounds("month", date(2026, 2, 14)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_bounds("day", D0) == (D0, D0)


def _store(kind: str, tmp_path: Path) -> Any:
    store: Any = SqliteStore(tmp_path / "store.db") if kind == "sqlite" else mongo_store_factory()
    events = []
    for n, e in enumerate(_funnel_events()):
        events.append(Event(f"e{n}", e["user_id"], e["event_type"], e["ts"], None,
                            e["properties"], f"h{n}"))
    for n in range(15):
        day = D0 - timedelta(days=n % 5)
        events.append(Event(f"s{n}", f"u{n % 11}", "search", at(day), None,
                            {"query": "python", "results_count": n % 3}, f"hs{n}"))
    with store.transaction() as tx:
        tx.insert_events(events, {})
    return store


def test_the_same_figures_on_sqlite_and_mongomock(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, reports=ReportSettings(min_cell_size=3))
    a = compute(config, _store("sqlite", tmp_path), "week", D0).content
    b = compute(config, _store("mongomock", tmp_path), "week", D0).content
    a.pop("pipeline"), b.pop("pipeline")
    assert a == b
    # 12 views, 8 enrolments, 6 starts, 2 completions; 3 of the 15 searches fall in the week
    assert a["activity"]["days"][0]["dau"] == 12 and a["events"] == 28 + 3


def test_files_are_private_whole_and_kept_in_the_history(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", reports=ReportSettings(min_cell_size=3))
    store = _store("sqlite", tmp_path)
    report = generate(config, store, "week", D0.isoformat())
    folder = tmp_path / "data" / "reports" / "week" / D0.isoformat()
    names = sorted(p.name for p in folder.iterdir())
    assert "report.md" in names and "report.json" in names and "activity.csv" in names
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    text = (folder / "report.md").read_text()
    assert "# Weekly analytics report: 2026-11-02 to 2026-11-08" in text
    assert "u1" not in text and "u1" not in (folder / "report.json").read_text()
    assert [d["_id"] for d in report_history(store)] == ["week-2026-11-02"]
    assert report.headline()["active_learners"] == 12
    # A failure half-way leaves the previous files as they were and no temporary directory.
    before = (folder / "report.md").read_text()
    from unittest import mock

    with mock.patch("gradvy_console.reports.build.markdown", side_effect=OSError("disk full")):
        with pytest.raises(OSError):
            generate(config, store, "week", D0.isoformat())
    assert (folder / "report.md").read_text() == before
    assert [p.name for p in folder.parent.iterdir()] == [D0.isoformat()]


def test_no_data_is_said_not_invented(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data")
    report = generate(config, SqliteStore(tmp_path / "s.db"), "day", "2026-11-01")
    assert report.content["no_data"] and report.content["activity"]["stickiness"] is None
    assert "No data" in Path(report.files[0]).read_text()


@pytest.mark.parametrize(("args", "sentence"), [
    (["--period", "year"], "Unknown period 'year'"),
    (["--format", "pdf"], "Unknown format 'pdf'"),
    (["--date", "soon"], "is not a date"),
    (["--date", "2999-01-01"], "lies in the future"),
    (["--out", "/proc/forbidden"], "Cannot write reports under /proc/forbidden"),
])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path: Path, args: list[str],
                                              sentence: str) -> None:
    out = gradvy(["run", "generate-reports", *args], env_for(tmp_path / "d"), tmp_path)
    assert out.returncode == 2 and sentence in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_html_is_self_contained_escaped_and_has_its_charts(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", reports=ReportSettings(min_cell_size=1))
    store = _store("sqlite", tmp_path)
    hostile = [Event(f"x{n}", f"h{n}", "search", at(D0, 9), None,
                     {"query": "<script>alert(1)</script>", "results_count": 0}, f"hx{n}")
               for n in range(3)]
    with store.transaction() as tx:
        tx.insert_events(hostile, {})
    report = generate(config, store, "week", D0.isoformat(), ["html"])
    html = Path(report.files[0]).read_text()
    # Active learners, events per type per day, session lengths (no profile, no analysis here).
    assert html.startswith("<!doctype html>") and html.count("<svg") == 2
    assert "<script" not in html and "&lt;script&gt;" in html      # the query, escaped
    # Nothing outside the file: the charts' only links are to their own clip paths.
    assert "src=" not in html and not re.findall(r'href="(?!#)', html)
    assert "Active learners, the 30 days to the period" in html
    assert "Weekly analytics report: 2026-11-02 to 2026-11-08" in html


def test_queue_health_by_hand() -> None:
    assert r.p95([]) is None and r.p95([3.0]) == 3.0
    assert r.p95([float(v) for v in range(1, 21)]) == 19.0     # 19 of 20 values at or below
    first, until = at(D0, 0), at(D0 + timedelta(days=1), 0)
    runs = [{"queue": "realtime", "status": "done", "ended_ms": first + i, "wait_s": i / 10}
            for i in range(10)]
    runs += [{"queue": "realtime", "status": "failed", "ended_ms": first + 50, "wait_s": 5.0},
             {"queue": "ml", "status": "done", "ended_ms": until + 1, "wait_s": 9.0}]  # after
    alerts = [{"kind": "cpu", "raised_ms": first + 5}, {"kind": "cpu", "raised_ms": until}]
    health = r.queue_health(runs, alerts, first, until)
    assert health == {"queues": {"realtime": {"runs": 11, "failed": 1, "wait_p95_s": 5.0}},
                      "alerts_raised": {"cpu": 1}}


def test_the_report_holds_the_period_s_queues(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", reports=ReportSettings(min_cell_size=3))
    store = _store("sqlite", tmp_path)
    store.add_task_runs([{"task_id": f"t{i}", "task": "batch_process_events",
                          "queue": "realtime", "status": "done", "ended_ms": at(D0, 10),
                          "wait_s": 0.25} for i in range(4)])
    report = generate(config, store, "day", D0.isoformat(), ["md", "csv"])
    assert report.content["health"]["queues"] == {
        "realtime": {"runs": 4, "failed": 0, "wait_p95_s": 0.25}}
    text = Path(report.files[0]).read_text()
    assert "| realtime | 4 | 0 | 0.250 |" in text and "In the period: alerts raised: none;" in text


# --- distributions, risk, anomalies, segments, recommendations: by hand -----------------------
def test_binned_by_hand() -> None:
    pairs = [(1.0, "a"), (4.0, "b"), (5.0, "c"), (20.0, "a")]
    dist = r.binned("x", pairs, [0.0, 5.0, 15.0], r.Suppressor(1))
    assert [(b["from"], b["to"], b["count"], b["learners"]) for b in dist["bins"]] == [
        (0.0, 5.0, 2, 2), (5.0, 15.0, 1, 1), (15.0, None, 1, 1)]
    # nearest rank over [1, 4, 5, 20]: the 2nd value is the median, the 4th the p90
    assert (dist["values"], dist["learners"], dist["median"], dist["p90"]) == (4, 3, 4.0, 20.0)
    cells = r.Suppressor(3)
    few = r.binned("x", pairs, [0.0, 5.0, 15.0], cells)
    assert [b["count"] for b in few["bins"]] == [None, None, None] and few["median"] == 4.0
    assert cells.suppressed == ["x.0", "x.5", "x.15"]
    cells = r.Suppressor(4)
    assert r.binned("x", pairs, [0.0], cells)["median"] is None     # 3 learners in all
    assert "x.quantiles" in cells.suppressed
    assert r.binned("x", [], [0.0], r.Suppressor(1))["median"] is None


def test_session_lengths_in_minutes() -> None:
    events = [ev("a", D0, "learning_session", duration=120), ev("b", D0, "learning_session",
                                                                 duration=1800),
              ev("a", D0, "learning_session", duration=-5), ev("c", D0, "search")]
    dist = r.session_lengths(events, r.Suppressor(1))
    assert dist["values"] == 2 and dist["median"] == 2.0 and dist["p90"] == 30.0
    assert [b["count"] for b in dist["bins"]] == [1, 0, 0, 1, 0, 0]     # 2 min; 30 min


def analysis(user: str, at_ms: int, score: float, source: str = "model",
             intervention: bool = False) -> dict[str, Any]:
    return {"user_id": user, "as_of_ms": at_ms,
            "risk": {"score": score, "source": source, "intervention": intervention}}


def test_risk_and_interventions_by_hand() -> None:
    first, until = at(D0, 0), at(D0 + timedelta(days=1), 0)
    docs = [analysis("a", first - 5, 0.9, "rule_baseline", True),   # before: not raised here
            analysis("a", first + 5, 0.7, "model", True),           # a's newest: at risk
            analysis("b", first + 5, 0.1),
            analysis("c", first + 9, 0.65, "rule_baseline"),
            analysis("c", until + 9, 0.3),                          # c's newest, made later
            analysis("d", first + 5, 0.95, "model", True),          # d was not active
            {**analysis("e", first + 6, 0.8), "risk": {"score": 0.8, "source": "model",
                                                      "model_version": 3}}]
    got = r.risk_and_interventions(docs, {"a", "b", "c"}, first, until, until + 10, 0.6,
                                   r.Suppressor(1))
    assert got["analysed"] == 3 and got["at_risk"] == 1 and got["at_risk_by_source"] == {
        "model": 1}
    assert got["interventions"] == 2        # a and d asked for one in the period
    assert [b["learners"] for b in got["risk"]["bins"]] == [1, 1, 0, 1, 0]
    # As of the period's end, c's newest analysis is the one at 0.65.
    got = r.risk_and_interventions(docs, {"a", "b", "c"}, first, until, until, 0.6,
                                   r.Suppressor(1))
    assert got["at_risk"] == 2 and got["at_risk_by_source"] == {"model": 1, "rule_baseline": 1}
    # A risk labelled with its model's version is counted under it.
    got = r.risk_and_interventions(docs, {"a", "e"}, first, until, until, 0.6, r.Suppressor(1))
    assert got["at_risk_by_source"] == {"model": 1, "model v3": 1}


def test_anomalies_segments_and_coverage_by_hand() -> None:
    first, until = at(D0, 0), at(D0 + timedelta(days=1), 0)
    anomalies = [{"user_id": "a", "kind": "bot_like", "first_seen_ms": first + 1,
                  "status": "open"},
                 {"user_id": "b", "kind": "bot_like", "first_seen_ms": first - 1,
                  "status": "resolved"},
                 {"user_id": "c", "kind": "poor_performance", "first_seen_ms": first - 1,
                  "status": "acknowledged"}]
    assert r.anomalies_by_kind(anomalies, first, until, r.Suppressor(1)) == [
        {"kind": "bot_like", "raised": 1, "open": 1},
        {"kind": "poor_performance", "raised": 0, "open": 1}]
    current = [{"user_id": u, "segment": s} for u, s in
               [("a", "at_risk"), ("b", "regular"), ("c", "regular"), ("d", "new_user")]]
    history = [{"user_id": "a", "at_ms": 10, "new_segment": "regular"},
               {"user_id": "a", "at_ms": 30, "new_segment": "at_risk"},     # after: a moved
               {"user_id": "b", "at_ms": 5, "new_segment": "at_risk"},
               {"user_id": "b", "at_ms": 15, "new_segment": "regular"},     # b moved before
               {"user_id": "c", "at_ms": 10, "new_segment": "at_risk"}]     # c moved
    moves = r.segment_moves(current, history, 20, r.Suppressor(1))
    assert moves == {"sizes": {"at_risk": 1, "new_user": 1, "regular": 2}, "moved": 2,
                     "moves": {"at_risk -> regular": 1, "regular -> at_risk": 1}}
    recs = [{"items": [{"course_id": "c1"}, {"course_id": "c2"}]}, {"items": [{"course_id":
                                                                                "c2"}]}]
    assert r.coverage(recs, 8) == {"learners": 2, "courses_recommended": 2, "catalogue": 8,
                                   "coverage": 0.25}
    assert r.coverage([], 0)["coverage"] is None


# --- the whole report from the real pipeline, on both backends --------------------------------
def _pipeline_store(kind: str, tmp_path: Path) -> Any:
    """Twelve learners' week through the real ingest path (profiles included), with the
    documents the insights would have stored."""
    from gradvy_console.analytics.events import iso_from_ms
    from gradvy_console.ingest import Ingestor
    from gradvy_console.live.sqlite import SqliteLive

    store: Any = (SqliteStore(tmp_path / f"{kind}.db") if kind == "sqlite"
                  else mongo_store_factory())
    config = Config(data_dir=tmp_path)
    users = [f"u{n}" for n in range(12)]
    for user in users:
        store.record_consent(user, {"analytics": True, "behavioral_analysis": True},
                             method="t", version="1", legal_basis="consent", actor="t", at_ms=0)
    items: list[tuple[str | None, Any]] = []
    for n, user in enumerate(users):
        for d in range(n % 4 + 1):
            ts = at(D0 + timedelta(days=d), 9 + n % 5)
            base = {"user_id": user, "session_id": f"{user}-{d}", "timestamp": iso_from_ms(ts)}
            items.append((None, {**base, "event_id": f"{user}-{d}-s",
                                 "event_type": "learning_session",
                                 "properties": {"course_id": "c1", "duration": 300 * (n + 1),
                                                "completion_rate": 0.5}}))
            items.append((None, {**base, "event_id": f"{user}-{d}-q", "event_type":
                                 "quiz_attempt", "properties": {
                                     "quiz_id": "q1", "course_id": "c1", "score": n % 5,
                                     "total_questions": 5, "time_taken": 200}}))
    Ingestor(store, SqliteLive(tmp_path / f"{kind}-live.db"), config).ingest(items)
    first = at(D0, 0)
    store.put_documents("user_analysis", [{**analysis(u, first + n, n / 12, "model",
                                                      n / 12 > 0.6), "_id": f"{u}:1"}
                                          for n, u in enumerate(users)])
    store.put_documents("anomalies", [{"_id": f"{u}:bot_like", "user_id": u, "kind": "bot_like",
                                       "first_seen_ms": first + 1, "status": "open"}
                                      for u in users[:10]])
    store.put_documents("segments", [{"_id": u, "user_id": u, "segment": "regular"}
                                     for u in users])
    store.put_documents("courses", [{"_id": "c1", "course_id": "c1"},
                                    {"_id": "c2", "course_id": "c2"}])
    store.put_documents("recommendations", [{"_id": u, "user_id": u,
                                             "items": [{"course_id": "c2"}]} for u in users])
    return store


def test_a_pipeline_report_is_the_same_on_sqlite_and_mongomock(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, reports=ReportSettings(min_cell_size=3))
    a = compute(config, _pipeline_store("sqlite", tmp_path), "week", D0).content
    b = compute(config, _pipeline_store("mongomock", tmp_path), "week", D0).content
    assert a == b
    eng = a["engagement"]
    # Independent counts: 12 learners, 3 with each of 1-4 active days; risks n/12.
    assert a["activity"]["active_learners"] == 12 and a["events"] == 2 * 3 * (1 + 2 + 3 + 4)
    assert eng["analysed"] == 12 and eng["engagement"]["learners"] == 12
    assert eng["at_risk"] == 4 and eng["interventions"] == 4        # 8/12 ... 11/12 > 0.6
    assert eng["anomalies"] == [{"kind": "bot_like", "raised": 10, "open": 10}]
    assert eng["segments"]["sizes"] == {"regular": 12}
    assert a["recommendations"]["coverage"] == 0.5
    assert a["sessions"]["values"] == 30 and a["sessions"]["learners"] == 12
    assert a["pipeline"]["processed"] == 60


def test_a_report_is_compared_with_the_previous_one(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", reports=ReportSettings(min_cell_size=3))
    store = _pipeline_store("sqlite", tmp_path)
    generate(config, store, "week", (D0 - timedelta(days=7)).isoformat(), ["md"])
    report = generate(config, store, "week", D0.isoformat(), ["md"])
    assert report.content["previous"]["start"] == (D0 - timedelta(days=7)).isoformat()
    text = Path(report.files[0]).read_text()
    assert "Against the previous week (2026-10-26): active learners new, events new" in text
    first = generate(config, store, "day", D0.isoformat(), ["md"])
    assert "No earlier day report to compare with." in Path(first.files[0]).read_text()


def test_the_default_date_is_the_last_complete_period() -> None:
    from gradvy_console.reports.build import parse_report_date

    wednesday = at(date(2026, 12, 2), 8)
    assert parse_report_date(None, UTC, wednesday, "day") == date(2026, 12, 1)
    assert period_bounds("week", parse_report_date(None, UTC, wednesday, "week")) == (
        date(2026, 11, 23), date(2026, 11, 29))
    assert period_bounds("month", parse_report_date(None, UTC, wednesday, "month")) == (
        date(2026, 11, 1), date(2026, 11, 30))


# --- through the reports queue, and from the console's operator --------------------------------
def test_the_task_runs_on_the_reports_queue_and_the_history_keeps_it(tmp_path: Path) -> None:
    import json

    from helpers import Worker, run_python

    env = env_for(tmp_path / "data")
    worker = Worker("reports", env, tmp_path, "--workers", "1")
    try:
        worker.wait_ready()
        out = run_python("""
            import json
            from gradvy_console.tasks.reports import generate_analytics_reports
            handle = generate_analytics_reports.delay("week", "2026-11-10", ["md", "json"])
            print(json.dumps(handle.get(timeout=60)))
        """, env, tmp_path)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        worker.stop()
    assert result["start"] == "2026-11-09" and result["headline"]["no_data"]
    assert sorted(Path(f).name for f in result["files"]) == ["report.json", "report.md"]
    history = json.loads(gradvy(["run", "reports", "--json"], env, tmp_path).stdout)
    assert [d["_id"] for d in history] == ["week-2026-11-09"]


def test_the_console_s_action_generates_and_is_logged(tmp_path: Path) -> None:
    from gradvy_console.config import load_config
    from gradvy_console.operator_actions import Operator

    config = load_config(env={"GRADVY_DATA_DIR": str(tmp_path / "data")})
    operator = Operator(config)
    done = operator.perform("generate_report", {"period": "month", "date": "2026-10-03"})
    assert done.ok and done.message.startswith("Month report 2026-10-01 to 2026-10-31: 0 active")
    bad = operator.perform("generate_report", {"period": "year"})
    assert not bad.ok and "Unknown period 'year'" in bad.message
    from gradvy_console import runtime

    log = runtime.store().actions()
    assert [(a["action"], a["ok"]) for a in log[:2]] == [("generate_report", False),
                                                         ("generate_report", True)]
