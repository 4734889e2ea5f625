"""Dead letters: reason, detail, the original payload, filtered by what is typed; replay one
after review, or every one of the selected letter's reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from rich.syntax import Syntax
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from ..widgets.fmt import when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen
from .modals import ConfirmModal


class LettersTable(PanelTable):
    COLUMNS = (("when", 11), ("reason", 16), ("user", 12), ("detail", None))


def pretty(payload: str) -> str:
    try:
        return orjson.dumps(orjson.loads(payload), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return payload


class DeadLettersScreen(ListScreen):
    SCREEN_TITLE = "Dead letters: events refused, with the reason and the original payload"
    FILTER = "filter: reason, learner or detail"
    BINDINGS = [Binding("r", "replay", "Replay", id="dead_letter.replay"),
                Binding("a", "replay_reason", "Replay reason", id="dead_letter.replay_reason")]

    def compose_list(self) -> Iterable[Widget]:
        yield LettersTable(id="letters")
        yield Static("", id="payload", classes="detail")

    def load(self) -> Any:
        return self.console.source.dead_letters(limit=500)

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        rows = [(d["id"], (when(d.get("at_ms"), now), d["reason"], d.get("user_id") or "-",
                           d.get("detail") or "")) for d in data
                if self.matches(d["reason"], d.get("user_id"), d.get("detail"))]
        self.query_one(LettersTable).fill(rows)
        self.query_one("#screen-title", Static).update(
            f"{self.SCREEN_TITLE} ({len(rows):,} of {len(data):,})")
        self._show_payload()

    def on_panel_table_highlighted(self, event: PanelTable.Highlighted) -> None:
        self._show_payload()

    def _show_payload(self) -> None:
        letter = self.selected_row("id")
        widget = self.query_one("#payload", Static)
        if letter is None:
            widget.update("No dead letters." if not self.data else "")
            return
        widget.update(Syntax(pretty(letter["payload"])[:4000], "json", word_wrap=True,
                             theme="ansi_dark", background_color="default"))

    def action_replay(self) -> None:
        if self.console.refused_read_only():
            return
        letter = self.selected_row("id")
        if letter is None:
            self.notify("Select a dead letter to replay.", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.operate("replay_dead_letter", f"Replay dead letter {letter['id']}",
                                id=letter["id"])

        self.app.push_screen(ConfirmModal(
            f"Put dead letter {letter['id']} ({letter['reason']}) back in the pending inbox?"),
            confirmed)

    def action_replay_reason(self) -> None:
        """Every dead letter of the selected one's reason back in the pending inbox (as
        `gradvy run replay --all --reason R`), after a question that says how many."""
        if self.console.refused_read_only():
            return
        letter = self.selected_row("id")
        if letter is None:
            self.notify("Select a dead letter: all of its reason are replayed.",
                        severity="warning")
            return
        reason = letter["reason"]
        n = sum(1 for d in self.data or [] if d["reason"] == reason)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.operate("replay_dead_letters", f"Replay the {reason} dead letters",
                             reason=reason)

        self.app.push_screen(ConfirmModal(
            f"Put every {reason} dead letter ({n:,} listed here) back in the pending inbox?"),
            confirmed)
