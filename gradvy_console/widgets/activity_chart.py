"""Learner activity by event time: events per hour over the last day and per day over the last
60 days (the time the learner acted, not when the event was processed: a 60-day simulation is
60 days of history here, not one spike). Drawn with the block sparklines of `fmt.spark`: one
Text per refresh, cheaper than a plotting widget per series (bench/console.py)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from .fmt import spark
from .sized import SizedStatic

LABEL_W = 16


def activity_text(hours: tuple[int, ...], days: tuple[int, ...], width: int) -> Text:
    if not any(hours) and not any(days):
        return Text("No stored events in the last 60 days.", style="dim")
    room = max(8, width - LABEL_W - 24)
    text = Text()
    for i, (label, counts, unit) in enumerate((("by hour, 24 h", hours, "h"),
                                               ("by day, 60 d", days, "d"))):
        if i:
            text.append("\n")
        # The whole span always: where it has more buckets than cells, each cell sums a few.
        step = max(1, -(-len(counts) // room))
        cells = [sum(counts[j:j + step]) for j in range(0, len(counts), step)]
        text.append(f"{label:<{LABEL_W}}")
        text.append(spark(cells, room), style="cyan" if unit == "h" else "green")
        text.append(f" {sum(counts):>9,} peak {max(counts, default=0):,}/{unit}", style="bold")
    return text


class ActivityChart(SizedStatic):
    hours: reactive[tuple[int, ...]] = reactive(tuple)
    """Events per hour over the last 24 hours, oldest first."""
    days: reactive[tuple[int, ...]] = reactive(tuple)
    """Events per day over the last 60 days, oldest first (today so far last)."""

    def render(self) -> Text:
        return self.sized(self._text())

    def _text(self) -> Text:
        return activity_text(self.hours, self.days, self.size.width or 80)
