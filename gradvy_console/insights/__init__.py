"""The insights (service level): load events, call the pure functions in `analytics`, persist
the results with their history. Both the tasks and the front ends call these; backends come in
as parameters.

- `cohort`: the event frame, consent, profiles, bot-like learners;
- `analysis`: the four-block analysis with dropout risk (`user_analysis`);
- `anomalies`: rules and IsolationForest (`anomalies`: open, acknowledged, resolved);
- `segments`: rule segments and clusters (`segments`, `segment_history`, `segment_runs`);
- `recommendations`: courses per learner (`recommendations`) and the offline evaluation;
- `models`: training the recommender and the dropout model (`model_versions`; artefacts
  under DATA_DIR/models/, see `store.models`);
- `evaluation`: every insight against the simulator's ground truth (`evaluations`).
"""

from __future__ import annotations

from ..store.models import load_model, save_model
from .analysis import analyze_users, current_dropout_model, risk_scores, train_dropout
from .anomalies import acknowledge_anomaly, list_anomalies, process_anomalies
from .cohort import (
    ANALYSIS_TTL_S,
    RECOMMENDATION_TTL_S,
    bot_users,
    consent_mask,
    load_frame,
    profiles_of,
)
from .evaluation import TARGETS, evaluate
from .models import update_models
from .recommendations import evaluate_recommender, recommend_for, user_strengths
from .segments import update_segments

__all__ = [
    "ANALYSIS_TTL_S", "RECOMMENDATION_TTL_S", "TARGETS", "acknowledge_anomaly", "analyze_users",
    "bot_users", "consent_mask", "current_dropout_model", "evaluate", "evaluate_recommender",
    "list_anomalies", "load_frame", "load_model", "process_anomalies", "profiles_of",
    "recommend_for", "risk_scores", "save_model", "train_dropout", "update_models",
    "update_segments", "user_strengths",
]
