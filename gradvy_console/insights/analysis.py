"""Behaviour analysis: the four blocks per learner (learning patterns, engagement, risk,
personalisation), with the dropout risk from the current model (or the rule baseline),
persisted in `user_analysis` with history and in live state for an hour."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analytics import behavior, dropout
from ..analytics.features import Features, user_features
from ..analytics.frame import DAY_MS, EventFrame, build_frame
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..live import LiveState
from ..store import DocumentStore
from ..store.models import load_model
from .cohort import ANALYSIS_TTL_S, consent_mask, load_frame, profiles_of


def train_dropout(config: Config, frame: EventFrame, at_ms: int, exclude: set[str]
                  ) -> tuple[dropout.DropoutModel | None, dict[str, Any]]:
    """Fit on users whose outcome is known at `at_ms - horizon`."""
    horizon = config.insights.dropout_horizon_days
    as_of = at_ms - int(horizon * DAY_MS)
    labels = dropout.observed_dropout(frame, as_of, horizon)
    keep = (labels >= 0) & np.array([u not in exclude for u in frame.users], dtype=bool)
    x = dropout.select(user_features(frame, as_of))
    model = dropout.train(x[keep], labels[keep].astype(np.int64), seed=config.insights.seed)
    info = {"users": int(keep.sum()), "dropped_out": int(labels[keep].sum()),
            "as_of_ms": as_of, "horizon_days": horizon}
    return model, info


def current_dropout_model(config: Config) -> dropout.DropoutModel | None:
    found = load_model(config, "dropout")
    return dropout.DropoutModel.from_json(found[0]["model"]) if found else None


def risk_scores(config: Config, frame: EventFrame, features: Features, at_ms: int,
                users: np.ndarray) -> tuple[np.ndarray, dict[int, list[dict[str, Any]]], str]:
    """Per user: risk (every user), the factors of `users` (user indexes), and where the risk
    came from (the dropout model or the rule baseline)."""
    model = current_dropout_model(config)
    if model is None:
        risk = dropout.rule_risk(frame, at_ms, config.scoring)
        factors = {int(u): [{"factor": "quiz_results", "label": "quiz results (rule baseline)",
                             "value": round(float(risk[u]), 4),
                             "contribution": round(float(risk[u]), 4)}] if risk[u] > 0 else []
                   for u in users}
        return risk, factors, "rule_baseline"
    x = dropout.select(features, model.features)
    return model.predict(x), {int(u): model.factors(x[u]) for u in users}, "model"


def analyze_users(config: Config, store: DocumentStore, live: LiveState,
                  user_id: str | None = None, progress: Any = None, all_users: bool = False
                  ) -> dict[str, Any]:
    """Analyse one user, or every user active in the last `active_days` (or every user with
    `all_users`; always only those with behavioural-analysis consent), persist each result
    with history and put it in live state for 1 h."""
    progress = progress or (lambda done, total: None)
    at = now_ms()
    # Everything computed here depends on a user's own events only: one user needs only theirs.
    frame = (load_frame(store) if user_id is None else
             build_frame(store.user_events(user_id, limit=10_000_000),
                         store.get_documents("courses")))
    if user_id is not None and user_id not in frame.users:
        raise GradvyError(f"No stored events for user {user_id}.", exit_code=2)
    allowed = consent_mask(store, frame, config.consent.profile_purpose)
    if user_id is not None:
        chosen = np.array([frame.users.index(user_id)])
        if not allowed[chosen[0]]:
            raise GradvyError(f"User {user_id} has not consented to behavioural analysis.",
                              exit_code=1)
    else:
        recent = np.zeros(frame.n_users, dtype=bool)
        since = 0 if all_users else at - config.insights.active_days * DAY_MS
        recent[frame.user[frame.ts >= since]] = True
        chosen = np.flatnonzero(recent & allowed)
    features = user_features(frame, at + 1)
    risk, factors, source = risk_scores(config, frame, features, at + 1, chosen)
    total = len(chosen)
    done = 0
    progress(0, total)
    for start in range(0, total, 1000):
        batch = chosen[start:start + 1000]
        ids = [frame.users[u] for u in batch]
        results = behavior.analyze(frame, features, at + 1, batch,
                                   profiles_of(config, store, ids, at), risk, factors, source)
        store.put_documents("user_analysis", [{**r, "_id": f"{r['user_id']}:{at:013d}"}
                                              for r in results])
        for r in results:
            live.put_json(f"analysis:{r['user_id']}", r, ttl_s=ANALYSIS_TTL_S,
                          user_id=r["user_id"])
        done += len(batch)
        progress(done, total)
    return {"analysed": total, "risk_source": source, "at_ms": at}
