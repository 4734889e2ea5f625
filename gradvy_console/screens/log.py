"""`l`: a consumer's log on this host, its last lines, then followed as it grows (rotation
included). Esc goes back. Reading happens in a thread worker; the widget is only touched on
the event loop."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Log, Static

from .base import PipelineScreen

FOLLOW_EVERY_S = 0.5
KEEP_LINES = 5000


class LogScreen(PipelineScreen):
    BINDINGS = [Binding("escape", "close", "Back", id="log.close"),
                Binding("f", "toggle_follow", "Follow", id="log.follow")]

    def __init__(self, queue: str) -> None:
        super().__init__()
        self.queue = queue
        self.read_from: int | None = None
        self.following = True

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self._title(), id="screen-title")
        yield Log(max_lines=KEEP_LINES, id="log")

    def _title(self, note: str = "") -> str:
        state = "following (f pauses)" if self.following else "paused (f follows)"
        return f"Log of the {self.queue} consumer on this host, {state}{note}"

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self.read()
        self.set_interval(FOLLOW_EVERY_S, self._tick)

    def _tick(self) -> None:
        if self.following and self.read_from is not None:
            self.read()

    @work(thread=True, exclusive=True, group="log", exit_on_error=False)
    def read(self) -> None:
        source = self.console.source
        try:
            if self.read_from is None:
                offset, lines = source.log_tail(self.queue, 500)
            else:
                offset, lines = source.log_since(self.queue, self.read_from)
        except Exception as exc:  # noqa: BLE001 - no log here is shown, never fatal
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, offset, lines)

    def _show(self, offset: int, lines: list[str]) -> None:
        rotated = self.read_from is not None and offset < self.read_from
        self.read_from = offset
        log = self.query_one(Log)
        if rotated:
            log.write_line("--- the log was rotated; reading its new start ---")
        if lines:
            log.write_lines(lines)

    def _failed(self, error: str) -> None:
        self.query_one("#screen-title", Static).update(self._title(f"  [red]{error}[/]"))

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        self.query_one(Log).auto_scroll = self.following
        self.query_one("#screen-title", Static).update(self._title())

    def action_close(self) -> None:
        self.app.pop_screen()
