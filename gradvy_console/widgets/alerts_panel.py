"""Active alerts, critical first."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from ..console_source import AlertRow
from .fmt import age
from .sized import SizedStatic

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class AlertsPanel(SizedStatic):
    alerts: reactive[tuple[AlertRow, ...]] = reactive(tuple)
    """Active alerts from the latest snapshot."""
    now_ms: int = 0
    _shown: tuple[object, ...] = ()

    def show(self, alerts: tuple[AlertRow, ...], now_ms: int) -> None:
        """Repaint only when an alert or one of the ages it shows changes (about once a
        minute when nothing happens), not on every refresh."""
        self.now_ms = now_ms
        key = (alerts, tuple(age(a.raised_ms, now_ms) for a in alerts))
        if key != self._shown:
            self._shown = key
            self.alerts = alerts
            self.refresh()

    def render(self) -> Text:
        return self.sized(self._text())

    def _text(self) -> Text:
        if not self.alerts:
            return Text("No active alerts.", style="green")
        text = Text()
        ordered = sorted(self.alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, 9),
                                                     -a.raised_ms))
        for i, alert in enumerate(ordered):
            style = "bold red" if alert.severity == "critical" else "bold yellow"
            if i:
                text.append("\n")
            text.append(f"{alert.severity.upper():<8} ", style=style)
            text.append(alert.message)
            text.append(f"  {age(alert.raised_ms, self.now_ms)} ago"
                        + (", acknowledged" if alert.acknowledged else ""), style="dim")
        return text
