"""The command palette (ctrl+p): every screen and operator action, searchable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import GradvyConsole


class OperatorCommands(Provider):
    async def discover(self) -> Hits:
        app: GradvyConsole = self.app  # type: ignore[assignment]
        for title, help_text, callback in app.palette_commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        app: GradvyConsole = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for title, help_text, callback in app.palette_commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
