"""Behaviour analysis: the four blocks per learner (learning patterns, engagement, risk,
personalisation), persisted in `user_analysis` with history and in live state for an hour.

The dropout risk is one figure per learner, computed here only: from the current dropout model
when one is trained, from the documented rule otherwise (docs/scoring.md), labelled with its
source and the model's version. Every other place (the profile, the users screen, segments,
recommendations, reports) reads the stored analysis (`risk_of`), which is refreshed when it
predates the current model (`refresh_analyses`, run by update-models)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..analytics import behavior, dropout, recommend
from ..analytics.features import Features, user_features
from ..analytics.frame import DAY_MS, EventFrame, build_frame
from ..analytics.metrics import auc
from ..analytics.reports import latest_per_learner
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
    y = labels.astype(np.int64)
    model = dropout.train(x[keep], y[keep], seed=config.insights.seed)
    info: dict[str, Any] = {"users": int(keep.sum()), "dropped_out": int(labels[keep].sum()),
                            "as_of_ms": as_of, "horizon_days": horizon}
    if model is not None:
        # The card's evaluation: fitted again on 70 % of these learners (by a hash of their
        # id), AUC of the observed outcome on the other 30 %.
        held = np.array([hashlib.blake2b(u.encode(), digest_size=4).digest()[0] < 77
                         for u in frame.users], dtype=bool)
        part = dropout.train(x[keep & ~held], y[keep & ~held], seed=config.insights.seed)
        test = keep & held
        info["evaluation"] = ({"held_out_users": int(test.sum()),
                               "auc": round(auc(y[test], part.predict(x[test])), 4)}
                              if part is not None and 0 < int(y[test].sum()) < int(test.sum())
                              else None)
    return model, info


def current_dropout_model(config: Config) -> tuple[dropout.DropoutModel, int] | None:
    """The current dropout model and its version, or None (the rule is in use)."""
    found = load_model(config, "dropout")
    if not found:
        return None
    return dropout.DropoutModel.from_json(found[0]["model"]), int(found[0]["version"])


def risk_scores(config: Config, frame: EventFrame, features: Features, at_ms: int,
                users: np.ndarray
                ) -> tuple[np.ndarray, dict[int, list[dict[str, Any]]], str, int | None]:
    """Per user: risk (every user), the factors of `users` (user indexes), where the risk
    came from (the dropout model or the rule baseline) and the model's version."""
    current = current_dropout_model(config)
    if current is None:
        risk = dropout.rule_risk(frame, at_ms, config.scoring)
        factors = {int(u): [{"factor": "quiz_results", "label": "quiz results (rule baseline)",
                             "value": round(float(risk[u]), 4),
                             "contribution": round(float(risk[u]), 4)}] if risk[u] > 0 else []
                   for u in users}
        return risk, factors, "rule_baseline", None
    model, version = current
    x = dropout.select(features, model.features)
    return model.predict(x), {int(u): model.factors(x[u]) for u in users}, "model", version


def current_model_version(config: Config) -> int | None:
    current = current_dropout_model(config)
    return current[1] if current else None


def is_current(analysis: dict[str, Any] | None, version: int | None) -> bool:
    """Whether a stored analysis's risk comes from `version` (None: the rule)."""
    if not analysis:
        return False
    return bool(analysis.get("risk", {}).get("model_version") == version)


def latest_analyses(store: DocumentStore, user_ids: list[str] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """The newest stored analysis of each user (of `user_ids`, or of everyone)."""
    if user_ids is not None and len(user_ids) <= 50:
        docs = [d for uid in user_ids for d in store.get_documents("user_analysis",
                                                                   user_id=uid)]
    else:
        docs = store.get_documents("user_analysis")
        if user_ids is not None:
            wanted = set(user_ids)
            docs = [d for d in docs if d.get("user_id") in wanted]
    return latest_per_learner(docs, "as_of_ms", 2**63)


def risk_of(config: Config, store: DocumentStore, live: LiveState | None, user_id: str
            ) -> dict[str, Any] | None:
    """The learner's one dropout risk: their stored analysis's risk block (score, source,
    model version, factors, as_of_ms), analysing them now when there is none yet or it
    predates the current model. None without behavioural-analysis consent or events."""
    version = current_model_version(config)
    found = latest_analyses(store, [user_id]).get(user_id)
    if not is_current(found, version):
        try:
            analyze_users(config, store, live, user_id)
        except GradvyError:
            return None
        found = latest_analyses(store, [user_id]).get(user_id)
    return {**found["risk"], "as_of_ms": found["as_of_ms"]} if found else None


def analyze_users(config: Config, store: DocumentStore, live: LiveState | None,
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
    results = analyse_chosen(config, store, live, frame, chosen, at, progress)
    # The risk's label as the analyses carry it (the model is read again only if none was made).
    version = (results[0]["risk"]["model_version"] if results
               else current_model_version(config))
    return {"analysed": len(chosen), "risk_source": "model" if version else "rule_baseline",
            "model_version": version, "at_ms": at}


def analyse_chosen(config: Config, store: DocumentStore, live: LiveState | None,
                   frame: EventFrame, chosen: np.ndarray, at: int, progress: Any = None
                   ) -> list[dict[str, Any]]:
    """Analyse the users `chosen` (frame indexes) as of `at`; persist each result (and cache
    it in live state, when given); return them."""
    progress = progress or (lambda done, total: None)
    features = user_features(frame, at + 1)
    risk, factors, source, version = risk_scores(config, frame, features, at + 1, chosen)
    interests = recommend.category_counts(frame, at + 1,
                                          config.insights.recommend_half_life_days)
    total = len(chosen)
    out: list[dict[str, Any]] = []
    done = 0
    progress(0, total)
    for start in range(0, total, 1000):
        batch = chosen[start:start + 1000]
        ids = [frame.users[u] for u in batch]
        results = behavior.analyze(frame, features, at + 1, batch,
                                   profiles_of(config, store, ids, at), risk, factors, source,
                                   version, interests)
        store.put_documents("user_analysis", [{**r, "_id": f"{r['user_id']}:{at:013d}"}
                                              for r in results])
        if live is not None:
            for r in results:
                live.put_json(f"analysis:{r['user_id']}", r, ttl_s=ANALYSIS_TTL_S,
                              user_id=r["user_id"])
        done += len(batch)
        out += results
        progress(done, total)
    return out


def refresh_analyses(config: Config, store: DocumentStore, live: LiveState | None,
                     frame: EventFrame | None = None) -> int:
    """Analyse again, with the current model, every consenting learner who has events (a
    superset of those with an analysis: every stored analysis predates a model just saved, and
    finding who has one would read the whole analysis history); returns how many. `frame`:
    the stored events, when the caller has them loaded already."""
    frame = load_frame(store) if frame is None else frame
    allowed = consent_mask(store, frame, config.consent.profile_purpose)
    active = np.bincount(frame.user, minlength=frame.n_users) > 0
    chosen = np.flatnonzero(allowed & active)
    if len(chosen):
        analyse_chosen(config, store, live, frame, chosen, now_ms())
    return len(chosen)
