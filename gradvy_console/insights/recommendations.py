"""Recommendations: the recommender's offline evaluation on a time split, and courses for
one learner with score, source and reason (persisted, cached in live state for an hour)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..analytics import recommend as rec
from ..analytics.frame import EventFrame, build_frame
from ..analytics.metrics import ndcg_at_k, precision_at_k, recall_at_k
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..live import LiveState
from ..store import DocumentStore
from ..store.models import load_model
from .analysis import risk_of
from .cohort import RECOMMENDATION_TTL_S


def evaluate_recommender(frame: EventFrame, split_ms: int, params: rec.RecommenderParams,
                         exclude: np.ndarray, k: int = 10,
                         others: dict[str, Callable[[int], np.ndarray]] | None = None
                         ) -> dict[str, Any]:
    """Train before `split_ms`, score the courses each user touched after it, beside the
    popular courses; `others` are further rankers scored the same way (name -> a function of
    the user index giving a score per course)."""
    others = others or {}
    model, strengths = rec.train(frame, split_ms, params, exclude)
    interests = rec.category_counts(frame, split_ms, params.half_life_days)
    completed = rec.completed_matrix(frame, split_ms)
    after = (frame.ts >= split_ms) & (frame.etype == 0) & (frame.course >= 0)
    relevant: dict[int, set[int]] = {}          # user index -> course indexes touched after
    for u, c in zip(frame.user[after], frame.course[after], strict=True):
        relevant.setdefault(int(u), set()).add(int(c))
    excluded = set(exclude.tolist())
    popular_order = np.argsort(-model.popularity, kind="stable")
    sums = {name: [0.0, 0.0, 0.0] for name in ("model", "popular", *others)}
    n = 0
    for u, touched in relevant.items():
        if u in excluded:
            continue
        row = np.asarray(strengths[u].todense()).ravel()
        if row.sum() <= 0 and interests[u].sum() <= 0:
            continue
        done = np.asarray(completed[u].todense()).ravel()
        items = {frame.courses[c] for c in touched if not done[c]}
        if not items:
            continue
        ranked = [r["course_id"] for r in model.recommend(row, done, interests[u], k)]
        popular = [frame.courses[i] for i in popular_order if not done[i]][:k]
        rankings = {"model": ranked, "popular": popular}
        for name, scorer in others.items():
            scores = np.where(done, -np.inf, scorer(u))
            rankings[name] = [frame.courses[i] for i in np.argsort(-scores, kind="stable")[:k]]
        for name, ranking in rankings.items():
            s = sums[name]
            s[0] += precision_at_k(ranking, items, k)
            s[1] += recall_at_k(ranking, items, k)
            s[2] += ndcg_at_k(ranking, items, k)
        n += 1
    result: dict[str, Any] = {"users": n, "k": k, "split_ms": split_ms}
    for name, (p, r, g) in sums.items():
        result[name] = {"precision": round(p / n, 4) if n else None,
                        "recall": round(r / n, 4) if n else None,
                        "ndcg": round(g / n, 4) if n else None}
    return result


def user_strengths(config: Config, store: DocumentStore, model: rec.Recommender,
                   user_id: str, at_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One user's interaction strengths and completions over the model's courses, and their
    interest counts over its categories."""
    events = store.user_events(user_id, limit=1_000_000)
    frame = build_frame(events, [{"course_id": c, "category": model.categories[k]}
                                 for c, k in zip(model.courses, model.course_category,
                                                 strict=True) if k >= 0])
    n = len(model.courses)
    strengths = np.zeros(n)
    completed = np.zeros(n, dtype=bool)
    interests = np.zeros(len(model.categories))
    if len(frame):
        counts = rec.category_counts(frame, at_ms + 1, model.params.half_life_days)[0]
        cat_index = {c: i for i, c in enumerate(model.categories)}
        for j, name in enumerate(frame.categories):
            if name in cat_index:
                interests[cat_index[name]] += counts[j]
        index = {c: i for i, c in enumerate(model.courses)}
        mat = rec.strength_matrix(frame, at_ms + 1, model.params.half_life_days)
        done = rec.completed_matrix(frame, at_ms + 1)
        row = np.asarray(mat[0].todense()).ravel()
        done_row = np.asarray(done[0].todense()).ravel()
        for j, course in enumerate(frame.courses):
            i = index.get(course)
            if i is not None:
                strengths[i] += row[j]
                completed[i] |= bool(done_row[j])
    return strengths, completed, interests


def recommend_for(config: Config, store: DocumentStore, live: LiveState | None, user_id: str,
                  limit: int | None = None) -> dict[str, Any]:
    """Courses for one user with score, source and reason; persisted and cached for 1 h.
    Without personalisation consent (or history) the user gets the popular courses."""
    found = load_model(config, "recommender")
    if found is None:
        raise GradvyError("No recommendation model yet: run 'gradvy run update-models'.",
                          exit_code=1)
    meta, arrays = found
    model = rec.Recommender.from_arrays(meta, arrays)
    at = now_ms()
    consented = "personalization" in store.consent_for([user_id]).get(user_id, set())
    strengths, completed, interests = user_strengths(config, store, model, user_id, at)
    if not consented:
        strengths, interests = np.zeros_like(strengths), np.zeros_like(interests)
    items = model.recommend(strengths, completed, interests,
                            limit or config.insights.recommend_limit)
    result = {"user_id": user_id, "at_ms": at, "model_version": meta["version"],
              "personalised": consented and bool(strengths.sum() + interests.sum() > 0),
              # The learner's one dropout risk, as the profile and the analysis show it.
              "risk": risk_of(config, store, live, user_id) if consented else None,
              "items": items}
    store.put_documents("recommendations", [{**result, "_id": user_id}])
    if live is not None:
        live.put_json(f"recommendations:{user_id}", result, ttl_s=RECOMMENDATION_TTL_S,
                      user_id=user_id)
    return result
