"""Every operator action: who, what, when, outcome."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from ..widgets.fmt import duration, when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen


class ActionsTable(PanelTable):
    COLUMNS = (("when", 11), ("who", 14), ("action", 16), ("params", 20), ("took", 6),
               ("outcome", None))
    RIGHT = frozenset({"took"})


class ActionLogScreen(ListScreen):
    SCREEN_TITLE = "Action log: every operator action, newest first"
    FILTER = "filter: who, action, parameters or outcome"

    def compose_list(self) -> Iterable[Widget]:
        yield ActionsTable(id="actions")

    def load(self) -> Any:
        return self.console.source.action_log(limit=500)

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        rows = []
        for a in data:
            params = ", ".join(f"{k}={v}" for k, v in (a.get("params") or {}).items())
            if not self.matches(a["who"], a.get("via"), a["action"], params, a.get("outcome")):
                continue
            took = (duration((a["ended_ms"] - a["started_ms"]) / 1000)
                    if a.get("ended_ms") else "…")
            style = "" if a.get("ok") else "yellow" if a.get("ok") is None else "red"
            rows.append((a["_id"], (when(a["started_ms"], now), a["who"], a["action"], params,
                                    took, Text(a.get("outcome") or "", style=style))))
        self.query_one(ActionsTable).fill(rows)
