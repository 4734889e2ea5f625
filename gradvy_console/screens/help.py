"""`?`: the key bindings as they are actually mapped (after `[console.keys]`)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "Close")]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        """`rows`: (key as shown, description, binding id, where it applies)."""
        super().__init__(classes="dialog-screen")
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table("key", "does", "id (for \\[console.keys])", "where",
                      title="Key bindings (Esc closes; ctrl+p finds any action)",
                      expand=True)
        for row in self.rows:
            table.add_row(*row)
        with VerticalScroll(classes="dialog help"):
            yield Static(table)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
