"""The console driven by Textual's pilot against a fake source and operator: every screen,
every action, the palette, remapped keys, quitting with a pool, and polls that never overlap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from console_fake import FakeOperator, FakeSource, fake_snapshot, make_fake_app
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Static

from gradvy_console.config import CONSOLE_KEYS
from gradvy_console.screens.action_log import ActionLogScreen
from gradvy_console.screens.alerts import AlertsScreen
from gradvy_console.screens.dashboard import DashboardScreen
from gradvy_console.screens.dead_letters import DeadLettersScreen
from gradvy_console.screens.help import HelpScreen
from gradvy_console.screens.insights import InsightsScreen
from gradvy_console.screens.modals import QuitModal
from gradvy_console.screens.privacy import PrivacyScreen
from gradvy_console.screens.quality import QualityScreen, spark
from gradvy_console.screens.reports import ReportsScreen
from gradvy_console.screens.schedule import ScheduleScreen
from gradvy_console.screens.tasks import TasksScreen
from gradvy_console.screens.users import UsersScreen
from gradvy_console.widgets.panel_table import PanelTable


def drive(app: Any, script: Callable[[Pilot[Any]], Awaitable[None]],
          size: tuple[int, int] = (120, 36)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await script(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 10.0
                ) -> None:
    """Wait (never sleep) until `condition` holds, letting the app run meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await pilot.pause(0.02)


async def shows(pilot: Pilot[Any], screen_type: type, rows: int = 2) -> None:
    """Wait until the app shows `screen_type` with `rows` rows loaded in its table."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, screen_type)
                and app.screen.query_one(PanelTable).row_count == rows)


async def performed(pilot: Pilot[Any], operator: FakeOperator, action: str,
                    params: dict[str, Any]) -> None:
    """Wait until the fake operator was asked for `action` with `params`."""
    await until(pilot, lambda: (action, params) in operator.performed)


def text_of(widget: Any) -> str:
    """The plain text a widget shows (rich renderables are printed to a recording console)."""
    import io

    from rich.console import Console

    rendered = widget.render()
    rendered = getattr(rendered, "_renderable", rendered)  # a rich object wrapped by Textual
    if isinstance(rendered, str) or type(rendered).__module__.startswith("textual"):
        return str(rendered)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(rendered)
    return console.export_text()


def test_dashboard_shows_the_snapshot() -> None:
    app = make_fake_app()

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert "123,456" in text_of(screen.query_one("#counters"))
        assert "Disk at 91.2%" in text_of(screen.query_one("#alerts"))
        assert "course_interaction" in text_of(screen.query_one("#events"))
        assert "CPU" in text_of(screen.query_one("#system"))
        queues = screen.query_one("#queues", PanelTable)
        consumers = screen.query_one("#consumers", PanelTable)
        assert queues.row_count == 7 and consumers.row_count == 7
        assert "pool pid 4099 up 2h05m" in text_of(screen.query_one("#header"))

    drive(app, script)


def test_dashboard_table_grows_back_after_a_consumer_comes_back() -> None:
    """A killed consumer vanishes from the fleet for a moment before its replacement beats: the
    consumers table (auto height) must show all seven rows again afterwards."""
    import dataclasses

    source = FakeSource()
    app = make_fake_app(source)
    full = source.current

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        consumers = app.screen.query_one("#consumers", PanelTable)
        await until(pilot, lambda: consumers.row_count == 7)
        source.current = dataclasses.replace(full, consumers=full.consumers[:6])
        await until(pilot, lambda: consumers.row_count == 6 and "monitoring" not in
                    text_of(consumers))
        source.current = full
        await until(pilot, lambda: consumers.row_count == 7)
        await until(pilot, lambda: "monitoring" in text_of(consumers))
        # The layout pass after the refresh gives it its height back: header + seven rows.
        await until(pilot, lambda: consumers.size.height == 8)

    drive(app, script, size=(200, 50))


def test_narrow_consumers_table_gives_the_host_column_to_the_task() -> None:
    """At 80 columns one host's name is in the header: its column goes, the task stays."""
    import dataclasses

    source = FakeSource()
    app = make_fake_app(source)
    full = source.current

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        consumers = app.screen.query_one("#consumers", PanelTable)
        await until(pilot, lambda: consumers.row_count == 7)
        assert consumers.hidden_columns() == {"host"}
        assert "batch_proc" in text_of(consumers) and "ops-host" not in text_of(consumers)
        other = dataclasses.replace(full.consumers[0], host="worker-2", pid=77)
        source.current = dataclasses.replace(full, consumers=full.consumers + (other,))
        await until(pilot, lambda: consumers.row_count == 8)
        assert consumers.hidden_columns() == frozenset()     # two hosts: the column is needed
        assert "worker-2" in text_of(consumers)

    drive(app, script, size=(80, 24))


