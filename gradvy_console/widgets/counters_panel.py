"""Pipeline counters: pending, processed, dead-lettered, duplicates, no consent, users."""

from __future__ import annotations

from rich.table import Table
from textual.reactive import reactive
from textual.widgets import Static

from ..console_source import Counters
from .fmt import count


class CountersPanel(Static):
    counters: reactive[Counters] = reactive(Counters)
    """The pipeline's counters from the latest snapshot."""

    def render(self) -> Table:
        c = self.counters
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("Pending", count(c.pending))
        table.add_row("Processed", count(c.processed))
        table.add_row("Dead-lettered", f"[red]{count(c.dead_lettered)}[/]" if c.dead_lettered
                      else "0")
        table.add_row("Duplicates", count(c.duplicates))
        table.add_row("No consent", count(c.no_consent))
        table.add_row("Users", count(c.users))
        return table
