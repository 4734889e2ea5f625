"""`gradvy-console`: the Textual app. It wires screens, bindings, the poller and the operator
actions; the screens render, the source reads, the operator acts.

Data flows one way: one long-running thread worker polls `source.snapshot()`, waits
`refresh_seconds` after each poll ends (so polls never overlap and a slow backend only slows
the refresh) and posts `SnapshotReady`; the app hands it to the visible screen. Operator
actions run in thread workers and end in a notification.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Protocol

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import Provider
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.worker import get_current_worker

from .commands import OperatorCommands
from .config import JOBS, QUEUES, Config, ConsoleSettings
from .console_source import Snapshot
from .messages import ActionFinished, ActionProgress, SnapshotReady
from .operator_actions import ACTIONS, READ_ONLY, Outcome, Progress
from .screens.action_log import ActionLogScreen
from .screens.alerts import AlertsScreen
from .screens.dashboard import DashboardScreen
from .screens.dead_letters import DeadLettersScreen
from .screens.help import HelpScreen
from .screens.insights import InsightsScreen
from .screens.list_base import ListScreen
from .screens.modals import QuitModal, SimulateModal
from .screens.privacy import PrivacyScreen
from .screens.quality import QualityScreen
from .screens.reports import ReportsScreen
from .screens.schedule import ScheduleScreen
from .screens.tasks import TasksScreen
from .screens.users import UsersScreen
from .widgets.activity import RunningAction

POOL_RETRY_S = 15.0
SAME_SNAPSHOT_EVERY_S = 5.0     # an unchanged snapshot is still shown this often


class Source(Protocol):
    def snapshot(self) -> Snapshot: ...
    def task_runs(self, failed_only: bool = False, queue: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]: ...
    def dead_letters(self, limit: int = 200) -> list[dict[str, Any]]: ...
    def schedule(self) -> list[dict[str, Any]]: ...
    def alerts(self, active_only: bool = False) -> list[dict[str, Any]]: ...
    def user(self, user_id: str) -> dict[str, Any] | None: ...
    def find_users(self, prefix: str, limit: int = 20) -> list[dict[str, Any]]: ...
    def action_log(self, limit: int = 200) -> list[dict[str, Any]]: ...
    def insights(self) -> dict[str, Any]: ...
    def privacy(self) -> dict[str, Any]: ...
    def quality(self) -> dict[str, Any]: ...
    def reports(self) -> list[dict[str, Any]]: ...
    def report_text(self, doc: dict[str, Any]) -> dict[str, Any]: ...
    def cleanup_preview(self) -> dict[str, Any]: ...
    def waiting(self, limit: int = 200) -> list[dict[str, Any]]: ...
    def task_detail(self, task_id: str) -> dict[str, Any]: ...
    def log_tail(self, queue: str, lines: int = 500) -> tuple[int, list[str]]: ...
    def log_since(self, queue: str, offset: int) -> tuple[int, list[str]]: ...


class Operator(Protocol):
    def perform(self, action: str, params: dict[str, Any] | None = None,
                progress: Progress | None = None) -> Outcome: ...


SCREENS_BY_MODE = {"dashboard": "Dashboard", "tasks": "Tasks", "dead_letters": "Dead letters",
                   "schedule": "Schedule", "alerts": "Alerts", "users": "Users",
                   "action_log": "Action log", "insights": "Insights", "privacy": "Privacy",
                   "quality": "Quality", "reports": "Reports"}


class GradvyConsole(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "Gradvy Console"
    MODES: ClassVar[dict[str, Any]] = {
        "dashboard": DashboardScreen, "tasks": TasksScreen, "dead_letters": DeadLettersScreen,
        "schedule": ScheduleScreen, "alerts": AlertsScreen, "users": UsersScreen,
        "action_log": ActionLogScreen, "insights": InsightsScreen, "privacy": PrivacyScreen,
        "quality": QualityScreen, "reports": ReportsScreen,
    }
    DEFAULT_MODE = "dashboard"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = (
        App.COMMANDS | {OperatorCommands})
    BINDINGS = [
        Binding("1", "show('dashboard')", "Dash", id="screen.dashboard"),
        Binding("2", "show('tasks')", "Tasks", id="screen.tasks"),
        Binding("3", "show('dead_letters')", "DLQ", id="screen.dead_letters"),
        Binding("4", "show('schedule')", "Sched", id="screen.schedule"),
        Binding("5", "show('alerts')", "Alerts", id="screen.alerts"),
        Binding("6", "show('users')", "Users", id="screen.users"),
        Binding("7", "show('action_log')", "Actions", id="screen.action_log"),
        Binding("8", "show('insights')", "Insights", id="screen.insights"),
        Binding("9", "show('privacy')", "Privacy", id="screen.privacy"),
        Binding("0", "show('quality')", "Quality", id="screen.quality"),
        Binding("R", "show('reports')", "Reports", id="screen.reports"),
        Binding("s", "simulate", "Simulate", id="action.simulate"),
        Binding("p", "operate('process')", "Process", id="action.process"),
        Binding("x", "operate('self_test')", "Self-test", id="action.self_test"),
        Binding("m", "operate('monitor')", "Monitor", id="action.monitor"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, id="theme.toggle"),
        Binding("ctrl+r", "refresh_now", "Refresh", show=False, id="refresh"),
    ]

    def __init__(self, source: Source, operator: Operator, settings: ConsoleSettings,
                 *, manage_pool: bool = True, simulate_defaults: dict[str, int] | None = None
                 ) -> None:
        super().__init__()
        self.source = source
        self.operator = operator
        self.settings = settings
        self.latest: Snapshot | None = None
        self.read_only = settings.read_only
        # Read-only: never start a pool, never stop one on quit.
        self.manage_pool = manage_pool and not self.read_only
        self.want_pool = self.manage_pool and settings.start_pool
        self.simulate_defaults = simulate_defaults or {"count": 1000, "users": 100, "days": 30,
                                                       "seed": 0}
        self._in_flight: dict[int, tuple[str, RunningAction]] = {}
        self._next_run_id = 0
        self._wake = threading.Event()
        self._pool_attempt = -POOL_RETRY_S
        self._attached_told = False
        self._quitting = False
        self.polls = 0
        self._last_posted: Snapshot | None = None
        self._last_posted_at = 0.0
        self._last_minute = -1
        self._visited: set[str] = {"dashboard"}
        self._showing_built = False
        self.theme = "textual-light" if settings.theme == "light" else "textual-dark"

    # --- the poller -----------------------------------------------------------------------
    def on_mount(self) -> None:
        self.set_keymap(dict(self.settings.keys))
        self.poll_forever()
        self.call_after_refresh(self._settle_memory, True)

    def _settle_memory(self, collect: bool = False) -> None:
        """Put what is alive now (the app, its screens, the engine's modules) out of the
        cyclic collector's reach. A full collection walks every tracked object: ~45 ms at
        200x50, a visible stall when it lands on a key press. Reference counting still frees
        whatever is dropped later; only cycles among these long-lived objects would stay."""
        if collect:
            gc.collect()
        gc.freeze()

    @work(thread=True, exclusive=True, group="poller", exit_on_error=False)
    def poll_forever(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            # Polls pause while a dialog is open (nothing behind it is readable anyway).
            if not isinstance(self.screen_stack[-1] if self.screen_stack else None,
                              ModalScreen):
                snapshot = self.source.snapshot()
                self.polls += 1
                if self._worth_showing(snapshot):
                    self.post_message(SnapshotReady(snapshot))
            self._wake.wait(self.settings.refresh_seconds)
            self._wake.clear()

    def _worth_showing(self, snapshot: Snapshot) -> bool:
        """A snapshot that differs from the last one shown in more than its time, or the
        first for SAME_SNAPSHOT_EVERY_S (list screens reload on that beat): an idle console
        then handles a message every few seconds, not every refresh."""
        same = dataclasses.replace(snapshot, at_ms=0)
        now = time.monotonic()
        if (same == self._last_posted and snapshot.at_ms // 60_000 == self._last_minute
                and now - self._last_posted_at < SAME_SNAPSHOT_EVERY_S):
            return False
        self._last_posted, self._last_posted_at = same, now
        self._last_minute = snapshot.at_ms // 60_000
        return True

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.latest = self._through_outage(message.snapshot)
        message.snapshot = self.latest
        if not self.screen_stack:  # shutting down
            return
        screen = self.screen
        if hasattr(screen, "show_snapshot"):
            try:
                screen.show_snapshot(message.snapshot)
            except NoMatches:  # the screen is still being composed; it reads `latest` later
                pass
        self._look_after_pool(message.snapshot)

    def _through_outage(self, snapshot: Snapshot) -> Snapshot:
        """A backend stopped answering: keep the last good figures, marked with their time,
        rather than zeros that would read as data loss."""
        previous = self.latest
        if snapshot.backend_error is None or previous is None:
            return snapshot
        good_at = previous.as_of_ms or previous.at_ms
        if previous.backend_error is not None and previous.as_of_ms is None:
            return snapshot                 # no good figures yet to keep
        kept = dataclasses.replace(previous, at_ms=snapshot.at_ms, as_of_ms=good_at,
                                   backend_error=snapshot.backend_error)
        if snapshot.pool_is_local:
            # What runs on this host is known now, without the backend: show that, not the
            # pool and consumers of the last good snapshot.
            kept = dataclasses.replace(kept, pool=snapshot.pool, consumers=snapshot.consumers,
                                       pool_is_local=True)
        return kept

    def _look_after_pool(self, snapshot: Snapshot) -> None:
        """Start the pool when there is none (and the backends answer), or say we attached."""
        if snapshot.backend_error is not None or not self.manage_pool:
            return
        if snapshot.pool is not None:
            if not self._attached_told and not self._is_running("start_pool"):
                self.notify(f"Attached to the running worker pool (pid {snapshot.pool.pid}).")
            self._attached_told = True
            return
        now = time.monotonic()
        if (self.want_pool and not self._is_running("start_pool") and not self._quitting
                and now - self._pool_attempt >= POOL_RETRY_S):
            self._pool_attempt = now
            self._attached_told = True
            self.start_action("start_pool", "Start the worker pool", {})

    # --- operator actions -----------------------------------------------------------------
    def running_actions(self) -> tuple[RunningAction, ...]:
        return tuple(r for _key, r in self._in_flight.values())

    def _is_running(self, action: str) -> bool:
        return any(key.startswith(f"{action}:") for key, _r in self._in_flight.values())

    def refused_read_only(self) -> bool:
        """In a read-only console, say so and refuse (every action and every dialog that
        leads to one asks this first)."""
        if self.read_only:
            self.notify(READ_ONLY, title="Read-only", severity="warning", markup=False)
        return self.read_only

    def start_action(self, action: str, title: str, params: dict[str, Any]) -> None:
        if self.refused_read_only():
            return
        key = f"{action}:{sorted(params.items())}"
        if any(k == key for k, _r in self._in_flight.values()):
            self.notify(f"{title}: already running.", severity="warning")
            return
        self._next_run_id += 1
        run_id = self._next_run_id
        self._in_flight[run_id] = (key, RunningAction(run_id, title))
        self._show_activity()
        self.run_worker(partial(self._perform, run_id, action, params), thread=True,
                        group="actions", exit_on_error=False)

    def _perform(self, run_id: int, action: str, params: dict[str, Any]) -> None:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.25 or (total and done >= total):
                last[0] = now
                self.post_message(ActionProgress(run_id, done, total))

        try:
            outcome = self.operator.perform(action, params, progress)
        except Exception as exc:  # noqa: BLE001 - the operator never raises; be sure anyway
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        self.post_message(ActionFinished(run_id, action, outcome))

    def on_action_progress(self, message: ActionProgress) -> None:
        entry = self._in_flight.get(message.run_id)
        if entry is not None:
            key, running = entry
            self._in_flight[message.run_id] = (key, RunningAction(
                running.run_id, running.title, message.done, message.total))
            self._show_activity()

    def on_action_finished(self, message: ActionFinished) -> None:
        entry = self._in_flight.pop(message.run_id, None)
        self._show_activity()
        title = entry[1].title if entry else ACTIONS.get(message.action, message.action)
        outcome = message.outcome
        self.notify(outcome.message, title=str(title),
                    severity="information" if outcome.ok else "error", timeout=8)
        self._wake.set()
        if isinstance(self.screen, ListScreen):
            self.screen.reload()
        if message.action == "stop_pool" and self._quitting:
            self.exit()

    def _show_activity(self) -> None:
        if not self.screen_stack:
            return
        screen = self.screen
        if hasattr(screen, "show_activity"):
            try:
                screen.show_activity(self.running_actions())
            except NoMatches:
                pass

    # --- bindings -------------------------------------------------------------------------
    def action_show(self, mode: str) -> None:
        built = mode in self._visited
        self._showing_built = built
        try:
            self.switch_mode(mode)
        finally:
            self._showing_built = False
        if not built:                       # its screen was just built: long-lived too
            self._visited.add(mode)
            self.call_after_refresh(self._settle_memory)

    def delay_update(self, delay: float = 0.05) -> None:
        """Textual holds every update for 50 ms when it switches modes, to hide a screen being
        built. That hold was most of a screen switch here (key to paint p50 ~70 ms; ~57 ms for
        a bare two-screen app). A screen shown before is built and kept: paint it at once
        (1 ms: a 0 s timer never fires). A first visit keeps Textual's hold."""
        super().delay_update(0.001 if self._showing_built else delay)

    def action_simulate(self) -> None:
        if self.refused_read_only():
            return

        def chosen(values: dict[str, int] | None) -> None:
            if values:
                self.simulate_defaults = dict(values)
                self.start_action("simulate", f"Simulate {values['count']:,} events", values)

        self.push_screen(SimulateModal(self.simulate_defaults), chosen)

    def action_operate(self, action: str) -> None:
        self.start_action(action, ACTIONS[action].title, {})

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_refresh_now(self) -> None:
        self._wake.set()
        if isinstance(self.screen, ListScreen):
            self.screen.reload()

    def action_help(self) -> None:
        """Every key of this screen as mapped: the screen's own first, then the console's;
        each action once; Textual's own keys (copy, scrolling) left out."""
        own: list[tuple[str, str, str, str]] = []
        everywhere: list[tuple[str, str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        for _key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.description or not binding.id:
                continue            # Textual's internals carry no id of ours
            where = "everywhere" if active.node is self else type(active.node).__name__
            if (binding.action, where) in seen:
                continue
            seen.add((binding.action, where))
            row = (self.get_key_display(binding), binding.description, binding.id, where)
            (everywhere if active.node is self else own).append(row)
        rows = own + everywhere
        rows.append(("ctrl+p", "Command palette: every action and screen", "", "everywhere"))
        self.push_screen(HelpScreen(rows))

    async def action_quit(self) -> None:
        pool = self.latest.pool if self.latest else None
        if pool is None or not self.manage_pool:
            self.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice == "leave":
                self.exit()
            elif choice == "stop":
                self._quitting = True
                self.want_pool = False
                self.start_action("stop_pool", "Stop the worker pool", {})

        self.push_screen(QuitModal(self.settings.quit_default, pool.pid), chosen)

    # --- the command palette --------------------------------------------------------------
    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for mode, title in SCREENS_BY_MODE.items():
            out.append((f"Show {title}", "Screen", partial(self.action_show, mode)))
        out.append(("Simulate data…", ACTIONS["simulate"].help, self.action_simulate))
        for action in ("process", "self_test", "monitor"):
            out.append((ACTIONS[action].title, ACTIONS[action].help,
                        partial(self.action_operate, action)))
        for queue in QUEUES:
            for action, verb in (("start_queue", "Start"), ("stop_queue", "Stop"),
                                 ("restart_queue", "Restart")):
                out.append((f"{verb} the {queue} consumer", ACTIONS[action].help,
                            partial(self.start_action, action, f"{verb} {queue}",
                                    {"queue": queue})))
            out.append((f"Scale the {queue} queue…", ACTIONS["scale_queue"].help,
                        partial(self.ask_scale, queue)))
        for job in JOBS:
            out.append((f"Trigger {job}", ACTIONS["trigger_job"].help,
                        partial(self.start_action, "trigger_job", f"Trigger {job}",
                                {"job": job})))
        for action in ("analyze_users", "check_anomalies", "update_segments", "update_models",
                       "evaluate"):
            out.append((ACTIONS[action].title, ACTIONS[action].help,
                        partial(self.start_action, action, ACTIONS[action].title, {})))
        out.append(("Generate a report…", ACTIONS["generate_report"].help,
                    self.ask_report))
        out.append(("Acknowledge an alert…", "Opens the alerts screen",
                    partial(self.action_show, "alerts")))
        out.append(("Retry a failed task…", "Opens the tasks screen",
                    partial(self.action_show, "tasks")))
        out.append(("Replay a dead letter…", "Opens the dead-letters screen",
                    partial(self.action_show, "dead_letters")))
        out.append(("Start the worker pool", ACTIONS["start_pool"].help, self._start_pool))
        out.append(("Stop the worker pool", ACTIONS["stop_pool"].help, self._stop_pool))
        out.append(("Toggle light/dark theme", "Theme", self.action_toggle_theme))
        return out

    def ask_scale(self, queue: str) -> None:
        """Ask for a worker count, then scale `queue`'s consumer."""
        if self.refused_read_only():
            return
        from .screens.modals import NumberModal

        def chosen(workers: int | None) -> None:
            if workers is not None:
                self.start_action("scale_queue", f"Scale {queue} to {workers}",
                                  {"queue": queue, "workers": workers})

        self.push_screen(NumberModal(f"Workers for the {queue} consumer", 1, 64), chosen)

    def ask_report(self) -> None:
        """Ask for a period and a day, then generate that report."""
        if self.refused_read_only():
            return
        from .screens.modals import ReportModal

        def chosen(values: dict[str, str] | None) -> None:
            if values:
                what = f"{values['period']} report" + (f" of {values['date']}"
                                                      if values["date"] else "")
                self.start_action("generate_report", f"Generate the {what}", values)

        self.push_screen(ReportModal(), chosen)

    def _start_pool(self) -> None:
        self.want_pool = True
        self.start_action("start_pool", "Start the worker pool", {})

    def _stop_pool(self) -> None:
        self.want_pool = False
        self.start_action("stop_pool", "Stop the worker pool", {})


def make_app(config: Config, config_path: str | None = None) -> GradvyConsole:
    """The console on the real engine (the CLI entry point and the tmux checks use this)."""
    from .analytics.simulator import realistic_count
    from .console_source import PipelineSource
    from .operator_actions import Operator as PipelineOperator

    sim = config.simulator
    # The CLI's defaults: [simulator] users and days, and their realistic activity.
    return GradvyConsole(PipelineSource(config), PipelineOperator(config, config_path),
                         config.console,
                         simulate_defaults={"count": sim.count or realistic_count(sim.users,
                                                                                  sim.days),
                                            "users": sim.users, "days": sim.days, "seed": 0})
