"""Periodic jobs: crontab, queue, last run and outcome, next run; trigger one now."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from ..widgets.fmt import when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen


class JobsTable(PanelTable):
    COLUMNS = (("job", 26), ("crontab", 11), ("queue", 10), ("last run", 11), ("outcome", 8),
               ("next run", 11))


class ScheduleScreen(ListScreen):
    SCREEN_TITLE = "Schedule: periodic jobs (UTC)"
    BINDINGS = [Binding("g", "trigger", "Trigger now", id="job.trigger")]

    def compose_list(self) -> Iterable[Widget]:
        yield JobsTable(id="jobs")

    def load(self) -> Any:
        return self.console.source.schedule()

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        rows = []
        for job in data:
            outcome = job.get("last_outcome") or "-"
            rows.append((job["job"], (
                job["job"], job.get("cron") or "disabled", job.get("queue") or "-",
                when(job.get("last_run_ms"), now) if job.get("last_run_ms") else "never",
                Text(outcome, style="red" if outcome == "failed" else ""),
                when(job.get("next_run_ms"), now) if job.get("next_run_ms") else "-")))
        self.query_one(JobsTable).fill(rows)

    def action_trigger(self) -> None:
        job = self.query_one(JobsTable).selected_key()
        if job is None:
            self.notify("Select a job to trigger.", severity="warning")
            return
        self.operate("trigger_job", f"Trigger {job}", job=job)
