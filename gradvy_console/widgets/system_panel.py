"""CPU, memory and disk with sparklines from the monitoring history, and the load."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from ..console_source import SystemRow
from .fmt import clock, spark
from .sized import SizedStatic


class SystemPanel(SizedStatic):
    system: reactive[SystemRow | None] = reactive(None)
    """The latest system measurement with its history (None: not measured yet)."""
    now_ms: int = 0

    def show(self, row: SystemRow | None, now_ms: int) -> None:
        """Repaint only for a new measurement (every 5 s), not every refresh: the text says
        when it was measured, not how long ago."""
        self.now_ms = now_ms
        self.system = row

    def render(self) -> Text:
        return self.sized(self._text())

    def _text(self) -> Text:
        row = self.system
        if row is None:
            return Text("System: not measured yet (the pool measures every 5 s; m runs it now)",
                        style="dim")
        width = max(4, self.size.width - 16)
        text = Text()
        for label, value, history in (("CPU", row.cpu_percent, row.cpu_history),
                                      ("Mem", row.memory_percent, row.memory_history),
                                      ("Disk", row.disk_percent, row.disk_history)):
            shown = "  n/a" if value is None else f"{value:5.1f}%"
            style = "red" if (value or 0) >= 90 else "yellow" if (value or 0) >= 75 else "green"
            text.append(f"{label:<5}{shown} ", style="bold")
            text.append(spark(history, width, top=100.0), style=style)
            text.append("\n")
        load = " ".join(f"{x:.2f}" for x in row.load)
        text.append(f"Load {load} ({row.cores} cores), measured {clock(row.measured_ms)[6:]}",
                    style="dim")
        return text
