"""Analytics and ml queues: behaviour analysis, anomalies, segments, models, recommendations.
Each task is thin: it calls the service in `insights` and returns a summary (recorded in the
task history)."""

from __future__ import annotations

from typing import Any

from .. import runtime
from ..insights import (
    analyze_users,
    list_anomalies,
    process_anomalies,
    recommend_for,
    update_models,
    update_segments,
)
from ..queues import task


@task("analytics")
def analyze_user_behavior(user_id: str) -> dict[str, Any]:
    """The four-block analysis of one user, persisted with history and live for 1 h."""
    return analyze_users(runtime.get_config(), runtime.store(), runtime.live(), user_id)


@task("analytics", periodic="analyze_active_users")
def analyze_active_users() -> dict[str, Any]:
    """Analyse every user active in the last `insights.active_days` days."""
    return analyze_users(runtime.get_config(), runtime.store(), runtime.live())


@task("analytics")
def check_user_anomalies(user_id: str) -> list[dict[str, Any]]:
    """Re-run the anomaly checks and return this user's current findings."""
    process_anomalies(runtime.get_config(), runtime.store(), runtime.live())
    return list_anomalies(runtime.store(), user_id=user_id)


@task("analytics", periodic="process_user_anomalies")
def process_user_anomalies() -> dict[str, Any]:
    """Rules and IsolationForest over every consenting user; record, act, resolve."""
    return process_anomalies(runtime.get_config(), runtime.store(), runtime.live())


@task("ml", periodic="update_user_segments")
def update_user_segments() -> dict[str, Any]:
    """Rule segments and behavioural clusters; every change goes to the history."""
    return update_segments(runtime.get_config(), runtime.store(), runtime.live())


@task("ml", periodic="update_recommendation_models")
def update_recommendation_models() -> dict[str, Any]:
    """Train, evaluate and save new versions of the recommender and the dropout model."""
    return update_models(runtime.get_config(), runtime.store(), runtime.live())


@task("ml")
def generate_content_recommendations(user_id: str, limit: int | None = None
                                     ) -> dict[str, Any]:
    """Courses for one user with score, source and reason (latest model)."""
    return recommend_for(runtime.get_config(), runtime.store(), runtime.live(), user_id, limit)
