"""The CLI's conventions: every operator action in the action log (from the CLI as from the
console; no learner id in it), the records verbs (actions, dead-letters, replay), and the
same rules for every verb (README "The CLI's conventions")."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import env_for, gradvy


def test_cli_actions_are_in_the_action_log_without_learner_ids(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    steps = [["run", "simulate-data", "--simulate-count", "300", "--users", "12", "--days", "3"],
             ["run", "process-events"], ["run", "consent", "sim-u00003", "--grant", "analytics"],
             ["run", "analyze-users"], ["run", "trigger", "nosuch"]]
    for args in steps:
        gradvy(args, env, tmp_path)
    out = gradvy(["run", "actions", "--json"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    log = json.loads(out.stdout)
    assert [a["action"] for a in log] == ["trigger_job", "analyze_users", "consent", "process",
                                          "simulate"]
    assert all(a["via"] == "cli" and a["host"] and "@" in a["who"] for a in log)
    assert all(isinstance(a["duration_ms"], int) and a["started"].endswith("Z") for a in log)
    failed = log[0]
    assert failed["ok"] is False and "Unknown job 'nosuch'" in failed["outcome"]
    assert log[3]["ok"] and log[3]["outcome"].startswith("Processed ")
    consent = log[2]
    assert consent["params"]["subject"].startswith("s-") and "sim-u00003" not in out.stdout
    assert consent["outcome"].startswith(consent["params"]["subject"])
    human = gradvy(["run", "actions"], {**env, "COLUMNS": "80"}, tmp_path).stdout
    assert "consent" in human and "FAILED: Unknown job" in human
    assert max(len(line) for line in human.splitlines()) <= 80


def test_dead_letters_are_listed_and_replayed(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    gradvy(["run", "simulate-data", "--simulate-count", "300", "--users", "12", "--days", "3"],
           env, tmp_path)
    gradvy(["run", "process-events"], env, tmp_path)
    letters = json.loads(gradvy(["run", "dead-letters", "--json"], env, tmp_path).stdout)
    missing = [d for d in letters if d["reason"] == "missing_field"]
    assert missing and all(d["at"].endswith("Z") and d["payload"] for d in letters)
    only = json.loads(gradvy(["run", "dead-letters", "--reason", "missing_field", "--json"],
                             env, tmp_path).stdout)
    assert [d["id"] for d in only] == [d["id"] for d in missing]
    for args, sentence in [(["replay"], "Give a dead letter's id, or --all"),
                           (["replay", "--all", "--reason", "nosuch"], "Unknown reason 'nosuch'"),
                           (["replay", "999999"], "No dead letter 999999."),
                           (["dead-letters", "--limit", "0"], "--limit must be at least 1")]:
        bad = gradvy(["run", *args], env, tmp_path)
        assert bad.returncode == 2 and sentence in bad.stderr, (args, bad.stderr)
    one = gradvy(["run", "replay", letters[0]["id"], "--json"], env, tmp_path)
    assert json.loads(one.stdout) == {"replayed": 1, "ids": [letters[0]["id"]]}
    rest = json.loads(gradvy(["run", "replay", "--all", "--reason", "missing_field", "--json"],
                             env, tmp_path).stdout)
    assert rest["replayed"] == len([d for d in missing if d["id"] != letters[0]["id"]])
    left = json.loads(gradvy(["run", "dead-letters", "--json"], env, tmp_path).stdout)
    assert not any(d["reason"] == "missing_field" for d in left)
    assert len(left) == len(letters) - 1 - rest["replayed"]
