"""The report as one self-contained HTML file: a Jinja2 template (autoescaped) and charts drawn
by matplotlib as inline SVG (no script, no external file: it opens from disk in any browser).
Imported only when an HTML report is built, so nothing else pays for matplotlib."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .text import Table, bin_label, cell_text, sections, title_of

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .build import Report

PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#57606a",
           "#116329", "#0550ae", "#953800")


def _svg(draw: Any, height: float = 2.6) -> str:
    """One chart as an inline <svg> element: `draw(ax)` fills a 9-inch-wide axes."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False}):
        fig = Figure(figsize=(9, height), layout="constrained")
        draw(fig.add_subplot())
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg"):]


def _days_axis(ax: Axes, days: list[str]) -> None:
    step = max(1, len(days) // 8)
    ax.set_xticks(range(0, len(days), step), [d[5:] for d in days[::step]])
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)


def _bars(ax: Axes, labels: list[str], values: list[int | None], what: str) -> None:
    ax.bar(range(len(labels)), [v or 0 for v in values], color=PALETTE[0])
    ax.set_xticks(range(len(labels)), labels)
    for i, v in enumerate(values):
        if v is None:
            ax.annotate("suppressed", (i, 0), ha="center", va="bottom", color="#8c959f",
                        fontsize=8)
    ax.set_ylabel(what)
    ax.grid(axis="y", color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)


def charts(report: Report) -> dict[str, str]:
    """Every chart of the report, by the name its section asks for."""
    c = report.content
    out: dict[str, str] = {}
    last30 = c["activity"]["last_30_days"]

    def active(ax: Axes) -> None:
        days = [d["day"] for d in last30]
        ax.plot(range(len(days)), [d["dau"] for d in last30], marker=".", label="daily active",
                color=PALETTE[0])
        ax.set_title("Active learners, the 30 days to the period's end", loc="left")
        _days_axis(ax, days)
    out["active"] = _svg(active)

    per_type = c["events_per_type"]
    days = sorted({d for counts in per_type.values() for d in counts})

    def types(ax: Axes) -> None:
        if len(days) > 1:
            for n, (t, counts) in enumerate(per_type.items()):
                ax.plot(range(len(days)), [counts.get(d, 0) for d in days], label=t,
                        color=PALETTE[n % len(PALETTE)])
            _days_axis(ax, days)
            ax.legend(ncols=4, fontsize=8, frameon=False, loc="upper left",
                      bbox_to_anchor=(0, -0.12))
        else:
            names = list(per_type)
            ax.barh(names, [sum(per_type[t].values()) for t in names], color=PALETTE[0])
            ax.invert_yaxis()
        ax.set_title("Events per type" + (" per day" if len(days) > 1 else ""), loc="left")
    if days:
        out["types"] = _svg(types, 3.2 if len(days) > 1 else 2.6)

    def distribution(dist: dict[str, Any], title: str, what: str, key: str) -> None:
        if not dist["values"]:
            return
        labels = [bin_label(b, open_end="+") for b in dist["bins"]]

        def draw(ax: Axes) -> None:
            _bars(ax, labels, [b[key] for b in dist["bins"]], what)
            ax.set_title(title, loc="left")
        out[title] = _svg(draw, 2.2)
    distribution(c["sessions"], "Learning session length (minutes)", "sessions", "count")
    distribution(c["engagement"]["engagement"], "Engagement score", "learners", "learners")
    distribution(c["engagement"]["risk"], "Dropout risk", "learners", "learners")
    named = {"sessions": ["Learning session length (minutes)"],
             "engagement": ["Engagement score"], "risk": ["Dropout risk"]}
    for name, titles in named.items():
        drawn = [out.pop(t) for t in titles if t in out]
        if drawn:
            out[name] = "".join(drawn)
    return out


def render(report: Report, every: dict[str, Table]) -> str:
    env = Environment(loader=PackageLoader("gradvy_console.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    k = report.content["min_cell_size"]
    drawn = charts(report)

    def cell(value: Any, shade: bool) -> dict[str, Any]:
        style = ""
        if shade and isinstance(value, float) and value <= 1:
            style = f"background: rgba(9, 105, 218, {value * 0.6:.2f})"
        return {"text": cell_text(value, k) if value != "" else "", "style": style,
                "suppressed": value is None}
    shown = []
    for section in sections(report):
        shown.append({
            "title": section.title, "lines": section.lines,
            "charts": [drawn[n] for n in section.charts if n in drawn],
            "tables": [{"caption": caption, "columns": every[name][0],
                        "rows": [[cell(v, name == "retention") for v in row]
                                 for row in every[name][1]]}
                       for name, caption in section.tables]})
    return env.get_template("report.html.j2").render(title=title_of(report), sections=shown)
