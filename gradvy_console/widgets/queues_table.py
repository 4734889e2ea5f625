"""The seven queues: pending, scheduled, oldest waiting, processed and failed per minute,
p95 duration, consumers; a paused queue's name carries ⏸."""

from __future__ import annotations

from rich.text import Text

from ..console_source import QueueRow
from .fmt import count, duration
from .panel_table import PanelTable


class QueuesTable(PanelTable):
    COLUMNS = (("queue", 11), ("pending", 8), ("sched", 5), ("oldest", 7), ("done/m", 7),
               ("fail/m", 6), ("p95", 6), ("cons", 4))
    RIGHT = frozenset({"pending", "sched", "oldest", "done/m", "fail/m", "p95", "cons"})

    _shown: tuple[QueueRow, ...] | None = None

    def show(self, queues: tuple[QueueRow, ...]) -> None:
        if queues == self._shown:
            return          # the same figures: no rows to build (most refreshes when idle)
        self._shown = queues
        rows = []
        for q in queues:
            oldest = Text(duration(q.oldest_age_s),
                          style="yellow" if (q.oldest_age_s or 0) >= 10 else "")
            failed = Text(count(q.failed_per_min), style="red" if q.failed_per_min else "")
            consumers = Text(str(q.consumers), style="" if q.consumers else "bold red")
            name = Text.assemble(q.name, (" ⏸", "bold yellow")) if q.paused else q.name
            rows.append((q.name, (name, count(q.pending), count(q.scheduled), oldest,
                                  count(q.processed_per_min), failed, duration(q.p95_s),
                                  consumers)))
        self.fill(rows)

    def selected_queue(self) -> str | None:
        return self.selected_key()
