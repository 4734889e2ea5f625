"""The console's tables: one rich Table rendered per refresh, only the rows in view, with a
keyboard cursor.

Textual's DataTable renders cell by cell and drops its cell cache whenever styles are
recomputed, which a screen switch does: showing a screen with one cost 50-150 ms of CPU
(bench/console.py). These tables show tens of rows at a time and need none of its machinery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class PanelTable(Widget, can_focus=True):
    COLUMNS: Sequence[tuple[str, int | None]] = ()
    RIGHT: frozenset[str] = frozenset()      # columns aligned right (numbers)
    BINDINGS = [Binding("up", "move(-1)", "Up", show=False),
                Binding("down", "move(1)", "Down", show=False),
                Binding("pageup", "page(-1)", show=False),
                Binding("pagedown", "page(1)", show=False),
                Binding("home", "move(-1000000)", show=False),
                Binding("end", "move(1000000)", show=False),
                Binding("i", "row_detail", "Whole row (cut)", id="table.row")]
    DEFAULT_CSS = """
    PanelTable { height: auto; }
    """

    cursor: reactive[int] = reactive(0)
    """The highlighted row (drawn when the table has focus)."""

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another row."""

        table: PanelTable
        key: str | None

    @dataclass
    class RowDetail(Message):
        """Show the selected row whole: (column, value) for every column."""

        table: PanelTable
        cells: list[tuple[str, str | Text]]

    cut = False
    """Whether the last render left part of a row out (the key bar then offers `i`)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rows: list[tuple[str, list[str | Text]]] = []
        self._top = 0

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

    def watch_cursor(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Highlighted(self, self.selected_key()))

    def _visible_rows(self) -> int:
        """Rows that fit (the header takes one line); all of them when the height is auto.
        (An auto height is measured from what `render` draws: windowing it by the current
        height would never let a table that lost a row grow back.)"""
        rule = self.styles.height
        height = self.size.height
        if rule is None or rule.is_auto or height <= 1:
            return max(1, len(self._rows))
        return height - 1

    def action_move(self, step: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + step))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * self._visible_rows())

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_row_detail(self) -> None:
        if self._rows:
            cells = self._rows[min(self.cursor, len(self._rows) - 1)][1]
            self.post_message(self.RowDetail(self, [(label, cells[i]) for i, (label, _w)
                                                    in enumerate(self.COLUMNS)]))

    def _cut(self, columns: list[tuple[str, int | None]], rows: list[list[str | Text]]) -> bool:
        """Whether rows are wider than the table (each column as wide as its widest cell,
        label or minimum, with a cell of padding on each side between columns), so that a
        cell is cut. A column `hidden_columns` leaves out says what it would elsewhere."""
        width = self.size.width
        if not width or not rows:
            return False
        widths = [max(w or 0, len(label)) for label, w in columns]
        for cells in rows:
            for j, cell in enumerate(cells):
                widths[j] = max(widths[j], _len(cell))
        return sum(widths) + 2 * (len(columns) - 1) > width

    def hidden_columns(self) -> frozenset[str]:
        """Columns to leave out at the current width (none by default)."""
        return frozenset()

    def render(self) -> Table:
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False,
                      header_style="bold")
        hidden = self.hidden_columns()
        shown = [i for i, (label, _w) in enumerate(self.COLUMNS) if label not in hidden]
        columns = [self.COLUMNS[i] for i in shown]
        last = len(columns) - 1
        visible = self._visible_rows()
        if self.cursor < self._top:
            self._top = self.cursor
        elif self.cursor >= self._top + visible:
            self._top = self.cursor - visible + 1
        self._top = max(0, min(self._top, max(0, len(self._rows) - visible)))
        rows = [self._rows[i][1] if not hidden else [self._rows[i][1][j] for j in shown]
                for i in range(self._top, min(len(self._rows), self._top + visible))]
        cut = self._cut(columns, rows)
        if cut != self.cut:
            self.cut = cut
            self.call_after_refresh(self.screen.refresh_bindings)   # the key bar says so
        for i, (label, width) in enumerate(columns):
            # Widths are minimums; the last column takes what is left (and is cut first).
            table.add_column(label, min_width=None if i == last else width, no_wrap=True,
                             ratio=1 if i == last else None, overflow="ellipsis",
                             justify="right" if label in self.RIGHT else "left")
        for offset, cells in enumerate(rows):
            i = self._top + offset
            style = "reverse" if i == self.cursor and self.has_focus else ""
            table.add_row(*cells, style=style)
        return table


def _len(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(cell)
