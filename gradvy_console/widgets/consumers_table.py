"""Consumers: queue, host, pid, state, uptime, CPU, memory, restarts, current task."""

from __future__ import annotations

from rich.text import Text

from ..console_source import ConsumerRow
from .fmt import age, size
from .panel_table import PanelTable

STATE_STYLE = {"running": "green", "dead": "bold red", "backoff": "yellow",
               "crash_loop": "bold red", "stopped": "dim", "stopping": "yellow"}


class ConsumersTable(PanelTable):
    COLUMNS = (("queue", 11), ("host", 8), ("pid", 6), ("state", 8), ("up", 5), ("cpu", 4),
               ("mem", 8), ("rst", 3), ("task", 22))
    RIGHT = frozenset({"pid", "up", "cpu", "mem", "rst"})
    NARROW = 85   # below this width the task column would get under ~12 characters

    def hidden_columns(self) -> frozenset[str]:
        """Narrow terminals: the host column goes when every consumer is on one host (the
        header names it), so the current task keeps its room."""
        if self.size.width < self.NARROW and len({cells[1] for _k, cells in self._rows}) <= 1:
            return frozenset({"host"})
        return frozenset()

    _shown: tuple[object, ...] = ()

    def show(self, consumers: tuple[ConsumerRow, ...], now_ms: int) -> None:
        key = (consumers, tuple(age(c.started_ms, now_ms) for c in consumers))
        if key == self._shown:
            return          # nothing shown would change
        self._shown = key
        rows = []
        for c in consumers:
            cpu = "-" if c.cpu_percent is None else f"{c.cpu_percent:.0f}%"
            rows.append((f"{c.host}:{c.pid}:{c.queue}", (
                c.queue, c.host, str(c.pid or "-"),
                Text(c.state, style=STATE_STYLE.get(c.state, "")),
                age(c.started_ms, now_ms) if c.state == "running" else "-", cpu,
                size(c.rss_bytes), str(c.restarts), c.current_task or "")))
        self.fill(rows)
