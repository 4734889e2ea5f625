"""Operator actions in flight, with their progress."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


@dataclass(frozen=True)
class RunningAction:
    run_id: int
    title: str
    done: int = 0
    total: int = 0


class ActivityBar(Static):
    running: reactive[tuple[RunningAction, ...]] = reactive(tuple)
    """Actions in flight, oldest first (the bar hides itself when there are none)."""

    def watch_running(self, running: tuple[RunningAction, ...]) -> None:
        self.display = bool(running)

    def render(self) -> Text:
        text = Text()
        for i, action in enumerate(self.running):
            if i:
                text.append("  │  ", style="dim")
            text.append("⟳ ", style="bold cyan")
            text.append(action.title)
            if action.total:
                share = min(1.0, action.done / action.total)
                filled = round(share * 12)
                text.append(f" {'█' * filled}{'░' * (12 - filled)} {share:4.0%}",
                            style="cyan")
            elif action.done:
                text.append(f" {action.done:,}", style="cyan")
        return text
