"""The guide's monitoring and privacy snippets, copied from seed/gradvy-pipeline-guide.md with
only their import lines changed, run in a fresh interpreter on the embedded default and on
Redis, and print what the guide shows."""

from __future__ import annotations

import os
import re
from pathlib import Path

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
    cfg.write_text("[alerts]\ndisk_critical = 0.1\n")   # so there is an alert to print
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
    runtime.close()
