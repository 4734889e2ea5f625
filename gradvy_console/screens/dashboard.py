"""The dashboard: system, pipeline counters, queues, consumers, alerts, events per minute."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget

from ..console_source import QueueRow, Snapshot
from ..widgets.activity_chart import ActivityChart
from ..widgets.alerts_panel import AlertsPanel
from ..widgets.consumers_table import ConsumersTable
from ..widgets.counters_panel import CountersPanel
from ..widgets.events_chart import EventsChart
from ..widgets.queue_history_chart import QueueHistoryChart
from ..widgets.queues_table import QueuesTable
from ..widgets.system_panel import SystemPanel
from .base import PipelineScreen
from .modals import ConfirmModal


class DashboardScreen(PipelineScreen):
    # Wide terminals get two columns (see console.tcss); narrow ones scroll one column.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    BINDINGS = [
        Binding("g", "queue('start_queue')", "Start", id="queue.start"),
        Binding("k", "queue('stop_queue')", "Stop", id="queue.stop"),
        Binding("r", "queue('restart_queue')", "Restart", id="queue.restart"),
        Binding("w", "scale", "Scale", id="queue.scale"),
        # In order of use: at 80 columns the key bar fits the first six (? lists the rest).
        Binding("l", "log", "Log", id="consumer.log"),
        Binding("P", "pause", "Pause", id="queue.pause"),
        Binding("X", "purge", "Purge", id="queue.purge"),
    ]

    def compose_body(self) -> Iterable[Widget]:
        with VerticalScroll(id="dashboard"), Horizontal(id="columns"):
            with Vertical(id="left"):
                with Horizontal(id="top"):
                    yield SystemPanel(id="system", classes="panel")
                    yield CountersPanel(id="counters", classes="panel")
                yield QueuesTable(id="queues", classes="panel")
                yield ConsumersTable(id="consumers", classes="panel")
            with Vertical(id="right"):
                yield AlertsPanel(id="alerts", classes="panel")
                yield ActivityChart(id="activity-chart", classes="panel")
                yield EventsChart(id="events", classes="panel")
                yield QueueHistoryChart(id="queue-history", classes="panel")

    def on_mount(self) -> None:
        titles = {"system": "System", "counters": "Pipeline", "queues": "Queues",
                  "consumers": "Consumers", "alerts": "Active alerts",
                  "events": "Processed per minute, by type (last hour)",
                  "activity-chart": "Learner activity, by event time",
                  "queue-history": "Queue depth (last hour)"}
        for widget_id, title in titles.items():
            self.query_one(f"#{widget_id}").border_title = title
        self.query_one(QueuesTable).focus()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        super().show_snapshot(snapshot)
        self.query_one(SystemPanel).show(snapshot.system, snapshot.at_ms)
        self.query_one(CountersPanel).counters = snapshot.counters
        self.query_one(QueuesTable).show(snapshot.queues)
        self.query_one(ConsumersTable).show(snapshot.consumers, snapshot.at_ms)
        self.query_one(AlertsPanel).show(snapshot.alerts, snapshot.at_ms)
        self.query_one(EventsChart).series = snapshot.events_per_minute
        activity = self.query_one(ActivityChart)
        activity.hours, activity.days = snapshot.activity_hours, snapshot.activity_days
        self.query_one(QueueHistoryChart).history = snapshot.queue_history

    # --- queue actions on the selected row ------------------------------------------------
    def _selected(self) -> str | None:
        queue = self.query_one(QueuesTable).selected_queue()
        if queue is None:
            self.notify("Select a queue first.", severity="warning")
        return queue

    def action_queue(self, action: str) -> None:
        if self.console.refused_read_only():
            return
        queue = self._selected()
        if queue is None:
            return
        verb = {"start_queue": "Start", "stop_queue": "Stop",
                "restart_queue": "Restart"}[action]
        if action == "stop_queue":
            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.operate(action, f"{verb} {queue}", queue=queue)

            self.app.push_screen(ConfirmModal(
                f"Stop the {queue} consumer? It stays stopped until you start it (g)."),
                confirmed)
            return
        self.operate(action, f"{verb} {queue}", queue=queue)

    def _queue_row(self, queue: str) -> QueueRow | None:
        latest = self.console.latest
        return next((q for q in latest.queues if q.name == queue), None) if latest else None

    def _acting_on(self) -> tuple[str, QueueRow | None] | None:
        """The selected queue and its latest figures, for an action (None: refused, or no
        queue selected; either is said)."""
        if self.console.refused_read_only():
            return None
        queue = self._selected()
        return None if queue is None else (queue, self._queue_row(queue))

    def action_pause(self) -> None:
        chosen = self._acting_on()
        if chosen is None:
            return
        queue, row = chosen
        if row is not None and row.paused:
            self.operate("resume_queue", f"Resume {queue}", queue=queue)
        else:
            self.operate("pause_queue", f"Pause {queue}", queue=queue)

    def action_purge(self) -> None:
        chosen = self._acting_on()
        if chosen is None:
            return
        queue, row = chosen
        waiting = (f"the {row.pending:,} waiting tasks" if row and row.pending is not None
                   else "every waiting task")
        kept = (" Their events stay in the inbox for the pending job."
                if queue == "realtime" else "")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.operate("purge_queue", f"Purge {queue}", queue=queue)

        self.app.push_screen(ConfirmModal(
            f"Delete {waiting} of {queue}? Scheduled tasks stay.{kept}"), confirmed)

    def action_log(self) -> None:
        """The log of the highlighted consumer (the consumers table), or of the selected
        queue's consumer."""
        from .log import LogScreen

        consumers = self.query_one(ConsumersTable)
        key = consumers.selected_key() if consumers.has_focus else None
        queue = key.rsplit(":", 1)[1] if key else self._selected()
        if queue is not None:
            self.app.push_screen(LogScreen(queue))

    def action_scale(self) -> None:
        if self.console.refused_read_only():
            return
        queue = self._selected()
        if queue is not None:
            self.console.ask_scale(queue)
