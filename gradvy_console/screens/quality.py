"""Data quality: the latest assessment's score and checks (the highlighted check's evidence
below them), each event type's daily volume against its expected band, dead letters by reason
over the assessments, and the properties that are new or change kind; run the assessment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from ..widgets.fmt import status_text, when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen

_BARS = " ▁▂▃▄▅▆▇█"


def spark(values: list[float], top: float | None = None) -> str:
    """A text sparkline: one block per value, scaled to `top` (default the largest)."""
    high = top if top is not None else max(values, default=0.0)
    if high <= 0:
        return "".join(_BARS[0] for _ in values)
    return "".join(_BARS[min(8, round(8 * v / high))] for v in values)


class ChecksTable(PanelTable):
    COLUMNS = (("check", 15), ("result", 6), ("finding", None))


class VolumeTable(PanelTable):
    COLUMNS = (("event type", 18), ("last 21 days", 21), ("yesterday", 9),
               ("expected", 10), ("", None))
    RIGHT = frozenset({"yesterday", "expected"})


class DeadLetterTable(PanelTable):
    COLUMNS = (("reason", 18), ("per assessment (oldest left)", 28), ("latest hour", None))


class SchemaTable(PanelTable):
    COLUMNS = (("property", 30), ("change", 14), ("events", None))


class QualityScreen(ListScreen):
    SCREEN_TITLE = "Data quality: checks, volume against expected, dead letters, schema"
    FOCUS_FIRST = "ChecksTable"
    BINDINGS = [Binding("a", "assess", "Assess", id="quality.assess")]
    # console.tcss keeps the checks at six rows at least and their evidence at two lines.

    def compose_list(self) -> Iterable[Widget]:
        yield Static("", id="quality-summary", classes="detail")
        yield ChecksTable(id="quality-checks")
        yield Static("", id="quality-evidence", classes="detail")
        yield Static("Daily volume by event time; expected: the median of the 14 days before",
                     classes="section")
        yield VolumeTable(id="quality-volume")
        yield Static("Dead letters by reason, per assessment", classes="section")
        yield DeadLetterTable(id="quality-dead")
        yield Static("New properties and properties changing kind", classes="section")
        yield SchemaTable(id="quality-schema")

    def load(self) -> Any:
        return self.console.source.quality()

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        latest = data.get("latest")
        summary = self.query_one("#quality-summary", Static)
        rows: list[tuple[str, list[str | Text]]] = []
        if latest is None:
            summary.update(Text("No assessment yet: a runs it (it also runs every hour).",
                                style="dim"))
        elif latest.get("no_data"):
            summary.update(Text(f"No data yet (assessed {when(latest['at_ms'], now)}).",
                                style="dim"))
        else:
            line = Text(f"Score {latest['score']}/100 ")
            line.append_text(status_text(latest["status"]))
            line.append(f"  assessed {when(latest['at_ms'], now)}, "
                        f"{latest['scanned']:,} events read, {latest['seconds']:.1f} s")
            summary.update(line)
            rows = [(c["check"], [c["check"], status_text(c["status"]), c["summary"]])
                    for c in latest["checks"]]
        self.query_one(ChecksTable).fill(rows)
        self._show_evidence()
        volume = []
        for row in data.get("volume", []):
            flag = Text(row["flag"], style="bold red" if row["flag"] else "")
            expected = "-" if row["expected"] is None else f"{row['expected']:,.0f}"
            volume.append((row["event_type"], [row["event_type"], spark(row["days"]),
                                               f"{row['yesterday']:,}", expected, flag]))
        self.query_one(VolumeTable).fill(volume)
        dead = [(reason, [reason, spark(series), f"{series[-1] if series else 0:,}"])
                for reason, series in sorted(data.get("dead_letters", {}).items())]
        self.query_one(DeadLetterTable).fill(dead)
        schema = [(f"{r['name']}|{r['change']}", [r["name"], r["change"], f"{r['count']:,}"])
                  for r in data.get("schema", [])]
        self.query_one(SchemaTable).fill(schema)

    def on_panel_table_highlighted(self, message: PanelTable.Highlighted) -> None:
        if isinstance(message.table, ChecksTable):
            self._show_evidence()

    def _show_evidence(self) -> None:
        latest = (self.data or {}).get("latest") or {}
        key = self.query_one(ChecksTable).selected_key()
        check = next((c for c in latest.get("checks", []) if c["check"] == key), None)
        box = self.query_one("#quality-evidence", Static)
        if check is None or not check.get("evidence"):
            box.update("")
            return
        text = orjson.dumps(check["evidence"], option=orjson.OPT_SORT_KEYS).decode()
        room = max(60, 2 * (self.size.width - 2) - len(check["check"]) - 16)
        box.update(Text(f"{check['check']} evidence: {text[:room]}"
                        + (" ..." if len(text) > room else ""), style="dim"))

    def action_assess(self) -> None:
        self.operate("assess_quality", "Data-quality assessment")
