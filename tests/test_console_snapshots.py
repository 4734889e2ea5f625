"""Snapshots (pytest-textual-snapshot) of the dashboard and every screen at 80x24 and 160x48,
with the fake source and its fixed clock. Update after a deliberate change with
`pytest tests/test_console_snapshots.py --snapshot-update`, and look at the SVGs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from console_fake import make_fake_app
from textual.pilot import Pilot

from gradvy_console.screens.list_base import ListScreen

SIZES = [(80, 24), (160, 48)]
SCREENS = {"dashboard": (), "tasks": ("2",), "dead_letters": ("3",), "schedule": ("4",),
           "alerts": ("5",), "users": ("6", "u", "1", "enter"), "action_log": ("7",),
           "insights": ("8",), "help": ("question_mark",), "simulate_dialog": ("s",),
           "privacy": ("9",), "forget_dialog": ("9", "f"), "quality": ("0",),
           "reports": ("R",), "report_dialog": ("R", "g"), "stop_dialog": ("k",),
           "users_typed": ("6", "u"), "scale_dialog": ("w",), "purge_dialog": ("X",),
           "consumer_log": ("l",), "tasks_waiting": ("2", "W"),
           "task_detail": ("2", "enter"), "revoke_dialog": ("2", "W", "v")}


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the first snapshot is shown and the screen's own data has loaded."""
    app: Any = pilot.app  # the GradvyConsole under test
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while app.latest is None or (isinstance(app.screen, ListScreen) and (
            app.screen._loading or app.screen.data is None and app.screen.SCREEN_TITLE
            and not app.screen.SCREEN_TITLE.startswith("Users"))):
        assert loop.time() < deadline
        await pilot.pause(0.02)
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(snap_compare: Any, screen: str, size: tuple[int, int]) -> None:
    keys = SCREENS[screen]

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)

    assert snap_compare(make_fake_app(), terminal_size=size, run_before=run_before)


def test_light_theme_snapshot(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_fake_app(theme="light"), terminal_size=(100, 30),
                        run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quit_dialog_snapshot(snap_compare: Any, size: tuple[int, int]) -> None:
    """Quitting a console that manages a running pool asks whether to leave it or stop it."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause(0.1)

    assert snap_compare(make_fake_app(manage_pool=True), terminal_size=size,
                        run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_read_only_snapshot(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_fake_app(read_only=True), terminal_size=size,
                        run_before=run_before)
