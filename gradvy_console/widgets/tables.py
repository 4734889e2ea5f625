"""A DataTable that can be refilled every second without losing the operator's place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


class LiveTable(DataTable[Any]):
    """Columns are fixed at construction; `fill` replaces every row and keeps the cursor on
    the row with the same key (or the same index)."""

    COLUMNS: Sequence[tuple[str, int | None]] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def on_mount(self) -> None:
        for label, width in self.COLUMNS:
            self.add_column(label, width=width, key=label)

    _shown: list[tuple[str, list[str | Text]]] | None = None

    def fill(self, rows: Sequence[tuple[str, Sequence[str | Text]]]) -> None:
        shown = [(key, list(cells)) for key, cells in rows]
        if shown == self._shown:  # most refreshes change nothing: keep the table as it is
            return
        self._shown = shown
        selected = self.selected_key()
        index = self.cursor_row
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [k for k, _c in rows]
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False, scroll=False)
        elif rows:
            self.move_cursor(row=min(index, len(rows) - 1), animate=False, scroll=False)

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - no valid cursor yet
            return None
        return None if key.value is None else str(key.value)