def test_switching_back_to_a_built_screen_paints_without_textuals_hold(
        monkeypatch: Any) -> None:
    """Textual holds updates 50 ms on a mode switch (to hide a screen being built): only a first
    visit keeps that hold; a screen shown before paints at once."""
    from textual.app import App

    holds: list[float] = []
    original = App.delay_update

    def recording(self: Any, delay: float = 0.05) -> None:
        holds.append(delay)
        original(self, delay)

    monkeypatch.setattr(App, "delay_update", recording)
    app = make_fake_app()

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        for key, screen_type in (("2", TasksScreen), ("1", DashboardScreen),
                                 ("2", TasksScreen), ("3", DeadLettersScreen)):
            await pilot.press(key)
            await until(pilot, lambda t=screen_type: isinstance(app.screen, t))  # type: ignore[misc]
            await pilot.pause()
        assert holds == [0.05, 0.001, 0.001, 0.05]

    drive(app, script)


def test_every_screen_by_key_and_help_lists_the_real_mapping() -> None:
    app = make_fake_app(keys={"screen.schedule": "9", "action.simulate": "S"})

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        for key, screen_type in (("2", TasksScreen), ("3", DeadLettersScreen),
                                 ("9", ScheduleScreen), ("5", AlertsScreen),
                                 ("7", ActionLogScreen), ("1", DashboardScreen),
                                 ("6", UsersScreen)):
            await pilot.press(key)
            await until(pilot, lambda t=screen_type: isinstance(app.screen, t))  # type: ignore[misc]
        await pilot.press("escape", "1")  # Esc leaves the user-id field, 1 goes home
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {row[2]: row[0] for row in app.screen.rows}
        assert rows["screen.schedule"] == "9" and rows["action.simulate"] == "S"
        assert rows["queue.restart"] == "r"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))

    drive(app, script)


def test_detail_screens_show_their_data() -> None:
    source = FakeSource()
    app = make_fake_app(source)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("2")
        await shows(pilot, TasksScreen)
        await until(pilot, lambda: "ValueError" in text_of(app.screen.query_one("#detail")))
        await pilot.press("f")  # failed only
        await until(pilot, lambda: ("task_runs", True) in source.calls)
        await until(pilot, lambda: app.screen.query_one(PanelTable).row_count == 1)
        await pilot.press("3")
        await shows(pilot, DeadLettersScreen)
        await until(pilot, lambda: "sql" in text_of(app.screen.query_one("#payload", Static)))
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen))
        await pilot.press("u", "1", "enter")
        await until(pilot, lambda: ("user", "u1") in source.calls)
        await until(pilot, lambda: "Dropout risk" in text_of(
            app.screen.query_one("#report", Static)))

    drive(app, script)


def test_actions_run_in_the_background_and_notify() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("p", "x", "m")
        await until(pilot, lambda: len(operator.performed) == 3)
        await until(pilot, lambda: not app.running_actions())
        assert {a for a, _p in operator.performed} == {"process", "self_test", "monitor"}
        assert any("process done" in str(n.message) for n in app._notifications)
        # simulate: a modal takes the parameters
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#count").value = "500"
        await pilot.press("enter")
        await until(pilot, lambda: operator.performed[-1][0] == "simulate")
        assert operator.performed[-1][1] == {"count": 500, "users": 100, "days": 30,
                                             "seed": 0}

    drive(app, script)


