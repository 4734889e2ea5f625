"""A small table for the dashboard: one rich Table rendered per refresh, with a keyboard
cursor. Textual's DataTable renders cell by cell and was most of the cost of showing the
dashboard (bench/console.py); a handful of rows needs none of its machinery."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget


class PanelTable(Widget, can_focus=True):
    COLUMNS: Sequence[tuple[str, int | None]] = ()
    BINDINGS = [Binding("up", "move(-1)", "Up", show=False),
                Binding("down", "move(1)", "Down", show=False),
                Binding("home", "move(-1000)", show=False),
                Binding("end", "move(1000)", show=False)]
    DEFAULT_CSS = """
    PanelTable { height: auto; }
    """

    cursor: reactive[int] = reactive(0)
    """The highlighted row (when focused)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rows: list[tuple[str, list[str | Text]]] = []

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def fill(self, rows: Sequence[tuple[str, Sequence[str | Text]]]) -> None:
        shown = [(key, list(cells)) for key, cells in rows]
        if shown == self._rows:
            return
        selected = self.selected_key()
        layout = len(shown) != len(self._rows)
        self._rows = shown
        keys = [k for k, _c in shown]
        if selected in keys:
            self.cursor = keys.index(selected)
        else:
            self.cursor = min(self.cursor, max(0, len(shown) - 1))
        self.refresh(layout=layout)

    def selected_key(self) -> str | None:
        if not self._rows:
            return None
        return self._rows[min(self.cursor, len(self._rows) - 1)][0]

    def action_move(self, step: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + step))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def render(self) -> Table:
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False,
                      header_style="bold")
        last = len(self.COLUMNS) - 1
        for i, (label, width) in enumerate(self.COLUMNS):
            # Widths are minimums; the last column takes what is left (and is cut first).
            table.add_column(label, min_width=None if i == last else width, no_wrap=True,
                             ratio=1 if i == last else None, overflow="ellipsis",
                             justify="left" if width is None or width >= 10 else "right")
        for i, (_key, cells) in enumerate(self._rows):
            style = "reverse" if i == self.cursor and self.has_focus else ""
            table.add_row(*cells, style=style)
        return table
