"""`analyze_user_behavior`: the guide's four blocks per user, from the event history.

- learning patterns: velocity (the profile's), peak hours, content preferences (category
  shares of `recommend.category_counts`, the same the recommendations quote), consistency =
  share of weeks with any activity between the first week and `as_of`
  (a learner active 3 of the last 4 weeks has 0.75);
- engagement: current score (the profile's), trend = the fitted weekly slope over the last 4
  weeks relative to the mean week (features.weekly_slope), peak days of the week;
- risk: score (the dropout model's probability, or the rule baseline without a model), its
  factors, intervention when risk > 0.6;
- personalisation: top three content types, difficulty advice (easier when risk > 0.5, more
  challenging when engagement > 0.8, else keep).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .features import Features
from .frame import DAY_MS, EventFrame

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
INTERVENTION_RISK = 0.6


def consistency(frame: EventFrame, as_of_ms: int) -> np.ndarray:
    """Per user: active weeks / weeks since the first active week (1.0 = every week)."""
    f = frame.select(frame.ts < as_of_ms)
    week = (as_of_ms - 1 - f.ts) // (7 * DAY_MS)
    span = int(week.max()) + 1 if len(f) else 1
    uniq = np.unique(f.user.astype(np.int64) * span + week)
    active_weeks = np.bincount((uniq // span).astype(np.int64), minlength=frame.n_users)
    first = np.zeros(frame.n_users, dtype=np.int64)
    np.maximum.at(first, f.user, week)
    weeks = first + 1
    return np.where(active_weeks > 0, active_weeks / weeks, 0.0)


def _top_k(matrix: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-matrix, axis=1, kind="stable")[:, :k]


def analyze(frame: EventFrame, features: Features, as_of_ms: int, users: np.ndarray,
            profiles: dict[str, dict[str, Any]], risk: np.ndarray,
            factors: Mapping[int, list[dict[str, Any]]], risk_source: str,
            model_version: int | None, interests: np.ndarray) -> list[dict[str, Any]]:
    """The four blocks for each user index in `users`. `profiles` maps user id to its
    profile view (engagement_score, learning_velocity, content_types); `risk` is per user
    index, `factors` maps each user index in `users` to its risk factors; `interests` are the
    users' category counts (`recommend.category_counts`: the one computation of content
    preferences, which recommendations' reasons quote too)."""
    f = frame.select(frame.ts < as_of_ms)
    n = frame.n_users
    hours = np.bincount(f.user.astype(np.int64) * 24 + (f.ts // 3_600_000) % 24,
                        minlength=n * 24).reshape(n, 24)
    weekday = ((f.ts // DAY_MS) + 3) % 7      # 1970-01-01 was a Thursday
    days = np.bincount(f.user.astype(np.int64) * 7 + weekday, minlength=n * 7).reshape(n, 7)
    cat_share = interests / np.maximum(interests.sum(axis=1, keepdims=True), 1e-12)
    peak_hours = _top_k(hours, 3)
    peak_days = _top_k(days, 2)
    top_cats = _top_k(cat_share, 3)
    steady = consistency(frame, as_of_ms)
    trend = features.column("trend")
    out = []
    for u in users:
        uid = frame.users[u]
        profile = profiles.get(uid, {})
        engagement = float(profile.get("engagement_score", 0.0))
        velocity = float(profile.get("learning_velocity", 0.0))
        r = float(risk[u])
        prefs = [{"category": frame.categories[c], "share": round(float(cat_share[u, c]), 3)}
                 for c in top_cats[u] if cat_share[u, c] > 0]
        advice = ("easier" if r > 0.5 else "more challenging" if engagement > 0.8 else "keep")
        out.append({
            "user_id": uid, "as_of_ms": as_of_ms,
            "learning_patterns": {
                "velocity": round(velocity, 6),
                "peak_hours": [int(h) for h in peak_hours[u] if hours[u, h] > 0],
                "content_preferences": prefs,
                "consistency": round(float(steady[u]), 4),
            },
            "engagement": {
                "current": round(engagement, 4),
                "trend": round(float(trend[u]), 4),
                "trend_direction": ("rising" if trend[u] > 0.1 else "falling"
                                    if trend[u] < -0.1 else "steady"),
                "peak_days": [WEEKDAYS[d] for d in peak_days[u] if days[u, d] > 0],
            },
            "risk": {
                "score": round(r, 4), "source": risk_source, "model_version": model_version,
                "factors": factors[int(u)],
                "intervention": r > INTERVENTION_RISK,
            },
            "personalisation": {
                "top_content_types": list(profile.get("content_types", []))[:3]
                or [p["category"] for p in prefs],
                "difficulty": advice,
            },
        })
    return out
