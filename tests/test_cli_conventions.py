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


# Verbs whose output is not a verb's data: a server, a consumer, Prometheus's own format, and
# a log's own lines.
NOT_DATA = {"serve", "worker", "metrics", "logs"}
# The data verbs that need no argument, run for real on a fresh data dir.
READ_VERBS = ["status", "tasks", "schedule", "alerts", "anomalies", "erasures", "reports",
              "actions", "dead-letters", "doctor", "quality-check", "audit", "monitor",
              "waiting"]


def _verbs() -> dict[str, object]:
    import typer.main

    from gradvy_console.cli import app

    root = typer.main.get_command(app)
    ctx = root.make_context("gradvy", ["run", "--help"], resilient_parsing=True)
    run = root.get_command(ctx, "run")                               # type: ignore[attr-defined]
    verbs = {name: run.get_command(ctx, name) for name in run.list_commands(ctx)}
    verbs.update({n: root.get_command(ctx, n) for n in root.list_commands(ctx)   # type: ignore[attr-defined]
                  if n != "run"})
    return verbs


def test_every_verb_has_help_and_every_data_verb_json() -> None:
    from typer.testing import CliRunner

    from gradvy_console.cli import app

    verbs = _verbs()
    assert len(verbs) >= 40
    for name, verb in verbs.items():
        args = ([name] if name in ("serve", "worker") else ["run", name]) + ["--help"]
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 0 and "Usage:" in out.output, (name, out.output)
        options = {o for p in verb.params for o in p.opts}              # type: ignore[attr-defined]
        if name not in NOT_DATA:
            assert "--json" in options, f"{name} has no --json"
    assert set(READ_VERBS) <= set(verbs)


def test_the_read_verbs_print_valid_json_with_iso_times(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    gradvy(["run", "simulate-data", "--simulate-count", "200", "--users", "10", "--days", "2"],
           env, tmp_path)
    gradvy(["run", "process-events"], env, tmp_path)
    for verb in READ_VERBS:
        out = gradvy(["run", verb, "--json"], env, tmp_path)
        assert out.returncode in (0, 1), (verb, out.stderr)         # doctor: 1 on a finding
        data = json.loads(out.stdout)

        def times(value: object, verb: str = verb) -> None:
            if isinstance(value, dict):
                for key, v in value.items():
                    if key.endswith("_ms") and isinstance(v, int) and v > 946_684_800_000:
                        assert str(value.get(key[:-3], "")).endswith("Z"), (verb, key)
                    times(v, verb)
            elif isinstance(value, list):
                for v in value:
                    times(v, verb)
        times(data)


def test_version_and_bad_arguments_are_one_sentence_and_exit_2(tmp_path: Path) -> None:
    from gradvy_console import __version__

    env = env_for(tmp_path / "data")
    assert gradvy(["--version"], env, tmp_path).stdout.strip() == f"gradvy {__version__}"
    for args, sentence in [(["tasks", "--queue", "nosuch"], "Unknown queue 'nosuch'"),
                           (["tasks", "--limit", "-5"], "--limit must be at least 1"),
                           (["restart", "nosuch"], "Unknown queue 'nosuch'"),
                           (["scale", "ml", "0"], "WORKERS must be at least 1"),
                           (["ack", "nosuch"], "No alert nosuch"),
                           (["retry", "nosuch"], "No task run nosuch")]:
        out = gradvy(["run", *args], env, tmp_path)
        assert out.returncode == 2 and sentence in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_simulations_a_user_can_reason_about(tmp_path: Path) -> None:
    from gradvy_console.analytics.simulator import realistic_count

    env = env_for(tmp_path / "data")
    first = json.loads(gradvy(["run", "simulate-data", "--users", "40", "--days", "10",
                               "--json"], env, tmp_path).stdout)
    # No count: the population's realistic activity (1.25 events per learner per day).
    assert first["events"] == realistic_count(40, 10) == 500 and first["id_prefix"] == "sim"
    second = json.loads(gradvy(["run", "simulate-data", "--users", "40", "--days", "10",
                                "--seed", "2", "--json"], env, tmp_path).stdout)
    assert second["id_prefix"] == "sim2"                # a new population, not merged
    merged = json.loads(gradvy(["run", "simulate-data", "--users", "40", "--days", "10",
                                "--merge", "--json"], env, tmp_path).stdout)
    assert merged["id_prefix"] == "sim"
    gradvy(["run", "process-events"], env, tmp_path)
    users = json.loads(gradvy(["run", "status", "--json"], env, tmp_path).stdout)["users"]
    assert 60 < users["total"] <= 80                    # two populations of 40 (some idle)
    for args in (["--users", "0"], ["--days", "-1"], ["--simulate-count", "0"]):
        bad = gradvy(["run", "simulate-data", *args], env, tmp_path)
        assert bad.returncode == 2 and "at least 1" in bad.stderr, (args, bad.stderr)


def test_process_events_chooses_its_batch_size() -> None:
    from gradvy_console.pipeline.processing import auto_batch_size

    assert auto_batch_size(50_000, 2, use_queue=False) == 10_000
    assert auto_batch_size(20_000, 2, use_queue=True) == 2_500       # 4 batches per worker
    assert auto_batch_size(500, 2, use_queue=True) == 1_000          # never tiny
    assert auto_batch_size(10_000_000, 2, use_queue=True) == 10_000  # never huge


def test_process_events_defaults_and_says_when_nothing_was_pending(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    gradvy(["run", "simulate-data", "--users", "20", "--days", "5"], env, tmp_path)
    first = json.loads(gradvy(["run", "process-events", "--json"], env, tmp_path).stdout)
    assert first["batch_size"] == 10_000 and first["mode"] == "in-process"
    assert first["processed"] + first["duplicates"] + first["no_consent"] + \
        first["dead_lettered"] == 125
    again = gradvy(["run", "process-events"], env, tmp_path)
    assert again.stdout.startswith("Nothing was pending.")
    small = gradvy(["run", "process-events", "--batch-size", "0"], env, tmp_path)
    assert small.returncode == 2 and "--batch-size must be at least 1" in small.stderr


def test_the_self_test_leaves_no_trace(tmp_path: Path) -> None:
    from helpers import Worker, status

    env = env_for(tmp_path / "data")
    gradvy(["run", "simulate-data", "--users", "20", "--days", "5"], env, tmp_path)
    gradvy(["run", "process-events"], env, tmp_path)
    worker = Worker("realtime", env, tmp_path, "--no-periodic")
    try:
        worker.wait_ready()

        def steady() -> dict[str, object]:
            data = status(env, tmp_path)
            queues = {q: {k: v for k, v in row.items() if k in ("pending", "scheduled",
                                                                 "processed_per_min")}
                      for q, row in data["queues"].items()}
            return {"events": data["events"], "users": data["users"], "queues": queues,
                    "alerts": data["alerts"]}
        before = steady()
        counters_before = _counters(env)
        out = gradvy(["run", "test", "--json"], env, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        checks = {c["check"]: c for c in json.loads(out.stdout)}
        assert checks["queue round trip"]["ok"] and checks["no trace left"]["ok"], checks
        assert steady() == before
        assert _counters(env) == counters_before
        recs = gradvy(["run", "tasks", "--json"], env, tmp_path).stdout
        assert "self_test_event" not in recs
    finally:
        worker.stop()


def _counters(env: dict[str, str]) -> dict[str, int]:
    from gradvy_console.config import load_config
    from gradvy_console.store import open_store

    store = open_store(load_config(env={"GRADVY_DATA_DIR": env["GRADVY_DATA_DIR"]}))
    try:
        return store.counters()
    finally:
        store.close()
