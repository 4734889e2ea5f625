"""The report as one self-contained HTML file: a Jinja2 template (autoescaped) and inline SVG
charts drawn here (no script, no external file: it opens from disk in any browser). Imported
only when an HTML report is built."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from jinja2 import Environment, PackageLoader, select_autoescape

if TYPE_CHECKING:
    from .build import Report

PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#57606a",
           "#116329")
TITLES = {"activity": "Activity", "events_per_type": "Events per type per day",
          "retention": "Retention: weekly cohorts, the share active each week after",
          "funnel_categories": "Funnel by category (view, enrol, start, complete)",
          "funnel_top_courses": "Funnel of the top courses", "quizzes": "Quizzes",
          "top_queries": "Top searches",
          "queues": "Queues in the period: task runs, failures, wait p95"}


def line_chart(series: dict[str, list[float]], labels: list[str], width: int = 900,
               height: int = 200) -> str:
    """Lines over the days, one per series, with the y axis from 0 to the largest value; the
    legend below the day labels, four names a row."""
    if not labels:
        return "<p class='note'>no data</p>"
    top = max((v for values in series.values() for v in values), default=0) or 1
    left, inner_w, inner_h = 50, width - 80, height - 20
    legend_rows = (len(series) + 3) // 4
    total_h = 10 + inner_h + 24 + 16 * legend_rows
    step = inner_w / max(1, len(labels) - 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
             f'viewBox="0 0 {width} {total_h}" role="img">']
    for frac in (0, 0.5, 1):
        y = 10 + inner_h * (1 - frac)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + inner_w}" y2="{y:.1f}" '
                     'stroke="#d0d7de"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{top * frac:,.0f}</text>')
    marks = sorted({0, len(labels) // 2, len(labels) - 1})
    for i in marks:
        anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
        parts.append(f'<text x="{left + i * step:.1f}" y="{10 + inner_h + 16}" '
                     f'font-size="11" text-anchor="{anchor}">{escape(labels[i])}</text>')
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{left + i * step:.1f},{10 + inner_h * (1 - v / top):.1f}"
                          for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"><title>{escape(name)}</title></polyline>')
        parts.append(f'<text x="{left + (n % 4) * 210}" y="{10 + inner_h + 38 + 16 * (n // 4)}"'
                     f' font-size="12" fill="{colour}">&#9632; {escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: Any, shade: bool = False) -> dict[str, Any]:
    if value is None:
        return {"text": "<10", "suppressed": True}
    if isinstance(value, float):
        style = (f"background: rgba(9, 105, 218, {min(1.0, value) * 0.6:.2f})"
                 if shade else "")
        return {"text": f"{value:.1%}" if value <= 1 else f"{value:,.2f}", "style": style}
    if isinstance(value, int):
        return {"text": f"{value:,}"}
    return {"text": str(value)}


def render(report: Report, tables: dict[str, tuple[list[str], list[list[Any]]]]) -> str:
    env = Environment(loader=PackageLoader("gradvy_console.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    c = report.content
    days = c["activity"]["days"]
    per_type = c["events_per_type"]
    type_days = sorted({d for counts in per_type.values() for d in counts})
    p = c["pipeline"]
    title = {"day": "Daily", "week": "Weekly", "month": "Monthly"}[report.period]
    span = report.start.isoformat() if report.start == report.end else \
        f"{report.start.isoformat()} to {report.end.isoformat()}"
    shown = [(name, {"title": TITLES[name], "columns": columns,
                     "rows": [[_cell(v, shade=name == "retention") for v in row]
                              for row in rows]})
             for name, (columns, rows) in tables.items()]
    return env.get_template("report.html.j2").render(
        title=f"{title} analytics report: {span}", c=c, p=p,
        generated=datetime.fromtimestamp(report.generated_ms / 1000).astimezone().isoformat(
            timespec="seconds"),
        stickiness="no data" if c["activity"]["stickiness"] is None
        else f"{c['activity']['stickiness']:.1%}",
        dau_chart=line_chart({"daily active": [d["dau"] for d in days],
                              "weekly active": [d["wau"] for d in days]},
                             [d["day"] for d in days]),
        types_chart=line_chart({t: [counts.get(d, 0) for d in type_days]
                                for t, counts in per_type.items()}, type_days),
        tables=shown,
        reasons=", ".join(f"{k} {v:,}" for k, v in p["dead_lettered_by_reason"].items())
        or "none",
        quality="not assessed" if p["quality_score"] is None else f"{p['quality_score']}/100")
