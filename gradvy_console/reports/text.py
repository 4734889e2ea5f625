"""The report as read: its sections in reading order (sentences, tables, the charts the HTML
draws), its tables (also the CSV files) and its Markdown. Shared by every reader format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..analytics.behavior import INTERVENTION_RISK

if TYPE_CHECKING:
    from .build import Report

Table = tuple[list[str], list[list[Any]]]


def cell_text(value: Any, min_cell: int) -> str:
    """A table cell as read: None is a suppressed (or undefined) cell, shares as percentages."""
    if value is None:
        return f"<{min_cell}"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def bin_label(b: dict[str, Any], unit: str = "", open_end: str = " or more") -> str:
    """A distribution bin as read: "5-15 min", or "120 min or more" for the last."""
    return (f"{b['from']:g}-{b['to']:g}{unit}" if b["to"] is not None
            else f"{b['from']:g}{unit}{open_end}")


def _bins(dist: dict[str, Any], unit: str = "", counts: bool = False) -> list[list[Any]]:
    """A distribution's rows: the bin, (how many values,) how many learners."""
    return [[bin_label(b, unit), *([b["count"]] if counts else []), b["learners"]]
            for b in dist["bins"]] if dist["values"] else []


def tables(report: Report) -> dict[str, Table]:
    """Every table of the report: name -> (columns, rows). The CSV files, and the tables of the
    Markdown and the HTML."""
    c = report.content
    act = c["activity"]["days"]
    cols = ["day", "dau", "wau", "mau", "new", "returning", "resurrecting", "dormant"]
    out: dict[str, Table] = {"activity": (cols, [[d[k] for k in cols] for d in act])}
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
    out["session_minutes"] = (["minutes", "sessions", "learners"],
                              _bins(c["sessions"], " min", counts=True))
    eng = c["engagement"]
    out["engagement"] = (["engagement score", "learners"], _bins(eng["engagement"]))
    out["velocity"] = (["velocity (completion per minute)", "learners"], _bins(eng["velocity"]))
    out["dropout_risk"] = (["dropout risk", "learners"], _bins(eng["risk"]))
    out["anomalies"] = (["kind", "raised in the period", "open now"],
                        [[a["kind"], a["raised"], a["open"]] for a in eng["anomalies"]])
    seg = eng["segments"]
    out["segments"] = (["segment", "learners"], [[k, v] for k, v in seg["sizes"].items()])
    out["segment_moves"] = (["move", "learners"], [[k, v] for k, v in seg["moves"].items()])
    out["queues"] = (["queue", "task runs", "failed", "wait p95 (s)"],
                     [[q, v["runs"], v["failed"], "-" if v["wait_p95_s"] is None
                       else f"{v['wait_p95_s']:.3f}"]
                      for q, v in c["health"]["queues"].items()])
    return out


@dataclass
class Section:
    """A part of the report as every reader format shows it: a title, sentences, then tables
    (by name, with their captions) and, in HTML, charts (by name)."""
    title: str
    lines: list[str]
    tables: list[tuple[str, str]] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1%}"


def _num(value: int | None, min_cell: int) -> str:
    return f"fewer than {min_cell}" if value is None else f"{value:,}"


def _change(now: Any, before: Any, share: bool = False) -> str:
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return "not comparable"
    if share:
        return f"{(now - before) * 100:+.1f} points"
    if before == 0:
        return "new" if now else "unchanged"
    return f"{(now - before) / before:+.1%}"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def title_of(report: Report) -> str:
    name = {"day": "Daily", "week": "Weekly", "month": "Monthly"}[report.period]
    span = report.start.isoformat() if report.start == report.end else \
        f"{report.start.isoformat()} to {report.end.isoformat()}"
    return f"{name} analytics report: {span}"