def test_queue_actions_act_on_the_selected_queue() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await until(pilot, lambda: app.screen.query_one("#queues", PanelTable).row_count == 7)
        await pilot.press("down")  # analytics
        await pilot.press("r")
        await performed(pilot, operator, "restart_queue", {"queue": "analytics"})
        await pilot.press("g")
        await performed(pilot, operator, "start_queue", {"queue": "analytics"})
        await pilot.press("k", "y")  # stop asks first
        await performed(pilot, operator, "stop_queue", {"queue": "analytics"})
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("3", "enter")
        await performed(pilot, operator, "scale_queue", {"queue": "analytics", "workers": 3})

    drive(app, script)


def test_row_actions_on_detail_screens() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("2")
        await shows(pilot, TasksScreen)
        await pilot.press("r")  # first row is the failed one
        await performed(pilot, operator, "retry_task", {"task_id": "f0f0f0f0aaaa"})
        await pilot.press("3")
        await shows(pilot, DeadLettersScreen)
        await pilot.press("r", "y")
        await performed(pilot, operator, "replay_dead_letter", {"id": "7"})
        await pilot.press("4")
        await shows(pilot, ScheduleScreen)
        await pilot.press("down", "g")
        await performed(pilot, operator, "trigger_job", {"job": "monitor_system_performance"})
        await pilot.press("5")
        await shows(pilot, AlertsScreen)
        await pilot.press("a")
        await performed(pilot, operator, "ack_alert", {"alert_id": "a1"})
        await pilot.press("7")
        await shows(pilot, ActionLogScreen)

    drive(app, script)


def test_insight_actions_and_screen() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("8")
        await shows(pilot, InsightsScreen)
        assert "2.013x" in text_of(app.screen.query_one("#summary"))
        for key in "acute":
            await pilot.press(key)
        await until(pilot, lambda: len(operator.performed) == 5)
        assert [a for a, _p in operator.performed] == [
            "analyze_users", "check_anomalies", "update_segments", "update_models", "evaluate"]
        await pilot.press("k")
        await performed(pilot, operator, "ack_anomaly", {"anomaly_id": "u9:impossible_quiz_time"})
        await pilot.press("6", "u", "1", "enter")
        await until(pilot, lambda: "Learners who took c0001" in text_of(
            app.screen.query_one("#report", Static)))
        report = text_of(app.screen.query_one("#report", Static))
        assert "days since last activity" in report and "poor_performance" in report

    drive(app, script)


def test_palette_runs_an_action() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "restart the ml":
            await pilot.press("space" if ch == " " else ch)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await performed(pilot, operator, "restart_queue", {"queue": "ml"})

    drive(app, script)


def test_failed_action_is_an_error_notification() -> None:
    app = make_fake_app(operator=FakeOperator(fail=True))

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("p")
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))

    drive(app, script)


def test_pool_is_started_when_none_runs_and_quit_asks() -> None:
    source = FakeSource(fake_snapshot(pool=False))
    operator = FakeOperator()
    app = make_fake_app(source, operator, manage_pool=True, quit_default="stop")

    async def script(pilot: Pilot[Any]) -> None:
        await performed(pilot, operator, "start_pool", {})
        source.current = fake_snapshot(pool=True)
        await until(pilot, lambda: app.latest is not None and app.latest.pool is not None)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitModal))
        assert app.screen.focused is not None and app.screen.focused.id == "stop"
        await pilot.press("enter")
        await performed(pilot, operator, "stop_pool", {})
        await until(pilot, lambda: app._exit_renderables is not None or not app.is_running)

    drive(app, script)
    assert operator.performed.count(("start_pool", {})) == 1


def test_quit_can_leave_the_pool_running() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator, manage_pool=True)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitModal))
        assert app.screen.focused is not None and app.screen.focused.id == "leave"
        await pilot.press("l")
        await until(pilot, lambda: not app.is_running)

    drive(app, script)
    assert ("stop_pool", {}) not in operator.performed


