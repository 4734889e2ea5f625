"""The supervised worker pool with real processes: start, refuse a second start, stop on
SIGTERM or SIGINT, restart a consumer killed with -9 and lose or double nothing."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from helpers import GRADVY, env_for, gradvy, status, wait_for

QUEUES = {"realtime", "analytics", "ml", "reports", "maintenance", "compliance", "monitoring"}


def alive_consumers(env: dict[str, str], cwd: Path) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in status(env, cwd)["consumers"] if c["alive"]]


def pool_pids(env: dict[str, str], cwd: Path) -> list[int]:
    pools = status(env, cwd)["pools"]
    return [c["pid"] for p in pools for c in p["consumers"] if c["pid"]]


@pytest.fixture(params=["sqlite", "redis"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return env_for(tmp_path / "data", url)


def test_start_detach_refuse_second_stop(env: dict[str, str], tmp_path: Path) -> None:
    out = gradvy(["run", "start", "--detach"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    try:
        consumers = wait_for(lambda: len(alive_consumers(env, tmp_path)) == 7 and
                             alive_consumers(env, tmp_path), what="7 consumers")
        assert {c["queue"] for c in consumers} == QUEUES
        assert all(c["rss_bytes"] > 0 for c in consumers)
        pool = status(env, tmp_path)["pools"][0]
        second = gradvy(["run", "start"], env, tmp_path)
        assert second.returncode == 1
        assert f"already running (pid {pool['pid']})" in second.stderr
        scaled = gradvy(["run", "scale", "analytics", "3"], env, tmp_path)
        assert scaled.returncode == 0 and "3 thread workers" in scaled.stdout
        wait_for(lambda: any(c["queue"] == "analytics" and c["workers"] == 3
                             for c in alive_consumers(env, tmp_path)), what="scaled consumer")
        # One queue stopped stays stopped (no restart, no alert), then starts again.
        assert gradvy(["run", "stop", "ml"], env, tmp_path).returncode == 0
        wait_for(lambda: all(c["queue"] != "ml" for c in alive_consumers(env, tmp_path)),
                 what="ml stopped")
        ml = [c for c in status(env, tmp_path)["pools"][0]["consumers"] if c["queue"] == "ml"]
        assert ml[0]["state"] == "stopped"
        assert not [a for a in status(env, tmp_path)["alerts"] if "ml" in a["message"]]
        started = gradvy(["run", "start", "ml"], env, tmp_path)
        assert started.returncode == 0 and "ml: running" in started.stdout
        wait_for(lambda: any(c["queue"] == "ml" for c in alive_consumers(env, tmp_path)),
                 what="ml running again")
        pids = pool_pids(env, tmp_path) + [pool["pid"]]
    finally:
        stopped = gradvy(["run", "stop"], env, tmp_path)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    # 'stop' returns when every process has exited.
    assert not [p for p in pids if psutil.pid_exists(p) and
                psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert gradvy(["run", "stop"], env, tmp_path).returncode == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_foreground_pool_stops_gracefully_on_signal(tmp_path: Path, sig: int) -> None:
    env = env_for(tmp_path / "data")
    proc = subprocess.Popen(GRADVY + ["run", "start"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(alive_consumers(env, tmp_path)) == 7, what="7 consumers")
        pids = pool_pids(env, tmp_path)
        proc.send_signal(sig)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not [p for p in pids if psutil.pid_exists(p) and
                psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    log = proc.stdout.read().decode() if proc.stdout else ""
    assert "stopping the pool" in log and "Traceback" not in log


def test_kill_9_mid_batch_loses_nothing_and_counts_nothing_twice(
        env: dict[str, str], tmp_path: Path) -> None:
    count = 20_000
    # Progress must come from process-events' own batches, not the periodic pending-events
    # job, or the kill could land before process-events has chosen the queue.
    config = tmp_path / "no-periodic-drain.toml"
    config.write_text('[schedule]\nprocess_pending_events = ""\n')
    env = {**env, "GRADVY_CONFIG": str(config)}
    out = gradvy(["run", "simulate-data", "--simulate-count", str(count), "--seed", "5"], env,
                 tmp_path)
    assert out.returncode == 0, out.stderr
    assert gradvy(["run", "start", "--detach"], env, tmp_path).returncode == 0
    try:
        wait_for(lambda: len(alive_consumers(env, tmp_path)) == 7, what="7 consumers")
        victim = next(c for c in alive_consumers(env, tmp_path) if c["queue"] == "realtime")
        runner = subprocess.Popen(GRADVY + ["run", "process-events", "--batch-size", "200",
                                            "--json"], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: status(env, tmp_path)["events"]["processed"] > 0, what="progress")
        psutil.Process(victim["pid"]).kill()  # kill -9, in the middle of the batches
        stdout, stderr = runner.communicate(timeout=240)
        assert runner.returncode == 0, stderr
        report = json.loads(stdout)
        assert report["mode"] == "queue"
        restarted = wait_for(lambda: [c for p in status(env, tmp_path)["pools"]
                                      for c in p["consumers"]
                                      if c["queue"] == "realtime" and c["restarts"] >= 1
                                      and c["pid"] != victim["pid"]],
                             what="realtime consumer restarted")
        assert restarted
        alerts = json.loads(gradvy(["run", "alerts", "--json"], env, tmp_path).stdout)
        died = [a for a in alerts if a["kind"] == "consumer_died"]
        assert died and f"(pid {victim['pid']}) died (signal 9); restarted" in died[0]["message"]
    finally:
        gradvy(["run", "stop"], env, tmp_path)
    data = status(env, tmp_path)
    events = data["events"]
    assert events["pending"] == 0
    assert (events["processed"] + events["dead_lettered"] + events["duplicates"]
            + events["no_consent"]) == count
    # Exactly once: the store holds as many events as were counted processed.
    from gradvy_console.store.sqlite import SqliteStore

    store = SqliteStore(Path(env["GRADVY_DATA_DIR"]) / "store.db")
    assert store.count_events() == events["processed"]
    assert sum(u["acc"].get("n", {}).get("course_interaction", 0) for u in store.iter_users()
               ) <= events["processed"]


def test_two_pools_on_one_redis_share_the_fleet_and_run_jobs_once(
        tmp_path: Path, redis_url: str) -> None:
    """Two data dirs stand in for two hosts sharing one Redis."""
    envs = [env_for(tmp_path / name, redis_url) for name in ("host-a", "host-b")]
    for env in envs:   # hosts of one deployment share the key that signs queue messages
        env["GRADVY_QUEUE_KEY"] = "shared-queue-key-of-this-deployment"
    for env in envs:
        assert gradvy(["run", "start", "--detach"], env, tmp_path).returncode == 0
    try:
        wait_for(lambda: len(alive_consumers(envs[0], tmp_path)) == 14, timeout=60,
                 what="14 consumers from two pools")
        assert len(status(envs[1], tmp_path)["pools"]) == 2
        from gradvy_console.store.sqlite import SqliteStore

        stores = [SqliteStore(tmp_path / name / "store.db") for name in ("host-a", "host-b")]

        def runs() -> list[dict]:  # type: ignore[type-arg]
            return [r for s in stores for r in s.task_runs(limit=100,
                                                           task="update_realtime_metrics")]

        # Both pools' schedulers enqueue the job each minute: wait until both ran one minute.
        wait_for(lambda: len([r for r in runs() if r["status"] == "skipped"]) >= 1,
                 timeout=150, what="a minute in which both pools enqueued the job")
        by_minute: dict[int, list[str]] = {}
        for r in runs():
            by_minute.setdefault(r["started_ms"] // 60_000, []).append(r["status"])
        for minute, statuses in by_minute.items():
            assert statuses.count("complete") == 1, (minute, statuses)
    finally:
        for env in envs:
            gradvy(["run", "stop"], env, tmp_path)
