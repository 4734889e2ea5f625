"""Events processed per minute by type over the last hour (the pipeline's rate): one sparkline
row per type, every type drawn (up to a dozen; more are named below)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from .fmt import spark
from .sized import SizedStatic

PALETTE = ("cyan", "green", "magenta", "yellow", "blue", "red", "white")


class EventsChart(SizedStatic):
    series: reactive[tuple[tuple[str, tuple[int, ...]], ...]] = reactive(tuple)
    """(event type, counts per minute oldest first), busiest first."""
    max_rows: int = 12   # every type there is, bar a flood of unknown ones

    def render(self) -> Text:
        return self.sized(self._text())

    def _text(self) -> Text:
        if not any(sum(counts) for _t, counts in self.series):
            return Text("No events in the last hour.", style="dim")
        label_w = 20
        width = max(8, self.size.width - label_w - 10)
        top = max(max(counts) for _t, counts in self.series)
        text = Text()
        shown = self.series[: self.max_rows]
        for i, (event_type, counts) in enumerate(shown):
            if i:
                text.append("\n")
            text.append(f"{event_type[:label_w - 1]:<{label_w}}")
            text.append(spark(counts, width, top=float(top)), style=PALETTE[i % len(PALETTE)])
            text.append(f" {counts[-1]:>6,}/m", style="bold")
        rest = self.series[self.max_rows:]
        if rest:
            text.append(f"\n+{len(rest)} more types: "
                        + ", ".join(t for t, _c in rest), style="dim")
        minutes = len(self.series[0][1])
        text.append(f"\n{'':<{label_w}}last {min(minutes, width)} min, scale 0-{top:,}/min",
                    style="dim")
        return text