def test_backend_outage_is_shown_and_retried() -> None:
    source = FakeSource(fake_snapshot(backend_error="Redis at redis://x:1 is unreachable."))
    app = make_fake_app(source, manage_pool=True)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: source.snapshots >= 3)  # keeps polling
        await pilot.pause()
        assert "unreachable" in text_of(app.screen.query_one("#header"))
        assert not app.running_actions()  # no pool start while the backend is down

    drive(app, script)


def test_an_outage_keeps_the_last_figures_dimmed_and_dated() -> None:
    source = FakeSource()
    app = make_fake_app(source)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None and app.latest.queues)
        good_at = app.latest.at_ms
        source.current = fake_snapshot(backend_error="Redis at redis://x:1 is unreachable.")
        await until(pilot, lambda: app.latest.backend_error is not None)
        await pilot.pause()
        latest = app.latest
        assert latest.queues and latest.counters.processed       # not zeros: the last figures
        assert latest.as_of_ms == good_at and app.screen.has_class("stale")
        header = text_of(app.screen.query_one("#header"))
        assert "OUTAGE" in header and "unreachable" in header and "as of" in header
        # What this host's processes show replaces the last good pool and consumers.
        import dataclasses

        from gradvy_console.console_source import ConsumerRow, PoolRow

        local = ConsumerRow("realtime", "ops-host", 9001, "running", good_at, 1.0, 2**20, 0,
                            None, 2)
        source.current = dataclasses.replace(source.current, pool=PoolRow(
            9000, "ops-host", good_at), consumers=(local,), pool_is_local=True)
        await until(pilot, lambda: app.latest.pool is not None and app.latest.pool.pid == 9000)
        await until(pilot, lambda: app.screen.query_one("#consumers", PanelTable).row_count == 1)
        assert app.latest.queues and app.latest.as_of_ms == good_at   # the rest kept
        assert "this host's processes" in text_of(app.screen.query_one("#header"))
        source.current = fake_snapshot()                          # back: live figures again
        await until(pilot, lambda: app.latest.backend_error is None)
        await pilot.pause()
        assert not app.screen.has_class("stale")

    drive(app, script)


def test_polls_never_overlap_with_a_slow_source() -> None:
    source = FakeSource(delay_s=0.15)
    app = make_fake_app(source, refresh_seconds=0.01)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: source.snapshots >= 5)
        await pilot.press("2")  # input is answered while a poll is in flight
        await until(pilot, lambda: isinstance(app.screen, TasksScreen))

    drive(app, script)
    assert source.max_active == 1


def test_polls_pause_while_a_dialog_is_open() -> None:
    source = FakeSource()
    app = make_fake_app(source)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: source.snapshots >= 2)
        await pilot.press("s")
        await pilot.pause(0.2)
        before = source.snapshots
        await pilot.pause(0.3)
        assert source.snapshots <= before + 1
        await pilot.press("escape")
        await until(pilot, lambda: source.snapshots > before + 2)

    drive(app, script)


def test_theme_toggles_and_starts_from_config() -> None:
    app = make_fake_app(theme="light")

    async def script(pilot: Pilot[Any]) -> None:
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"

    drive(app, script)


def test_every_binding_id_is_known_to_the_config() -> None:
    from gradvy_console.app import GradvyConsole
    from gradvy_console.screens.log import LogScreen

    ids = set()
    for cls in (GradvyConsole, DashboardScreen, TasksScreen, DeadLettersScreen, ScheduleScreen,
                AlertsScreen, UsersScreen, InsightsScreen, PrivacyScreen, QualityScreen,
                ReportsScreen, LogScreen, PanelTable):
        for binding in cls.BINDINGS:
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
                assert CONSOLE_KEYS[binding.id] == binding.key, binding.id
    assert ids == set(CONSOLE_KEYS)


