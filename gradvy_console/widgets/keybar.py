"""The bottom line: the screen's keys as they are mapped. One widget rendering text: Textual's
Footer rebuilds a widget per key on every screen switch, which was most of a switch's cost
under load (bench/console.py)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class KeyBar(Static):
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        seen = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            text.append(f" {self.app.get_key_display(binding)} ", style="bold reverse")
            text.append(f" {binding.description} ")
        text.append(" ^p ", style="bold reverse")
        text.append(" palette")
        return text
