"""Reports: the history of generated reports; the highlighted one below it, with terminal charts
(active learners over 30 days, events by type per day, the retention matrix shaded) and its
Markdown; generate one now (a dialog for the period and the date)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Markdown, Static

from ..widgets.fmt import count, spark, when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen


class HistoryTable(PanelTable):
    COLUMNS = (("period", 6), ("from", 10), ("generated", 11), ("active", 7), ("events", 9),
               ("at risk", 7), ("quality", None))
    RIGHT = frozenset({"active", "events", "at risk"})


def _shade(share: float | None) -> Text:
    if share is None:
        return Text("<k", style="dim")
    level = int(40 + 150 * min(1.0, max(0.0, share)))
    return Text(f"{share:>4.0%}", style=f"on rgb(20,{level // 2 + 20},{level})")


def charts(content: dict[str, Any], width: int) -> Group:
    """The report's figures as terminal charts: sparklines and a shaded retention table."""
    room = max(10, width - 26)
    parts: list[Any] = []
    last30 = [d["dau"] for d in content["activity"].get("last_30_days", [])]
    if last30:
        line = Text("active, 30 days".ljust(21), style="bold")
        line.append(spark(last30, min(room, 30)))
        line.append(f"  top {max(last30):,}, last {last30[-1]:,}")
        parts.append(line)
    per_type = content.get("events_per_type", {})
    days = sorted({d for counts in per_type.values() for d in counts})
    if len(days) > 1:
        top = max((v for counts in per_type.values() for v in counts.values()), default=0)
        parts.append(Text("events per type per day (one scale)", style="bold"))
        for etype, counts in per_type.items():
            line = Text(f"  {etype[:18]}".ljust(21))
            line.append(spark([counts.get(d, 0) for d in days], min(room, 31), top))
            line.append(f"  {sum(counts.values()):,}")
            parts.append(line)
    cohorts = content.get("retention", [])
    if cohorts:
        weeks = max(len(c["weeks"]) for c in cohorts)
        parts.append(Text("retention: weekly cohorts, the share active k weeks after",
                          style="bold"))
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("cohort")
        table.add_column("size", justify="right")
        for k in range(min(weeks, max(1, (width - 20) // 6))):
            table.add_column(f"w{k}", justify="right")
        for c in cohorts:
            shown = c["weeks"][:len(table.columns) - 2]
            table.add_row(c["cohort"], "<k" if c["size"] is None else f"{c['size']:,}",
                          *(_shade(v) for v in shown))
        parts.append(table)
    return Group(*parts)


class ReportsScreen(ListScreen):
    SCREEN_TITLE = "Reports: the history (Enter reads the highlighted one, g generates one)"
    FOCUS_FIRST = "HistoryTable"
    BINDINGS = [Binding("g", "generate", "Generate", id="reports.generate"),
                Binding("enter", "read", "Read", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[str, int] | None = None

    def compose_list(self) -> Iterable[Widget]:
        yield HistoryTable(id="reports-history")
        with VerticalScroll(id="report-body"):
            yield Static("", id="report-charts")
            yield Markdown("", id="report-text")

    def load(self) -> Any:
        return self.console.source.reports()

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        rows = []
        for doc in data:
            head = doc.get("headline", {})
            quality = head.get("quality_score")
            rows.append((doc["_id"], [
                doc["period"], doc["start"], when(doc["generated_ms"], now),
                count(head.get("active_learners")), count(head.get("events")),
                "-" if "at_risk" not in head else "<k" if head["at_risk"] is None
                else count(head["at_risk"]),
                "-" if quality is None else f"{quality}/100"]))
        self.query_one(HistoryTable).fill(rows)
        if not data:
            self.query_one("#report-charts", Static).update(Text(
                "No report yet: g generates one (the daily one also runs at 06:00).",
                style="dim"))
        self._show_selected()

    def on_panel_table_highlighted(self, message: PanelTable.Highlighted) -> None:
        self._show_selected()

    def _selected(self) -> dict[str, Any] | None:
        key = self.query_one(HistoryTable).selected_key()
        return next((d for d in self.data or [] if d["_id"] == key), None)

    def _show_selected(self) -> None:
        doc = self._selected()
        if doc is None or self._shown == (doc["_id"], doc["generated_ms"]):
            return
        self._shown = (doc["_id"], doc["generated_ms"])
        self._read(doc)

    @work(thread=True, exclusive=True, group="report")
    def _read(self, doc: dict[str, Any]) -> None:
        try:
            found = self.console.source.report_text(doc)
        except Exception as exc:  # noqa: BLE001 - an outage is shown, never fatal
            found = {"markdown": None, "content": None, "error": str(exc)}
        self.app.call_from_thread(self._show_report, doc, found)

    def _show_report(self, doc: dict[str, Any], found: dict[str, Any]) -> None:
        box = self.query_one("#report-charts", Static)
        if found.get("content"):
            box.update(charts(found["content"], self.size.width))
        else:
            box.update(Text(found.get("error") or "The report's JSON file was not written or "
                            "is gone: its charts cannot be drawn.", style="dim"))
        text = found.get("markdown") or (
            f"*The Markdown file of {doc['_id']} was not written or is gone.*")
        self.query_one("#report-text", Markdown).update(text)
        self.query_one("#report-body", VerticalScroll).scroll_home(animate=False)

    def action_read(self) -> None:
        self.query_one("#report-body", VerticalScroll).focus()

    def action_generate(self) -> None:
        self.console.ask_report()
