"""Model training: the recommender and the dropout model on everything stored (bot-like
learners left out), each evaluated on a time split, saved as new versions."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analytics import recommend as rec
from ..clock import now_ms
from ..config import Config
from ..store import DocumentStore
from ..store.models import save_model
from .analysis import train_dropout
from .cohort import bot_users, load_frame
from .recommendations import evaluate_recommender


def update_models(config: Config, store: DocumentStore) -> dict[str, Any]:
    """Train the recommender and the dropout model on everything stored (bot-like users left
    out), evaluate each on a time split of the same data, save new versions."""
    frame = load_frame(store)
    # As of the newest stored event when the data stops before now (an imported or simulated
    # history): windows after the last event would hold nothing to learn from.
    at = min(now_ms(), int(frame.ts.max()) + 1) if len(frame) else now_ms()
    exclude = bot_users(store)
    excluded_ix = np.array([i for i, u in enumerate(frame.users) if u in exclude], dtype=int)
    params = rec.RecommenderParams(half_life_days=config.insights.recommend_half_life_days,
                                   limit=config.insights.recommend_limit)
    out: dict[str, Any] = {"at_ms": at, "excluded_bot_users": len(excluded_ix)}
    if not frame.courses:
        out["recommender"] = {"version": None, "reason": "no course interactions stored yet"}
    else:
        span_start = int(frame.ts.min())
        split = at - int((at - span_start) * config.insights.holdout_share)
        evaluation = evaluate_recommender(frame, split, params, excluded_ix)
        model, strengths = rec.train(frame, at + 1, params, excluded_ix)
        version = save_model(config, store, "recommender", {
            "courses": model.courses, "categories": model.categories,
            "params": params.__dict__, "prior_strength": model.prior_strength,
            "evaluation": evaluation,
            "training": {"users": int(strengths.shape[0] - len(excluded_ix)),
                         "courses": int(strengths.shape[1]), "interactions": int(strengths.nnz),
                         "events": len(frame)}}, model.to_arrays())
        out["recommender"] = {"version": version, "evaluation": evaluation}
    model_d, info = train_dropout(config, frame, at, exclude)
    if model_d is None:
        out["dropout"] = {"version": None, "reason": "too few users with a known outcome; "
                          "the rule baseline stays in use", "training": info}
    else:
        version = save_model(config, store, "dropout", {"model": model_d.to_json(),
                                                        "training": info,
                                                        "params": {"C": 1.0,
                                                                   "calibration": "sigmoid"}})
        out["dropout"] = {"version": version, "training": info}
    return out
