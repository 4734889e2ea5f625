"""A detail screen: a table loaded from the source in a thread, never two loads at once."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input, Static

from ..console_source import Snapshot
from ..widgets.panel_table import PanelTable
from .base import PipelineScreen

RELOAD_EVERY_S = 5.0


class ListScreen(PipelineScreen):
    SCREEN_TITLE = ""
    FILTER = ""
    """The placeholder of the screen's text filter (Tab moves to it, Esc back; rows whose
    text holds what is typed stay), or "" for none."""
    FOCUS_FIRST = "PanelTable"
    """What has the keys when the screen opens (a selector; the first match)."""
    BINDINGS = [Binding("escape", "leave_input", "Leave the field", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self._loading = False
        self._again = False
        self._loaded_at = 0.0
        self.data: Any = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self.SCREEN_TITLE, id="screen-title")
        if self.FILTER:
            yield Input(placeholder=self.FILTER, id="filter")
        yield from self.compose_list()

    def compose_list(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> None:
        self.query(self.FOCUS_FIRST).first().focus()

    def now_ms(self) -> int:
        """The time tables are shown against: the latest snapshot's (a fixed clock in tests)."""
        latest = self.console.latest
        return latest.at_ms if latest is not None else int(time.time() * 1000)

    def selected_row(self, id_field: str) -> dict[str, Any] | None:
        """The loaded row under the table's cursor (rows are keyed by `id_field`)."""
        key = self.query_one(PanelTable).selected_key()
        return next((r for r in self.data or [] if r[id_field] == key), None)

    def matches(self, *values: object) -> bool:
        """Whether a row with these values passes the filter (case-insensitive substring)."""
        found = self.query("#filter")
        needle = found.first(Input).value.strip().lower() if found else ""
        return not needle or needle in " ".join(str(v) for v in values
                                                if v is not None).lower()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter" and self.data is not None:
            self.show_data(self.data)

    def action_leave_input(self) -> None:
        """Esc in a text field hands the keys back to the screen's table."""
        tables = self.query("PanelTable")
        if tables:
            tables.first().focus()
        else:
            self.set_focus(None)

    def load(self) -> Any:
        """Read from the source (runs in a thread worker)."""
        raise NotImplementedError

    def show_data(self, data: Any) -> None:
        """Render what `load` returned (runs on the event loop)."""
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # Coming back within a few seconds shows what is there; the next snapshot reloads it.
        if self.data is None or time.monotonic() - self._loaded_at >= RELOAD_EVERY_S:
            self.reload()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        super().show_snapshot(snapshot)
        if time.monotonic() - self._loaded_at >= RELOAD_EVERY_S:
            self.reload()

    def reload(self) -> None:
        """Load again now, or right after the load in flight (loads never overlap)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.run_worker(self._load_in_thread, thread=True, group="load", exit_on_error=False)

    def _load_in_thread(self) -> None:
        try:
            data, error = self.load(), None
        except Exception as exc:  # noqa: BLE001 - a backend outage is shown, never fatal
            data, error = None, f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._loaded, data, error)

    def _loaded(self, data: Any, error: str | None) -> None:
        self._loading = False
        self._loaded_at = time.monotonic()
        if self._again:
            self._again = False
            self.reload()
        if error is not None:
            self.query_one("#screen-title", Static).update(
                f"{self.SCREEN_TITLE}  [red]cannot load: {error}[/]")
            return
        self.query_one("#screen-title", Static).update(self.SCREEN_TITLE)
        self.data = data
        self.show_data(data)
