"""The insight verbs end to end on a small simulation through the real CLI, and through the
service functions on the real SQLite store: persisted results, history, versioned models,
evaluation against the ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import env_for, gradvy

END = "2026-10-01T00:00:00Z"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    cwd = tmp_path_factory.mktemp("insights")
    env = env_for(cwd / "data")
    out = gradvy(["run", "simulate-data", "--simulate-count", "30000", "--users", "400",
                  "--days", "40", "--seed", "1", "--end", END], env, cwd)
    assert out.returncode == 0, out.stderr
    out = gradvy(["run", "process-events", "--batch-size", "5000", "--in-process"], env, cwd)
    assert out.returncode == 0, out.stderr
    return env, cwd


def run_json(args: list[str], env: dict[str, str], cwd: Path) -> Any:
    out = gradvy(["run", *args, "--json"], env, cwd, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_evaluate_scores_every_insight_and_persists(sim: tuple[dict[str, str], Path]) -> None:
    env, cwd = sim
    r = run_json(["evaluate"], env, cwd)
    rec = r["recommendations"]
    assert rec["users"] > 50 and rec["model"]["ndcg"] > rec["popular"]["ndcg"] > 0
    assert r["anomalies"]["planted"] > 0 and r["anomalies"]["recall"] >= 0.8
    assert r["anomalies"]["precision"] >= 0.8
    assert r["segments"]["k"] >= 3 and -1 <= r["segments"]["silhouette"] <= 1
    assert 0 <= r["segments"]["adjusted_rand_index"] <= 1
    d = r["dropout"]
    assert d["auc"] > d["rule_baseline_auc"] and 0 <= d["brier"] < 0.25
    text = gradvy(["run", "evaluate"], env, cwd, timeout=300)
    assert "NDCG@10" in text.stdout and "rule baseline AUC" in text.stdout
    from gradvy_console.config import load_config
    from gradvy_console.store import open_store

    config = load_config(env={"GRADVY_DATA_DIR": env["GRADVY_DATA_DIR"]})
    store = open_store(config)
    assert len(store.get_documents("evaluations")) == 2


def test_models_are_versioned_and_recommendations_explained(
        sim: tuple[dict[str, str], Path]) -> None:
    env, cwd = sim
    first = run_json(["update-models"], env, cwd)
    second = run_json(["update-models"], env, cwd)
    assert second["recommender"]["version"] == first["recommender"]["version"] + 1
    assert first["dropout"]["version"] is not None
    models = Path(env["GRADVY_DATA_DIR"]) / "models"
    assert (models / "recommender" / f"v{second['recommender']['version']:04d}" /
            "arrays.npz").is_file()
    assert (models.stat().st_mode & 0o077) == 0          # nobody else may write artefacts
    r = run_json(["recommend", "--user-id", "sim-u00003", "--limit", "5"], env, cwd)
    assert r["model_version"] == second["recommender"]["version"]
    assert len(r["items"]) == 5
    assert all(i["reason"] and i["source"] in ("collaborative", "content_based", "popular")
               for i in r["items"])
    unknown = run_json(["recommend", "--user-id", "nobody"], env, cwd)
    assert {i["source"] for i in unknown["items"]} == {"popular"}


def test_anomalies_are_recorded_with_actions_and_listed(
        sim: tuple[dict[str, str], Path]) -> None:
    env, cwd = sim
    summary = run_json(["check-anomalies"], env, cwd)
    assert summary["bot_like_users"] > 0
    found = run_json(["anomalies", "--status", "open"], env, cwd)
    kinds = {a["kind"] for a in found}
    assert "impossible_quiz_time" in kinds
    for a in found:
        assert a["status"] == "open" and a["evidence"] and a["action"]["type"]
        if a["kind"] == "poor_performance":
            assert a["action"]["type"] == "remedial_content"
    again = run_json(["check-anomalies"], env, cwd)
    assert again["open_by_kind"] == summary["open_by_kind"]        # idempotent
    alerts = run_json(["alerts"], env, cwd)
    assert any(a["kind"] == "bot_like_users" for a in alerts)
    bad = gradvy(["run", "anomalies", "--status", "sleeping"], env, cwd)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_segments_keep_history_of_changes(sim: tuple[dict[str, str], Path]) -> None:
    env, cwd = sim
    first = run_json(["update-segments"], env, cwd)
    assert first["users"] > 0 and first["changes"] == first["users"]
    assert first["clusters"]["k"] >= 3
    second = run_json(["update-segments"], env, cwd)
    assert second["changes"] < first["users"]           # a second run changes little


def test_analyze_one_user_and_errors(sim: tuple[dict[str, str], Path]) -> None:
    env, cwd = sim
    r = run_json(["analyze-users", "--user-id", "sim-u00003"], env, cwd)
    a = r["analysis"]
    assert set(a) >= {"learning_patterns", "engagement", "risk", "personalisation"}
    assert 0 <= a["learning_patterns"]["consistency"] <= 1
    assert isinstance(a["risk"]["factors"], list)
    assert a["personalisation"]["difficulty"] in ("easier", "more challenging", "keep")
    missing = gradvy(["run", "analyze-users", "--user-id", "nobody"], env, cwd)
    assert missing.returncode == 2 and "No stored events" in missing.stderr


def test_one_user_analysis_equals_that_user_in_the_batch(
        sim: tuple[dict[str, str], Path]) -> None:
    """Analysing one user reads only their events; the result is the batch's for them."""
    env, cwd = sim
    run_json(["analyze-users", "--all"], env, cwd)
    from gradvy_console.config import load_config
    from gradvy_console.store import open_store

    store = open_store(load_config(env={"GRADVY_DATA_DIR": env["GRADVY_DATA_DIR"]}))
    batch = sorted(store.get_documents("user_analysis", user_id="sim-u00005"),
                   key=lambda d: d["as_of_ms"])[-1]
    one = run_json(["analyze-users", "--user-id", "sim-u00005"], env, cwd)["analysis"]
    for doc in (batch, one):
        doc.pop("as_of_ms")
        doc.pop("as_of", None)        # the JSON's ISO time beside as_of_ms
        doc.pop("_id", None)
    assert one == batch
