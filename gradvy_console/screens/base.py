"""What every console screen has: the header, a body, the activity bar and the footer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget

from ..console_source import Snapshot
from ..widgets.activity import ActivityBar, RunningAction
from ..widgets.header import PipelineHeader
from ..widgets.keybar import KeyBar
from ..widgets.panel_table import PanelTable

if TYPE_CHECKING:
    from ..app import GradvyConsole


class PipelineScreen(Screen[None]):
    """A screen that shows the latest snapshot's header; subclasses add a body."""

    @property
    def console(self) -> GradvyConsole:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield PipelineHeader(read_only=self.console.read_only, id="header")
        yield from self.compose_body()
        yield ActivityBar(id="activity")
        yield KeyBar(id="keys")

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_screen_resume(self) -> None:
        if self.console.latest is not None:
            self.show_snapshot(self.console.latest)
        self.show_activity(self.console.running_actions())

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self.query_one(PipelineHeader).show(snapshot)
        # During an outage the figures shown are the last good ones: dimmed (console.tcss).
        self.set_class(snapshot.as_of_ms is not None, "stale")

    def show_activity(self, running: tuple[RunningAction, ...]) -> None:
        self.query_one(ActivityBar).running = running

    def on_panel_table_row_detail(self, event: PanelTable.RowDetail) -> None:
        """`i` on a table: the selected row whole, one column a line (nothing cut)."""
        from rich.text import Text

        from .modals import DetailModal

        body = Text()
        width = max((len(label) for label, _v in event.cells), default=0)
        for label, value in event.cells:
            body.append(f"{label:>{width}}  ", style="dim")
            body.append(value if isinstance(value, Text) else str(value))
            body.append("\n")
        self.app.push_screen(DetailModal("The selected row", body))

    def operate(self, action: str, title: str, **params: Any) -> None:
        self.console.start_action(action, title, params)