def test_privacy_screen_forgets_only_when_the_id_is_typed_twice() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("9")
        await shows(pilot, PrivacyScreen, rows=6)
        await pilot.press("f", *"sim-u00017", "enter")
        await pilot.press(*"sim-u00071", "enter")      # not the same id: nothing happens
        assert not any(a == "forget" for a, _p in operator.performed)
        await pilot.press("escape")
        await pilot.press("f", *"sim-u00017", "enter", *"sim-u00017", "enter")
        await performed(pilot, operator, "forget", {"user_id": "sim-u00017",
                                                    "reason": "operator request (console)"})
        await pilot.press("a")
        await performed(pilot, operator, "run_audit", {})
        await pilot.press("c")                          # a dry run first, then the question
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmModal")
        await pilot.press("y")
        await performed(pilot, operator, "cleanup", {})

    drive(app, script)


def test_quality_screen_shows_the_checks_and_the_highlighted_evidence() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("0")
        await shows(pilot, QualityScreen, rows=5)
        screen = app.screen
        evidence = str(screen.query_one("#quality-evidence", Static).render())
        assert "dead_letters evidence" in evidence and "9840" in evidence
        await pilot.press("down")
        await until(pilot, lambda: "silent" in str(
            screen.query_one("#quality-evidence", Static).render()))
        await pilot.press("a")
        await performed(pilot, operator, "assess_quality", {})

    drive(app, script)


def test_sparklines_scale_to_their_top() -> None:
    assert spark([0, 4, 8]) == " ▄█"
    assert spark([0, 0]) == "  "
    assert spark([2, 4], top=8) == "▂▄"


def test_reports_screen_reads_the_highlighted_report_and_generates_one() -> None:
    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        from textual.widgets import Markdown

        await pilot.press("R")
        await shows(pilot, ReportsScreen, rows=2)
        screen = app.screen
        charts = screen.query_one("#report-charts", Static)
        await until(pilot, lambda: "active, 30 days" in text_of(charts))
        shown = text_of(charts)
        assert "link_click" in shown and "2026-10-26" in shown and "86%" in shown
        assert "Weekly analytics report" in screen.query_one("#report-text", Markdown).source
        # The day report's files are gone: said, not drawn.
        await pilot.press("down")
        await until(pilot, lambda: "not written or is gone" in text_of(charts))
        # Generate: a period that is not one is refused in the dialog; a good one runs.
        await pilot.press("g")
        await pilot.press(*"year", "enter")
        assert not any(a == "generate_report" for a, _p in operator.performed)
        await pilot.press(*["backspace"] * 4, *"week", "tab", *"2026-11-10", "enter")
        await performed(pilot, operator, "generate_report",
                        {"period": "week", "date": "2026-11-10"})

    drive(app, script)


def test_typing_a_learner_id_never_fires_a_global_key() -> None:
    operator = FakeOperator()
    source = FakeSource()
    app = make_fake_app(source=source, operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        from textual.widgets import Input, OptionList

        await until(pilot, lambda: app.latest is not None)
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen))
        screen = app.screen
        field = screen.query_one("#user-id", Input)
        await until(pilot, lambda: app.focused is field)
        # Every character goes to the field, digits and the simulate key included.
        await pilot.press(*"sim-u00106", "enter")
        await until(pilot, lambda: ("user", "sim-u00106") in source.calls)
        assert app.focused is field and not operator.performed
        assert isinstance(app.screen, UsersScreen)
        await pilot.press(*["backspace"] * 10, "u", "1")
        matches = screen.query_one("#user-matches", OptionList)
        await until(pilot, lambda: matches.option_count == 2)   # u1, u12: recently active first
        assert "u1  (active" in str(matches.get_option_at_index(0).prompt)
        await pilot.press("tab", "down", "enter")                # pick u12 from the list
        await until(pilot, lambda: ("user", "u12") in source.calls)
        assert field.value == "u12"
        # Esc leaves the field: then the keys are the console's again, and a new visit to the
        # screen focuses the field again.
        await pilot.press("escape", "1")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, UsersScreen) and app.focused is field)
        assert not operator.performed

    drive(app, script)


