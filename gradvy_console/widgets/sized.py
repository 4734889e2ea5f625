"""A Static whose height follows its text: a change of content repaints it, and only a change
of its line count redoes the screen's layout (a layout pass for every new measurement, every
few seconds on each panel, was a good part of the idle console's CPU)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class SizedStatic(Static):
    _lines = -1

    def sized(self, text: Text) -> Text:
        """`text`, after asking for a layout pass if its line count changed (call from
        `render`)."""
        lines = text.plain.count("\n") + 1
        if lines != self._lines:
            if self._lines != -1:
                self.call_after_refresh(self.refresh, layout=True)
            self._lines = lines
        return text
