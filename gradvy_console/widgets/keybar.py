"""The bottom line: the screen's keys as they are mapped. One widget rendering text: Textual's
Footer rebuilds a widget per key on every screen switch, which was most of a switch's cost
under load (bench/console.py).

At any width every key stays reachable: help and quit are always shown (`?` lists every key),
then the screen's own keys, then the actions and the screens; what does not fit is left out
whole (never cut mid-word)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Input, Static

from .panel_table import PanelTable

# Global keys by how much they are used (after help and quit, always there, and the screen's
# own): the two the README tells a newcomer to press, then the screens, then the rest.
_RANK = {"simulate": 3, "operate('process')": 4}


def fit_keys(items: list[tuple[int, int, str, str]], width: int) -> list[tuple[str, str]]:
    """`items` are (priority, position, key, description): taken by priority (lower first)
    until one does not fit in `width` cells (priority 0 always goes in), shown by position.
    Nothing after the first that does not fit: no stray key standing for its group."""
    chosen: list[tuple[int, str, str]] = []
    used = 0
    for priority, position, key, description in sorted(items):
        cells = len(key) + len(description) + 4
        if used + cells > width and priority != 0:
            break
        chosen.append((position, key, description))
        used += cells
    return [(key, description) for _p, key, description in sorted(chosen)]


class KeyBar(Static):
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def render(self) -> Text:
        items: list[tuple[int, int, str, str]] = []
        seen = set()
        for position, active in enumerate(self.screen.active_bindings.values()):
            binding = active.binding
            if not binding.show or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            if isinstance(active.node, PanelTable) and binding.action == "row_detail":
                if not active.node.cut:
                    continue                                   # nothing is cut: no need
                priority = 1
            elif active.node is not self.app:
                priority = 1                                   # the screen's own
            elif binding.action in ("help", "quit"):
                priority = 0                                   # always there
            elif binding.action.startswith("show("):
                priority = 10 + position                       # the screens
            else:
                priority = _RANK.get(binding.action, 100)      # quit, the actions
            # Shown in this order: the screen's own, the screens, the actions, help, quit.
            order = (0 if priority == 1 else 1 if binding.action.startswith("show(") else
                     3 if binding.action in ("help", "quit") else 2) * 1000 + position
            items.append((priority, order, key, binding.description))
        if isinstance(self.app.focused, Input):
            # Typing goes to the field (no key fires): say how to give the keys back.
            items.append((0, -1, "esc", "Leave the field"))
        items.append((30_000, 9_999, "^p", "palette"))
        text = Text(no_wrap=True, overflow="ellipsis")
        for key, description in fit_keys(items, max(20, self.content_size.width or 80)):
            text.append(f" {key} ", style="bold reverse")
            text.append(f" {description} ")
        return text
