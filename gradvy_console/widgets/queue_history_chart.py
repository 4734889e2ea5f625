"""Each queue's depth over the last hour (the pool's 5-second samples), with its depth now,
its peak and its oldest waiting age now; idle queues share one line."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from ..console_source import QueueHistory
from .fmt import duration, spark
from .sized import SizedStatic

LABEL_W = 12


def queue_history_text(history: tuple[QueueHistory, ...], width: int) -> Text:
    if not history or not any(h.depths for h in history):
        return Text("No samples yet: the pool measures the queues every 5 s.", style="dim")
    room = max(8, width - LABEL_W - 30)
    busy = [h for h in history if any(h.depths)]
    idle = [h.name for h in history if not any(h.depths)]
    text = Text()
    for i, h in enumerate(busy):
        if i:
            text.append("\n")
        # Down-sampled to the room there is: each cell the peak of its share of the hour.
        step = max(1, -(-len(h.depths) // room))
        cells = [max(h.depths[j:j + step]) for j in range(0, len(h.depths), step)]
        oldest = h.oldest_ages[-1] if h.oldest_ages else None
        text.append(f"{h.name:<{LABEL_W}}")
        text.append(spark(cells, room), style="yellow")
        text.append(f" now {h.depths[-1]:>7,} peak {max(h.depths):,}", style="bold")
        if oldest:
            text.append(f" oldest {duration(oldest)}", style="yellow" if oldest >= 10 else "")
    if idle:
        text.append(("\n" if busy else "") + "empty all hour: " + ", ".join(idle),
                    style="dim")
    return text


class QueueHistoryChart(SizedStatic):
    history: reactive[tuple[QueueHistory, ...]] = reactive(tuple)
    """Per queue, depth and oldest age in each sample of the last hour, oldest first."""

    def render(self) -> Text:
        return self.sized(self._text())

    def _text(self) -> Text:
        return queue_history_text(self.history, self.size.width or 80)
