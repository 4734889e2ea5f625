"""Queue operations on real queues (SQLite files and a real Redis) with a real consumer: a
paused queue's consumer takes nothing and loses nothing; resume runs what waited, in full;
revoke deletes exactly one waiting or scheduled task; purge deletes the waiting ones and says
how many. Each is in the action log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import Worker, env_for, gradvy, run_python, status, wait_for

JOB = "monitor_system_performance"
# A pause reaches a consumer within this long (it reads the flag every 0.5 s, and a blocking
# Redis read in flight lasts up to 1 s): what is enqueued after it waits.
PAUSE_REACHES_S = 1.6


@pytest.fixture(params=["sqlite", "redis"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return env_for(tmp_path / "data", url)


def _waiting(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    out = gradvy(["run", "waiting", "--queue", "monitoring", "--json"], env, cwd)
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def _runs(env: dict[str, str], cwd: Path) -> list[str]:
    out = gradvy(["run", "tasks", "--queue", "monitoring", "--json", "--limit", "100"], env, cwd)
    return [r["task_id"] for r in json.loads(out.stdout) if r["task"] == JOB
            and r["status"] == "complete"]


def _trigger(env: dict[str, str], cwd: Path) -> str:
    out = gradvy(["run", "trigger", JOB, "--json"], env, cwd)
    assert out.returncode == 0, out.stderr
    task_id: str = json.loads(out.stdout)["task_id"]
    return task_id


def test_pause_revoke_resume_and_purge_lose_nothing_they_should_not(
        env: dict[str, str], tmp_path: Path) -> None:
    worker = Worker("monitoring", env, tmp_path, "--no-periodic")
    try:
        worker.wait_ready()
        assert gradvy(["run", "pause", "monitoring"], env, tmp_path).returncode == 0
        assert status(env, tmp_path)["queues"]["monitoring"]["paused"] is True
        time.sleep(PAUSE_REACHES_S)
        triggered = [_trigger(env, tmp_path) for _ in range(3)]
        later = run_python(f"""
            from gradvy_console.queues import registered_tasks
            import gradvy_console.tasks
            print(registered_tasks()["{JOB}"].apply_async(countdown=3600).id)
            """, env, tmp_path)
        assert later.returncode == 0, later.stderr
        scheduled = later.stdout.split()[-1]
        time.sleep(2.5)   # a consumer that took anything would have run it by now
        listed = _waiting(env, tmp_path)
        assert listed["paused"] == ["monitoring"]
        assert sorted(t["task_id"] for t in listed["tasks"] if t["where"] == "waiting") == \
            sorted(triggered)
        assert [t["task_id"] for t in listed["tasks"] if t["where"] == "scheduled"] == [scheduled]
        assert _runs(env, tmp_path) == []

        # Revoke one waiting (by the start of its id) and the scheduled one.
        out = gradvy(["run", "revoke", triggered[1][:8]], env, tmp_path)
        assert out.returncode == 0 and "(waiting on monitoring)" in out.stdout, out.stderr
        out = gradvy(["run", "revoke", scheduled], env, tmp_path)
        assert out.returncode == 0 and "(scheduled on monitoring)" in out.stdout, out.stderr
        again = gradvy(["run", "revoke", scheduled], env, tmp_path)
        assert again.returncode == 2 and "No waiting or scheduled task" in again.stderr
        assert len(_waiting(env, tmp_path)["tasks"]) == 2

        # Resume: exactly the two that waited run; the revoked ones never do.
        assert gradvy(["run", "resume", "monitoring"], env, tmp_path).returncode == 0
        wait_for(lambda: len(_runs(env, tmp_path)) == 2, what="the two waiting runs")
        assert sorted(_runs(env, tmp_path)) == sorted([triggered[0], triggered[2]])
        assert _waiting(env, tmp_path)["tasks"] == []

        # Purge: pause so they wait, then delete them; the count is what was deleted.
        assert gradvy(["run", "pause", "monitoring"], env, tmp_path).returncode == 0
        time.sleep(PAUSE_REACHES_S)
        for _ in range(4):
            _trigger(env, tmp_path)
        refused = gradvy(["run", "purge", "monitoring"], env, tmp_path)
        assert refused.returncode == 2 and "--yes" in refused.stderr
        out = gradvy(["run", "purge", "monitoring", "--yes", "--json"], env, tmp_path)
        assert json.loads(out.stdout)["purged"] == 4, out.stderr
        assert gradvy(["run", "resume", "monitoring"], env, tmp_path).returncode == 0
        time.sleep(2.5)
        assert len(_runs(env, tmp_path)) == 2 and _waiting(env, tmp_path)["tasks"] == []
        assert status(env, tmp_path)["queues"]["monitoring"]["paused"] is False

        actions = json.loads(gradvy(["run", "actions", "--json"], env, tmp_path).stdout)
        done = [a["action"] for a in actions]
        for action in ("pause_queue", "resume_queue", "revoke_task", "purge_queue"):
            assert action in done, done
    finally:
        assert worker.stop() == 0


def test_a_consumer_log_is_read_and_followed(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    logs = tmp_path / "data" / "logs"
    missing = gradvy(["run", "logs", "realtime"], env, tmp_path)
    assert missing.returncode == 1 and "No log for the realtime consumer" in missing.stderr
    logs.mkdir(parents=True)
    (logs / "worker-realtime.log").write_text("".join(f"line {i}\n" for i in range(100)))
    out = gradvy(["run", "logs", "realtime", "-n", "3"], env, tmp_path)
    assert out.stdout.splitlines() == ["line 97", "line 98", "line 99"]

    from gradvy_console.config import Config
    from gradvy_console.pipeline import log_since, log_tail

    config = Config(data_dir=tmp_path / "data")
    offset, tail = log_tail(config, "realtime", 2)
    assert tail == ["line 98", "line 99"]
    with (logs / "worker-realtime.log").open("a") as f:
        f.write("line 100\nline 1")              # the second line is still being written
    offset, new = log_since(config, "realtime", offset)
    assert new == ["line 100"]
    with (logs / "worker-realtime.log").open("a") as f:
        f.write("01\n")
    offset, new = log_since(config, "realtime", offset)
    assert new == ["line 101"]
    (logs / "worker-realtime.log").write_text("after rotation\n")   # copy-then-truncate
    assert log_since(config, "realtime", offset)[1] == ["after rotation"]
    assert gradvy(["run", "logs", "nosuch"], env, tmp_path).returncode == 2


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_depths_and_ages_read_together_equal_one_by_one(backend: str, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    """The console's one-pipeline read of every queue's depth, schedule, pause and head age
    gives what the per-queue reads give."""
    from gradvy_console import tasks  # noqa: F401 - registers the tasks
    from gradvy_console.config import Config
    from gradvy_console.queues import configure, registered_tasks

    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    queues = configure(Config(data_dir=tmp_path / "data", redis_url=url))
    job = registered_tasks()[JOB]
    job.apply_async()
    job.apply_async()
    job.apply_async(countdown=3600)
    queues["ml"].storage.set_paused(True)
    now = int(time.time() * 1000) + 1500
    depths, ages = queues.depths_and_ages(now)
    assert depths == queues.depths()
    assert ages == {q: queues.oldest_age_s(q, now) for q in queues.hueys}
    assert depths["monitoring"]["pending"] + depths["monitoring"]["scheduled"] == 3
    assert depths["ml"]["paused"] == 1 and ages["monitoring"] is not None
    assert ages["monitoring"] >= 1.5 and ages["ml"] is None


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_consoles_queue_keys_on_real_queues(backend: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    """The console's P, X and v with the real source and operator on real queues: a pause
    holds what is enqueued, purge deletes exactly the tasks that would run now (not the
    delayed one), revoke the one chosen; every step is in the action log."""
    import asyncio

    from console_fake import make_fake_app
    from textual.pilot import Pilot

    from gradvy_console import tasks  # noqa: F401 - registers the tasks
    from gradvy_console.config import Config
    from gradvy_console.console_source import PipelineSource
    from gradvy_console.operator_actions import Operator
    from gradvy_console.queues import configure, registered_tasks
    from gradvy_console.screens.modals import ConfirmModal
    from gradvy_console.widgets.panel_table import PanelTable

    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    config = Config(data_dir=tmp_path / "data", redis_url=url)
    queues = configure(config)
    job = registered_tasks()[JOB]               # on the monitoring queue
    operator = Operator(config)
    app = make_fake_app(PipelineSource(config), operator)

    async def until(pilot: Pilot[Any], condition: Any) -> None:
        deadline = asyncio.get_running_loop().time() + 20
        while not condition():
            assert asyncio.get_running_loop().time() < deadline
            await pilot.pause(0.05)

    async def script(pilot: Pilot[Any]) -> None:
        table = app.screen.query_one("#queues", PanelTable)
        await until(pilot, lambda: table.row_count == 7)
        for _ in range(6):
            await pilot.press("down")              # realtime ... monitoring, the last row
        assert table.selected_key() == "monitoring"
        await pilot.press("P")
        await until(pilot, lambda: queues["monitoring"].storage.paused())
        for _ in range(3):
            job.apply_async()
        later = job.apply_async(countdown=3600)
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: queues["monitoring"].pending_count() == 1)   # the later one
        await pilot.press("2", "W")
        waiting = app.screen.query_one("#waiting", PanelTable)
        await until(pilot, lambda: waiting.row_count == 1)
        assert waiting.selected_key() == later.id
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: queues["monitoring"].pending_count() == 0)
        await pilot.press("1")
        await until(pilot, lambda: app.screen.query_one("#queues", PanelTable).row_count == 7)

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await script(pilot)

    asyncio.run(main())
    assert queues["monitoring"].storage.paused()          # still paused: nothing resumed it
    from gradvy_console import runtime

    logged = list(reversed(runtime.store().actions(limit=10)))
    assert [(a["action"], a["ok"]) for a in logged] == [
        ("pause_queue", True), ("purge_queue", True), ("revoke_task", True)]
    assert logged[1]["outcome"] == "Purged 3 waiting tasks from monitoring."