def test_read_only_shows_everything_and_performs_nothing() -> None:
    """Every key, dialog and palette entry that would act is refused with one notice; no pool
    is started (none runs) and none is stopped on quit; the header says READ-ONLY."""
    source = FakeSource(fake_snapshot(pool=False))
    operator = FakeOperator()
    app = make_fake_app(source, operator, manage_pool=True, read_only=True,
                        quit_default="stop")

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: source.snapshots >= 3)
        assert text_of(app.screen.query_one("#header")).startswith("READ-ONLY")
        await until(pilot, lambda: app.screen.query_one("#queues", PanelTable).row_count == 7)
        # the dashboard's actions, the queue row's actions and their dialogs
        await pilot.press("p", "x", "m", "s", "r", "g", "k", "w")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)        # no dialog opened
        for key, screen in (("2", TasksScreen), ("3", DeadLettersScreen),
                            ("4", ScheduleScreen), ("5", AlertsScreen)):
            await pilot.press(key)
            await shows(pilot, screen)
            await pilot.press("r", "g", "a", "y")
            await pilot.pause()
            assert isinstance(app.screen, screen)
        await pilot.press("8")
        await until(pilot, lambda: isinstance(app.screen, InsightsScreen))
        await pilot.press("a", "c", "u", "t", "e", "k")
        await pilot.press("9")
        await until(pilot, lambda: isinstance(app.screen, PrivacyScreen))
        await pilot.press("a", "f", "e", "c")
        await pilot.pause()
        assert isinstance(app.screen, PrivacyScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "restart the ml":
            await pilot.press("space" if ch == " " else ch)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert any("[console] read_only" in str(n.message) and not n.markup
                   for n in app._notifications)
        await pilot.press("q")                  # no dialog: a read-only console stops nothing
        await until(pilot, lambda: not app.is_running)

    drive(app, script)
    assert operator.performed == []


def test_the_operator_of_a_read_only_console_refuses_before_it_writes(tmp_path: Any) -> None:
    from gradvy_console.config import Config, ConsoleSettings
    from gradvy_console.operator_actions import Operator

    config = Config(data_dir=tmp_path / "data", console=ConsoleSettings(read_only=True))
    outcome = Operator(config).perform("simulate", {"count": 10, "users": 2, "days": 1})
    assert not outcome.ok and "read-only" in outcome.message
    assert not (tmp_path / "data").exists()      # nothing opened, nothing logged


def test_queue_operations_from_the_dashboard() -> None:
    """P pauses the selected queue (and resumes a paused one), X purges it after a question
    that says how many, l opens its consumer's log and follows it."""
    import dataclasses

    from gradvy_console.screens.log import LogScreen
    from gradvy_console.screens.modals import ConfirmModal

    source = FakeSource()
    operator = FakeOperator()
    app = make_fake_app(source, operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.screen.query_one("#queues", PanelTable).row_count == 7)
        await pilot.press("P")                                   # realtime, running
        await performed(pilot, operator, "pause_queue", {"queue": "realtime"})
        source.current = dataclasses.replace(source.current, queues=tuple(
            dataclasses.replace(q, paused=q.name == "realtime") for q in source.current.queues))
        await until(pilot, lambda: "⏸" in text_of(app.screen.query_one("#queues")))
        await pilot.press("P")
        await performed(pilot, operator, "resume_queue", {"queue": "realtime"})
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "1,500 waiting tasks of realtime" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert ("purge_queue", {"queue": "realtime"}) not in operator.performed
        await pilot.press("X", "y")
        await performed(pilot, operator, "purge_queue", {"queue": "realtime"})
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        log = app.screen.query_one("#log")
        await until(pilot, lambda: "a new line" in "\n".join(log.lines))  # followed
        assert "realtime line 0" in log.lines[0]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))

    drive(app, script)


