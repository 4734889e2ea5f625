"""Recent task runs, filterable; a failed one is retried with a key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input, Static

from ..widgets.fmt import duration, when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen

STATUS_STYLE = {"complete": "green", "failed": "bold red", "retrying": "yellow",
                "skipped": "dim", "expired": "yellow", "revoked": "dim"}


class RunsTable(PanelTable):
    COLUMNS = (("ended", 11), ("task", 24), ("queue", 11), ("status", 8), ("took", 6),
               ("waited", 6), ("error", None))
    RIGHT = frozenset({"took", "waited"})


class TasksScreen(ListScreen):
    SCREEN_TITLE = "Tasks: recent runs, newest first"
    BINDINGS = [Binding("r", "retry", "Retry failed", id="task.retry"),
                Binding("f", "failed_only", "Failed only", id="task.failed_only")]

    def __init__(self) -> None:
        super().__init__()
        self.failed_only = False

    def compose_list(self) -> Iterable[Widget]:
        yield Input(placeholder="filter: text in task, queue, status or error", id="filter")
        yield RunsTable(id="runs")
        yield Static("", id="detail", classes="detail")

    def load(self) -> Any:
        return self.console.source.task_runs(failed_only=self.failed_only, limit=300)

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        needle = self.query_one("#filter", Input).value.strip().lower()
        rows = []
        for r in data:
            text = " ".join(str(r.get(k) or "") for k in ("task", "queue", "status", "error"))
            if needle and needle not in text.lower():
                continue
            error = (r.get("error") or "").splitlines()[0][:80] if r.get("error") else ""
            rows.append((r["task_id"], (when(r.get("ended_ms"), now), r["task"], r["queue"],
                                        Text(r["status"], style=STATUS_STYLE.get(r["status"], "")),
                                        duration(r.get("duration_s")), duration(r.get("wait_s")),
                                        error)))
        self.query_one(RunsTable).fill(rows)
        shown = "failed runs" if self.failed_only else "all runs"
        self.query_one("#screen-title", Static).update(
            f"{self.SCREEN_TITLE} ({shown}, {len(rows)} shown)")
        self._show_detail()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.data is not None:
            self.show_data(self.data)

    def on_panel_table_highlighted(self, event: PanelTable.Highlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        run = self.selected_row("task_id")
        detail = self.query_one("#detail", Static)
        if run is None:
            detail.update("")
            return
        text = Text.assemble(("task id ", "dim"), run["task_id"], ("  args ", "dim"),
                             str(run.get("args_summary") or "-"))
        if run.get("error"):
            text.append("\n" + run["error"].strip()[-600:], style="red")
        detail.update(text)

    def action_failed_only(self) -> None:
        self.failed_only = not self.failed_only
        self._loaded_at = 0.0
        self.reload()

    def action_retry(self) -> None:
        run = self.selected_row("task_id")
        if run is None or run["status"] != "failed":
            self.notify("Select a failed run to retry.", severity="warning")
            return
        self.operate("retry_task", f"Retry {run['task']}", task_id=run["task_id"])
