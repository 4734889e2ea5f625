"""Alerts: active ones and the history; acknowledge the selected one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from ..widgets.fmt import when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen


class AlertsTable(PanelTable):
    COLUMNS = (("raised", 11), ("severity", 8), ("state", 19), ("ack", 3), ("message", None))


class AlertsScreen(ListScreen):
    SCREEN_TITLE = "Alerts: active first, then the history"
    FILTER = "filter: severity, active or cleared, message"
    BINDINGS = [Binding("a", "acknowledge", "Acknowledge", id="alert.acknowledge")]

    def compose_list(self) -> Iterable[Widget]:
        yield AlertsTable(id="alert-table")

    def load(self) -> Any:
        alerts = self.console.source.alerts(active_only=False)
        return sorted(alerts, key=lambda a: (a.get("cleared_ms") is not None, -a["raised_ms"]))

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        rows = []
        for a in data:
            active = a.get("cleared_ms") is None
            if not self.matches(a["severity"], "active" if active else "cleared",
                                a.get("kind"), a["message"]):
                continue
            state = Text("ACTIVE", style="bold red" if a["severity"] == "critical"
                         else "bold yellow") if active else Text(
                f"cleared {when(a['cleared_ms'], now)}", style="dim")
            rows.append((a["alert_id"], (when(a["raised_ms"], now), a["severity"], state,
                                         "yes" if a.get("acknowledged_ms") else "",
                                         a["message"])))
        self.query_one(AlertsTable).fill(rows)
        n_active = sum(1 for a in data if a.get("cleared_ms") is None)
        self.query_one("#screen-title", Static).update(
            f"{self.SCREEN_TITLE} ({n_active} active, {len(rows)} of {len(data)} shown)")

    def action_acknowledge(self) -> None:
        alert = self.selected_row("alert_id")
        if alert is None:
            self.notify("Select an alert to acknowledge.", severity="warning")
            return
        if alert.get("acknowledged_ms"):
            self.notify("That alert is already acknowledged.")
            return
        self.operate("ack_alert", f"Acknowledge {alert['alert_id']}",
                        alert_id=alert["alert_id"])
