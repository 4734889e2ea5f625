"""Recent task runs, filterable: Enter shows a run's traceback and arguments, `r` retries a
failed one. `W` switches to the tasks not run yet (waiting and scheduled, every queue), where
`v` revokes the selected one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from ..widgets.fmt import duration, when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen
from .modals import ConfirmModal, DetailModal

STATUS_STYLE = {"complete": "green", "failed": "bold red", "retrying": "yellow",
                "skipped": "dim", "expired": "yellow", "revoked": "dim"}


class RunsTable(PanelTable):
    COLUMNS = (("ended", 11), ("task", 24), ("queue", 11), ("status", 8), ("took", 6),
               ("waited", 6), ("error", None))
    RIGHT = frozenset({"took", "waited"})


class WaitingTable(PanelTable):
    COLUMNS = (("task id", 8), ("task", 28), ("queue", 11), ("state", 9), ("since/due", 11),
               ("arguments", None))


class TasksScreen(ListScreen):
    SCREEN_TITLE = "Tasks: recent runs, newest first"
    FILTER = "filter: text in task, queue, status or error"
    WAITING_TITLE = "Not run yet: waiting (next first), then scheduled"
    BINDINGS = [Binding("enter", "detail", "Detail", id="task.detail"),
                Binding("r", "retry", "Retry", id="task.retry"),
                Binding("f", "failed_only", "Failed", id="task.failed_only"),
                Binding("W", "toggle_waiting", "Waiting", id="task.waiting"),
                Binding("v", "revoke", "Revoke", id="task.revoke")]

    def __init__(self) -> None:
        super().__init__()
        self.failed_only = False
        self.show_waiting = False

    def compose_list(self) -> Iterable[Widget]:
        yield RunsTable(id="runs")
        waiting = WaitingTable(id="waiting")
        waiting.display = False
        yield waiting
        yield Static("", id="detail", classes="detail")

    def load(self) -> Any:
        if self.show_waiting:
            return self.console.source.waiting(limit=300)
        return self.console.source.task_runs(failed_only=self.failed_only, limit=300)

    def _table(self) -> PanelTable:
        return self.query_one(WaitingTable if self.show_waiting else RunsTable)

    def show_data(self, data: Any) -> None:
        if self.show_waiting:
            self._show_waiting(data)
        else:
            self._show_runs(data)
        self._show_detail()

    def _show_runs(self, data: Any) -> None:
        now = self.now_ms()
        rows = []
        for r in data:
            if not self.matches(r.get("task"), r.get("queue"), r.get("status"), r.get("error")):
                continue
            error = (r.get("error") or "").splitlines()[0][:80] if r.get("error") else ""
            rows.append((r["task_id"], (when(r.get("ended_ms"), now), r["task"], r["queue"],
                                        Text(r["status"], style=STATUS_STYLE.get(r["status"], "")),
                                        duration(r.get("duration_s")), duration(r.get("wait_s")),
                                        error)))
        self.query_one(RunsTable).fill(rows)
        shown = "failed runs" if self.failed_only else "all runs"
        self.query_one("#screen-title", Static).update(
            f"{self.SCREEN_TITLE} ({shown}, {len(rows)}; W: waiting)")

    def _show_waiting(self, data: Any) -> None:
        now = self.now_ms()
        rows = []
        for t in data:
            if not self.matches(t.get("task_id"), t.get("task"), t.get("queue"), t.get("where")):
                continue
            since = (t["eta"][5:16].replace("T", " ") if t.get("eta")
                     else when(t.get("enqueued_ms"), now))
            rows.append((t["task_id"], (t["task_id"][:8], t["task"], t["queue"], t["where"],
                                        since, t.get("args_summary") or "")))
        self.query_one(WaitingTable).fill(rows)
        self.query_one("#screen-title", Static).update(
            f"{self.WAITING_TITLE} ({len(rows)}; W: runs)")

    def on_panel_table_highlighted(self, event: PanelTable.Highlighted) -> None:
        self._show_detail()

    def _selected(self) -> dict[str, Any] | None:
        key = self._table().selected_key()
        return next((r for r in self.data or [] if r["task_id"] == key), None)

    def _show_detail(self) -> None:
        row = self._selected()
        detail = self.query_one("#detail", Static)
        if row is None:
            detail.update("")
            return
        text = Text.assemble(("task id ", "dim"), row["task_id"], ("  args ", "dim"),
                             str(row.get("args_summary") or "-"))
        if row.get("error"):
            text.append("\n" + row["error"].strip()[-600:], style="red")
        if not self.show_waiting:
            text.append("   Enter: traceback and arguments", style="dim")
        detail.update(text)

    def action_toggle_waiting(self) -> None:
        self.show_waiting = not self.show_waiting
        self.query_one(RunsTable).display = not self.show_waiting
        self.query_one(WaitingTable).display = self.show_waiting
        self.data = None
        self._table().focus()
        self._loaded_at = 0.0
        self.reload()

    def action_failed_only(self) -> None:
        self.failed_only = not self.failed_only
        self._loaded_at = 0.0
        self.reload()

    def action_detail(self) -> None:
        row = self._selected()
        if row is None or self.show_waiting:
            return
        self._load_detail(row["task_id"])

    @work(thread=True, exclusive=True, group="task-detail", exit_on_error=False)
    def _load_detail(self, task_id: str) -> None:
        try:
            run = self.console.source.task_detail(task_id)
        except Exception as exc:  # noqa: BLE001 - shown, never fatal
            self.app.call_from_thread(self.notify, f"Cannot read the run: {exc}",
                                      severity="error")
            return
        self.app.call_from_thread(self._show_run, run)

    def _show_run(self, run: dict[str, Any]) -> None:
        body = Text()
        for label, value in (("task", run["task"]), ("task id", run["task_id"]),
                             ("queue", run["queue"]), ("status", run["status"]),
                             ("took", duration(run.get("duration_s"))),
                             ("waited", duration(run.get("wait_s"))),
                             ("arguments", run.get("args_summary") or "-"),
                             ("kept for retry", run.get("args_json") or "-")):
            body.append(f"{label:>15}  ", style="dim")
            body.append(f"{value}\n")
        if run.get("error"):
            body.append(f"\n{run['error']}\n", style="bold red")
        if run.get("traceback"):
            body.append(f"\n{run['traceback'].rstrip()}\n", style="red")
        elif run["status"] in ("failed", "retrying"):
            body.append("\n(no traceback was recorded for this run)\n", style="dim")
        self.app.push_screen(DetailModal(f"{run['task']} {run['status']}", body))

    def action_retry(self) -> None:
        row = self._selected()
        if self.show_waiting or row is None or row["status"] != "failed":
            self.notify("Select a failed run to retry.", severity="warning")
            return
        self.operate("retry_task", f"Retry {row['task']}", task_id=row["task_id"])

    def action_revoke(self) -> None:
        if self.console.refused_read_only():
            return
        row = self._selected() if self.show_waiting else None
        if row is None:
            self.notify("W lists the tasks not run yet; select one to revoke.",
                        severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.operate("revoke_task", f"Revoke {row['task']}", task_id=row["task_id"])

        self.app.push_screen(ConfirmModal(
            f"Revoke {row['task']} {row['task_id'][:8]} ({row['where']} on {row['queue']})? "
            "It will not run."), confirmed)

    def action_leave_input(self) -> None:
        self._table().focus()