def test_a_failed_runs_traceback_and_revoking_a_waiting_task() -> None:
    from gradvy_console.screens.modals import ConfirmModal, DetailModal

    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("2")
        await shows(pilot, TasksScreen)
        await pilot.press("enter")                               # the failed run
        await until(pilot, lambda: isinstance(app.screen, DetailModal))
        body = app.screen.body.plain
        assert "Traceback (most recent call last)" in body and '[["u9"], {}]' in body
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, TasksScreen))
        await pilot.press("W")                                   # not run yet
        await until(pilot, lambda: app.screen.query_one("#waiting", PanelTable).row_count == 2)
        await pilot.press("down", "v")                           # the scheduled one
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "update_recommendation_models b2b2b2b2 (scheduled on ml)" in app.screen.question
        await pilot.press("y")
        await performed(pilot, operator, "revoke_task",
                        {"task_id": "b2b2b2b2-0000-4000-8000-000000000002"})

    drive(app, script)


def test_filters_on_every_list_and_replaying_a_reason() -> None:
    """Typing in a screen's filter (Tab to it) keeps the rows that hold the text, on the
    dead letters, alerts, action log and anomalies; a on a dead letter replays its reason."""
    from gradvy_console.screens.modals import ConfirmModal

    operator = FakeOperator()
    app = make_fake_app(operator=operator)

    async def type_filter(pilot: Pilot[Any], text: str) -> None:
        app.screen.query_one("#filter").focus()
        for ch in text:
            await pilot.press("space" if ch == " " else ch)
        await pilot.pause()

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("3")
        await shows(pilot, DeadLettersScreen)
        await type_filter(pilot, "timestamp")
        await until(pilot, lambda: app.screen.query_one(PanelTable).row_count == 1)
        assert "(1 of 2)" in text_of(app.screen.query_one("#screen-title"))
        await pilot.press("escape", "a")                       # keys back to the table
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "every bad_timestamp dead letter (1 listed here)" in app.screen.question
        await pilot.press("y")
        await performed(pilot, operator, "replay_dead_letters", {"reason": "bad_timestamp"})
        for key, screen, text, rows in (("5", AlertsScreen, "disk", 1),
                                        ("7", ActionLogScreen, "stop_queue", 1)):
            await pilot.press(key)
            await until(pilot, lambda s=screen: isinstance(app.screen, s)  # type: ignore[misc]
                        and app.screen.data is not None)
            await type_filter(pilot, text)
            await until(pilot, lambda n=rows: app.screen.query_one(  # type: ignore[misc]
                PanelTable).row_count == n)
            await pilot.press("escape")
        await pilot.press("8")
        await until(pilot, lambda: isinstance(app.screen, InsightsScreen)
                    and app.screen.data is not None)
        everything = app.screen.query_one(PanelTable).row_count
        await type_filter(pilot, "no such anomaly")
        await until(pilot, lambda: app.screen.query_one(PanelTable).row_count == 0)
        assert everything > 0

    drive(app, script)


def test_a_table_that_cuts_says_so_and_shows_the_row_whole() -> None:
    from gradvy_console.screens.modals import DetailModal

    app = make_fake_app()

    async def script(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.latest is not None)
        await pilot.press("3")                        # dead letters: the detail is long
        await shows(pilot, DeadLettersScreen)
        table = app.screen.query_one(PanelTable)
        await until(pilot, lambda: table.cut)
        await until(pilot, lambda: "Whole row (cut)" in text_of(app.screen.query_one("#keys")))
        await pilot.press("down", "i")
        await until(pilot, lambda: isinstance(app.screen, DetailModal))
        body = app.screen.body.plain
        assert "timestamp 'soon' is not ISO" in body and "reason  bad_timestamp" in body
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DeadLettersScreen))

    drive(app, script, size=(60, 24))
    wide = make_fake_app()

    async def not_cut(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: wide.latest is not None)
        await pilot.press("3")
        await shows(pilot, DeadLettersScreen)
        await pilot.pause(0.1)
        assert not wide.screen.query_one(PanelTable).cut
        assert "Whole row" not in text_of(wide.screen.query_one("#keys"))

    drive(wide, not_cut, size=(160, 40))
