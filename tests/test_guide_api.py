"""The guide's monitoring and privacy snippets, copied from seed/gradvy-pipeline-guide.md with
only their import lines changed, run in a fresh interpreter on the embedded default and on
Redis, and print what the guide shows."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import env_for, gradvy, run_python

MONITORING = """
from gradvy_console.cache import cache

# Get current system metrics
metrics = cache.get('system_metrics')
print(f"CPU: {metrics['system']['cpu_percent']}%")
print(f"Memory: {metrics['system']['memory_percent']}%")

# Check for alerts
alerts = cache.get('system_alerts', [])
for alert in alerts:
    print(f"Alert: {alert['type']} - {alert['value']}%")
"""

PRIVACY = """
from gradvy_console.preferences import UserPreference
from gradvy_console.tasks import process_analytics_event

for user_id in ("learner-yes", "learner-no"):
    event_data = {"user_id": user_id, "event_type": "search",
                  "timestamp": "2026-11-30T10:00:00Z", "properties": {"query": "python"}}
    user_pref = UserPreference.objects(user_id=user_id).first()

    # Check consent before processing
    if user_pref.has_analytics_consent():
        process_analytics_event.delay(event_data)
    else:
        # Skip processing or use minimal data
        pass
"""


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_guides_monitoring_and_privacy_snippets_run(backend: str, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    env = env_for(tmp_path / "data", url)
    cfg = tmp_path / "config.toml"
    # So there is an alert to print, raised on the first sample over the line.
    cfg.write_text("[alerts]\ndisk_critical = 0.1\nfor_seconds = 0\n")
    os.chmod(cfg, 0o600)
    env["GRADVY_CONFIG"] = str(cfg)
    # CPU is a rate between two samples: the first monitoring run has none yet (the pool runs
    # it every 5 minutes).
    for _ in range(2):
        assert gradvy(["run", "monitor"], env, tmp_path).returncode == 0
    out = run_python(MONITORING, env, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"CPU: \d+(\.\d+)?%", lines[0]), lines
    assert re.fullmatch(r"Memory: \d+(\.\d+)?%", lines[1]), lines
    assert any(re.fullmatch(r"Alert: disk - \d+(\.\d+)?%", line) for line in lines[2:]), lines

    assert gradvy(["run", "consent", "learner-yes", "--grant", "analytics"], env,
                  tmp_path).returncode == 0
    assert gradvy(["run", "consent", "learner-no", "--revoke", "analytics"], env,
                  tmp_path).returncode == 0
    out = run_python(PRIVACY, env, tmp_path)
    assert out.returncode == 0, out.stderr
    check = run_python("""
        from gradvy_console import runtime
        from gradvy_console.config import load_config
        runtime.activate(load_config())
        pending = [bytes(p) for _r, p in runtime.store().inbox_peek(10, 2**62)]
        print(len(pending), any(b"learner-yes" in p for p in pending))
    """, env, tmp_path)
    assert check.stdout.split() == ["1", "True"], (check.stdout, check.stderr)


def test_cache_and_preferences_details(tmp_path: Path) -> None:
    from gradvy_console import runtime
    from gradvy_console.cache import cache
    from gradvy_console.config import load_config
    from gradvy_console.preferences import UserPreference

    runtime.activate(load_config(env={"GRADVY_DATA_DIR": str(tmp_path / "data")}))
    assert cache.get("system_metrics") is None
    assert cache.get("system_alerts", []) == []
    assert cache.get("no-such-key", "fallback") == "fallback"
    assert cache.get("analysis:nobody", {}) == {}
    with pytest.raises(TypeError, match="read-only"):
        cache.set("system_metrics", {})
    assert UserPreference.objects(user_id="nobody").first() is None
    assert UserPreference.objects(user_id="nobody").count() == 0
    store = runtime.store()
    store.record_consent("u1", {"analytics": True, "behavioral_analysis": False},
                         method="form", version="1", legal_basis="consent", actor="t", at_ms=1)
    pref = UserPreference.objects(user_id="u1").first()
    assert pref is not None and pref.has_analytics_consent()
    assert not pref.has_behavioral_consent() and not pref.has_marketing_consent()
    assert pref.has_consent("analytics") and len(pref.history) == 2
    assert [p.user_id for p in UserPreference.objects(user_id="u1")] == ["u1"]
    runtime.live().put_json("analysis:u1", {"user_id": "u1", "engagement": 0.5}, ttl_s=60,
                            user_id="u1")
    assert cache.get("analysis:u1") == {"user_id": "u1", "engagement": 0.5}
    assert cache.get("data_quality") is None
    from gradvy_console.pipeline import quality_check

    quality_check()
    latest = cache.get("data_quality")
    assert latest["no_data"] is True and latest["score"] == 100
    runtime.close()


PLATFORM = '''
import time
from pathlib import Path

from gradvy_console.tasks import SoftTimeLimitExceeded, shared_task


@shared_task(bind=True, queue="ml", time_limit=2, soft_time_limit=1)
def resource_intensive_task(self, marker):
    started = time.monotonic()
    try:
        time.sleep(10)
    except SoftTimeLimitExceeded:
        Path(marker).write_text(f"{self.name} caught the soft limit at "
                                f"{time.monotonic() - started:.1f} s")
        time.sleep(10)          # carries on: the hard limit stops it
    return "never"


@shared_task(queue="ml", priority=8, time_limit=5, soft_time_limit=3)
def quick_task(x):
    return x * 2


# The guide's snippet, as it is:
# Task with resource limits
@shared_task(bind=True, time_limit=300, soft_time_limit=240)
def resource_intensive_task_of_the_guide(self):
    # Task implementation
    pass
'''


def test_a_platform_task_with_soft_and_hard_limits_on_a_process_worker(tmp_path: Path) -> None:
    import json

    from helpers import Worker, wait_for

    (tmp_path / "myplatform.py").write_text(PLATFORM)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[general]\ntask_modules = ["myplatform"]\n')
    os.chmod(cfg, 0o600)
    env = env_for(tmp_path / "data")
    env.update({"GRADVY_CONFIG": str(cfg), "PYTHONPATH": str(tmp_path) + os.pathsep
                + os.environ.get("PYTHONPATH", "")})
    worker = Worker("ml", env, tmp_path, "--worker-type", "process", "--workers", "1")
    try:
        worker.wait_ready()
        marker = tmp_path / "soft.txt"
        out = run_python(f"""
            import myplatform
            guide = myplatform.resource_intensive_task_of_the_guide
            print(guide.call_local(), guide.queue_name)
            print(myplatform.quick_task.delay(21).get(timeout=30))
            handle = myplatform.resource_intensive_task.delay("{marker}")
            try:
                handle.get(timeout=30)
            except Exception as exc:
                print(type(exc).__name__)
        """, env, tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["None", "analytics", "42", "TaskFailed"], out.stdout
        text = marker.read_text()
        assert text.startswith("resource_intensive_task caught the soft limit at 1.")
        def both() -> list[dict[str, Any]] | None:
            runs = json.loads(gradvy(["run", "tasks", "--json"], env, tmp_path).stdout)
            mine = [r for r in runs if r["task"] in ("quick_task", "resource_intensive_task")]
            return mine if len(mine) == 2 else None
        runs = wait_for(both, timeout=30, what="both runs in the history")
        by_task = {r["task"]: r for r in runs}
        assert by_task["quick_task"]["status"] == "complete"
        assert by_task["quick_task"]["soft_limit_s"] is None
        hard = by_task["resource_intensive_task"]
        assert hard["status"] == "failed" and hard["soft_limit_s"] == 1
        assert hard["error"] == "soft time limit (1 s) reached; timed out after 2.0 s"
        listing = gradvy(["run", "tasks"], {**env, "COLUMNS": "250"}, tmp_path).stdout
        assert "soft time limit (1 s) reached; timed out after 2.0 s" in listing
        assert 1.9 <= hard["duration_s"] < 4, hard
    finally:
        worker.stop()