def sections(report: Report) -> list[Section]:
    """The report's reading order, shared by the Markdown and the HTML."""
    c, k = report.content, report.content["min_cell_size"]
    act, eng, p = c["activity"], c["engagement"], c["pipeline"]
    head = [f"Time zone {report.zone}; a cell about fewer than {k} learners is suppressed and "
            f"shown as <{k}. Generated {_when(report.generated_ms)}."]
    if c["no_data"]:
        head.append("No data: no event was stored for this period.")
    head.append(f"{act['active_learners']:,} active learners and {c['events']:,} events; "
                f"stickiness (mean daily active / monthly active) {_pct(act['stickiness'])}.")
    prev = c.get("previous")
    if prev:
        was = prev["headline"]
        head.append(
            f"Against the previous {report.period} ({prev['start']}): active learners "
            f"{_change(act['active_learners'], was.get('active_learners'))}, events "
            f"{_change(c['events'], was.get('events'))}, stickiness "
            f"{_change(act['stickiness'], was.get('stickiness'), share=True)}, learners at "
            f"risk {_change(eng['at_risk'], was.get('at_risk'))}.")
    else:
        head.append(f"No earlier {report.period} report to compare with.")
    search, sessions = c["searches"], c["sessions"]
    learning = [f"Searches: {search['searches']:,}; with no result: "
                f"{_pct(search['no_result_share'])}. Top searches list the queries of at least "
                f"{k} learners."]
    if sessions["values"]:
        median = "suppressed" if sessions["median"] is None else f"{sessions['median']:.1f} min"
        p90 = "suppressed" if sessions["p90"] is None else f"{sessions['p90']:.1f} min"
        learning.append(f"Learning sessions: {sessions['values']:,}, median length {median}, "
                        f"90th percentile {p90}.")
    else:
        learning.append("Learning sessions: no data.")
    risk = [f"Engagement and velocity from the profiles of the period's active learners as of "
            f"its end; dropout risk from each one's newest stored analysis "
            f"({eng['analysed']:,} of them analysed)."]
    if eng["analysed"]:
        sources = ", ".join(f"{_num(n, k)} by the {s}" for s, n in
                            eng["at_risk_by_source"].items()) or "none"
        risk.append(f"At risk (risk above {INTERVENTION_RISK:.0%}): "
                    f"{_num(eng['at_risk'], k)} ({sources}); interventions raised in the "
                    f"period: {_num(eng['interventions'], k)}.")
    else:
        risk.append("No stored analysis yet: run 'gradvy run analyze-users'.")
    seg = eng["segments"]
    since = (f"the previous report ({eng['segments_since']})" if eng["segments_since"]
             else "the period's start")
    risk.append(f"Learners whose segment changed since {since}: {_num(seg['moved'], k)}.")
    recs = c["recommendations"]
    rec_lines = []
    ev = recs["evaluation"]
    if ev is None:
        rec_lines.append("No offline evaluation yet ('gradvy run evaluate' on a simulation).")
    else:
        ratio = "no data" if ev["ndcg_vs_popular"] is None else f"{ev['ndcg_vs_popular']:.2f}x"
        rec_lines.append(f"Latest evaluation ({_when(ev['at_ms'])}, {ev['users'] or 0:,} "
                         f"learners): NDCG@10 {ratio} the popularity baseline; anomalies "
                         f"precision {_pct(ev['anomaly_precision'])}, recall "
                         f"{_pct(ev['anomaly_recall'])}; dropout AUC "
                         f"{ev['dropout_auc'] if ev['dropout_auc'] is not None else 'no data'}"
                         f" (rule baseline {ev['rule_baseline_auc']}).")
    rec_lines.append(f"Catalogue coverage: {recs['courses_recommended']:,} of "
                     f"{recs['catalogue']:,} courses ({_pct(recs['coverage'])}) are in the "
                     f"stored recommendations of {recs['learners']:,} learners.")
    reasons = ", ".join(f"{r_} {v:,}" for r_, v in p["dead_lettered_by_reason"].items()) \
        or "none"
    raised = ", ".join(f"{a} {v:,}" for a, v in c["health"]["alerts_raised"].items()) or "none"
    quality = "not assessed" if p["quality_score"] is None else f"{p['quality_score']}/100"
    audit = p["privacy_audit"]
    privacy = "not audited" if audit is None else \
        f"{audit['status']} (audited {_when(audit['at_ms'])})"
    deaths = c["health"]["alerts_raised"].get("consumer_died", 0)
    health = [f"In the period: alerts raised: {raised}; consumers restarted after dying "
              f"{deaths:,}, by an operator {p['operator_restarts']:,}.",
              f"Since the start: processed {p['processed']:,}; dead-lettered "
              f"{p['dead_lettered']:,} ({reasons}); duplicates {p['duplicates']:,}; without "
              f"consent {p['no_consent']:,}. Data quality {quality}; privacy audit {privacy}."]
    if c["suppressed"]:
        health.append(f"{len(c['suppressed'])} cells were suppressed (about fewer than {k} "
                      "learners).")
    return [
        Section("", head),
        Section("Activity", [], [("activity", "Active learners per day and lifecycle")],
                ["active"]),
        Section("Events per type", [], [("events_per_type", "Events per type per day")],
                ["types"]),
        Section("Retention", ["Learners first seen in a week (from Monday) and the share of "
                              "them active in each week after."],
                [("retention", "Weekly cohorts")]),
        Section("Learning", learning,
                [("funnel_categories", "Funnel by category: view, enrol, start, complete"),
                 ("funnel_top_courses", "Funnel of the top courses (by learners who viewed)"),
                 ("quizzes", "Quizzes by category"), ("top_queries", "Top searches"),
                 ("session_minutes", "Learning session lengths")], ["sessions"]),
        Section("Engagement and risk", risk,
                [("engagement", "Engagement score"), ("velocity", "Learning velocity"),
                 ("dropout_risk", "Dropout risk"), ("anomalies", "Anomalies by kind"),
                 ("segments", "Rule segments now"), ("segment_moves", "Segment moves")],
                ["engagement", "risk"]),
        Section("Recommendations", rec_lines),
        Section("Pipeline health", health, [("queues", "Queues in the period: task runs, "
                                                       "failures, wait p95")]),
    ]


def _md_table(columns: list[str], rows: list[list[Any]], min_cell: int) -> str:
    if not rows:
        return "no data\n"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell_text(v, min_cell) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown(report: Report) -> str:
    k = report.content["min_cell_size"]
    every = tables(report)
    parts = [f"# {title_of(report)}\n"]
    for section in sections(report):
        if section.title:
            parts.append(f"## {section.title}\n")
        parts += [f"{line}\n" for line in section.lines]
        for name, caption in section.tables:
            columns, rows = every[name]
            parts.append(f"### {caption}\n\n{_md_table(columns, rows, k)}")
    return "\n".join(parts)


