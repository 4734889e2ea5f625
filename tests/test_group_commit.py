"""Group commit in the consumer's worker: waiting tasks of a groupable kind run together, each
keeping its own result and signals; anything else, and any group that fails, runs alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huey import signals as S

from gradvy_console.queues import GradvyRedisHuey, GradvySqliteHuey
from gradvy_console.queues.group_commit import _HANDLERS, GroupingWorker, groupable


@pytest.fixture(params=["sqlite", "redis"])
def huey(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        yield GradvySqliteHuey("groups", filename=str(tmp_path / "q.db"), results=True,
                               utc=True)
        return
    server = request.getfixturevalue("redis_server")
    h = GradvyRedisHuey(f"groups-{tmp_path.name}", url=server.url, results=True,
                        blocking=True, read_timeout=1, utc=True, expire_time=60)
    yield h
    h.flush()


def worker_for(huey: Any, group_max: int) -> GroupingWorker:
    worker = GroupingWorker(huey, threading.Event(), 0.1, 1.0, 1.15)
    worker.group_max = group_max
    return worker


def test_waiting_tasks_run_as_one_group_each_with_its_result(huey: Any) -> None:
    calls: list[list[int]] = []
    seen: list[tuple[str, str]] = []

    @huey.task(name="double")
    def double(x: int) -> int:
        raise AssertionError("grouped tasks go through the group handler")

    @huey.task(name="other")
    def other(x: int) -> str:
        return f"alone {x}"

    def handler(tasks: list[Any]) -> list[int]:
        calls.append([t.args[0] for t in tasks])
        return [t.args[0] * 2 for t in tasks]

    groupable("double", handler)
    huey.signal(S.SIGNAL_EXECUTING, S.SIGNAL_COMPLETE)(
        lambda signal, task, *a: seen.append((signal, task.name)))
    try:
        results = [double(i) for i in range(5)]
        lone = other(7)
        late = double.schedule(args=(9,), delay=3600)   # an ETA: never grouped
        worker_for(huey, group_max=4).loop()
        assert calls == [[0, 1, 2, 3]]                   # at most group_max at once
        assert [r.get() for r in results[:4]] == [0, 2, 4, 6]
        worker_for(huey, group_max=4).loop()             # the fifth, then the rest, alone
        assert calls[-1] == [4] and results[4].get() == 8
        assert lone.get() == "alone 7"                  # the other task ran, alone
        assert huey.scheduled_count() == 1 and late.get() is None
        assert seen.count((S.SIGNAL_EXECUTING, "double")) == 5
        assert seen.count((S.SIGNAL_COMPLETE, "double")) == 5
    finally:
        _HANDLERS.pop("double", None)


def test_a_failing_group_runs_each_task_alone(huey: Any) -> None:
    @huey.task(name="halve")
    def halve(x: int) -> float:
        if x < 0:
            raise ValueError("negative")
        return x / 2

    def broken(tasks: list[Any]) -> list[float]:
        raise ConnectionError("the store went away")

    groupable("halve", broken)
    try:
        results = [halve(x) for x in (2, -1, 8)]
        worker_for(huey, group_max=10).loop()
        assert results[0].get() == 1.0 and results[2].get() == 4.0
        with pytest.raises(Exception, match="negative"):
            results[1].get()                # its own failure, as if never grouped
    finally:
        _HANDLERS.pop("halve", None)


def test_group_max_one_is_huey_unchanged(huey: Any) -> None:
    @huey.task(name="triple")
    def triple(x: int) -> int:
        return 3 * x

    groupable("triple", lambda tasks: pytest.fail("no grouping with group_max 1"))
    try:
        results = [triple(i) for i in range(3)]
        worker = worker_for(huey, group_max=1)
        for _ in range(3):
            worker.loop()
        assert [r.get() for r in results] == [0, 3, 6]
    finally:
        _HANDLERS.pop("triple", None)
