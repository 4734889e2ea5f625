"""Course recommendations: implicit-feedback item-item collaborative filtering blended with
content-based scores from the user's category preferences, popularity as the fallback.

Interaction strength per (user, course): the strongest action wins per event (view 1,
bookmark 1.5, session or quiz on the course 1.5, enroll/start 2, complete 3), decayed with a
half-life (days) and summed. Courses a user completed are never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .frame import ACTION_CODE, DAY_MS, EventFrame

ACTION_WEIGHT = {ACTION_CODE["view"]: 1.0, ACTION_CODE["bookmark"]: 1.5,
                 ACTION_CODE["enroll"]: 2.0, ACTION_CODE["start"]: 2.0,
                 ACTION_CODE["complete"]: 3.0}
ENGAGED_WEIGHT = 1.5             # a learning session or quiz on the course


@dataclass(frozen=True)
class RecommenderParams:
    half_life_days: float = 60.0
    neighbours: int = 50          # similar courses kept per course
    cf_weight: float = 0.2        # blend: cf_weight * collaborative + content_weight * content
    content_weight: float = 0.8   #        + (1 - both) * popularity
    prior_strength: float = 1.0   # category preferences shrink towards everyone's by this much
    limit: int = 10


@dataclass
class Recommender:
    courses: list[str]
    categories: list[str]
    course_category: np.ndarray          # int, -1 unknown
    popularity: np.ndarray               # 0-1, per course
    neighbour_ix: np.ndarray             # [n_courses, k] int
    neighbour_sim: np.ndarray            # [n_courses, k] float
    params: RecommenderParams = field(default_factory=RecommenderParams)

    def scores(self, strengths: np.ndarray) -> dict[str, np.ndarray]:
        """Component scores (each 0-1) for one user's strength vector over courses."""
        n = len(self.courses)
        cf = np.zeros(n)
        for i in np.flatnonzero(strengths):
            np.add.at(cf, self.neighbour_ix[i], self.neighbour_sim[i] * strengths[i])
        cf = cf / cf.max() if cf.max() > 0 else cf
        prefs = np.zeros(len(self.categories) + 1)
        known = self.course_category >= 0
        np.add.at(prefs, np.where(known, self.course_category, len(self.categories)), strengths)
        prefs = prefs[:-1]
        # Few interactions say little: shrink towards the categories' overall popularity.
        overall = np.bincount(self.course_category[known], weights=self.popularity[known],
                              minlength=len(self.categories))
        overall = overall / overall.sum() if overall.sum() > 0 else overall
        prefs = prefs + self.params.prior_strength * overall
        prefs = prefs / prefs.sum() if prefs.sum() > 0 else prefs
        # P(course) = P(category | the user's history) x the course's share of its
        # category's popularity: the likelier next course first.
        cat = np.maximum(self.course_category, 0)
        cat_total = np.bincount(cat[known], weights=self.popularity[known],
                                minlength=len(self.categories))
        within = np.where(known & (cat_total[cat] > 0),
                          self.popularity / np.maximum(cat_total[cat], 1e-12), 0.0)
        content = np.where(known, prefs[cat] * within, 0.0)
        content = content / content.max() if content.max() > 0 else content
        return {"collaborative": cf, "content_based": content, "popular": self.popularity}

    def recommend(self, strengths: np.ndarray, completed: np.ndarray, limit: int | None = None
                  ) -> list[dict[str, Any]]:
        """Top courses with score, source (the component that contributed most) and a
        reason. A user with no history gets the popular courses."""
        limit = limit or self.params.limit
        parts = self.scores(strengths)
        p = self.params
        if strengths.sum() <= 0:
            blend = parts["popular"].copy()
            weighted = {"popular": blend}
        else:
            weighted = {"collaborative": p.cf_weight * parts["collaborative"],
                        "content_based": p.content_weight * parts["content_based"],
                        "popular": (1 - p.cf_weight - p.content_weight) * parts["popular"]}
            blend = sum(weighted.values())  # type: ignore[assignment]
        blend = np.where(completed, -np.inf, blend)
        order = np.argsort(-blend, kind="stable")[:limit]
        prefs_by_cat = self._category_shares(strengths)
        out = []
        for i in order:
            if not np.isfinite(blend[i]):
                break
            source = max(weighted, key=lambda k: weighted[k][i])
            out.append({"course_id": self.courses[i], "score": round(float(blend[i]), 4),
                        "source": source, "reason": self._reason(source, i, strengths,
                                                                 prefs_by_cat)})
        return out

    def _category_shares(self, strengths: np.ndarray) -> dict[int, float]:
        total = strengths.sum()
        shares: dict[int, float] = {}
        if total <= 0:
            return shares
        for i in np.flatnonzero(strengths):
            c = int(self.course_category[i])
            if c >= 0:
                shares[c] = shares.get(c, 0.0) + float(strengths[i] / total)
        return shares

    def _reason(self, source: str, i: int, strengths: np.ndarray,
                shares: dict[int, float]) -> str:
        cat = int(self.course_category[i])
        cat_name = self.categories[cat] if cat >= 0 else "this subject"
        if source == "collaborative":
            seen = [j for j in self.neighbour_ix[i] if strengths[j] > 0]
            anchor = self.courses[seen[0]] if seen else None
            return (f"Learners who took {anchor} also took this" if anchor else
                    "Learners with similar activity took this")
        if source == "content_based":
            share = shares.get(cat, 0.0)
            return f"Matches your interest in {cat_name} ({share:.0%} of your activity)"
        return f"Popular with learners ({cat_name})"

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"course_category": self.course_category, "popularity": self.popularity,
                "neighbour_ix": self.neighbour_ix, "neighbour_sim": self.neighbour_sim}

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: Any) -> Recommender:
        return cls(list(meta["courses"]), list(meta["categories"]),
                   np.asarray(arrays["course_category"]), np.asarray(arrays["popularity"]),
                   np.asarray(arrays["neighbour_ix"]), np.asarray(arrays["neighbour_sim"]),
                   RecommenderParams(**meta["params"]))


def strength_matrix(frame: EventFrame, as_of_ms: int, half_life_days: float) -> Any:
    """Sparse users x courses interaction strengths from events before `as_of_ms`."""
    from scipy.sparse import csr_matrix

    mask = (frame.course >= 0) & (frame.ts < as_of_ms)
    et, action = frame.etype[mask], frame.action[mask]
    weight = np.zeros(int(mask.sum()))
    for code, w in ACTION_WEIGHT.items():
        weight[(et == 0) & (action == code)] = w
    weight[(et == 1) | (et == 2)] = ENGAGED_WEIGHT
    age = np.maximum(0, (as_of_ms - frame.ts[mask]) / DAY_MS)
    weight = weight * 2.0 ** (-age / half_life_days)
    return csr_matrix((weight, (frame.user[mask], frame.course[mask])),
                      shape=(frame.n_users, len(frame.courses)))


def completed_matrix(frame: EventFrame, as_of_ms: int) -> Any:
    from scipy.sparse import csr_matrix

    mask = ((frame.etype == 0) & (frame.action == ACTION_CODE["complete"])
            & (frame.ts < as_of_ms) & (frame.course >= 0))
    ones = np.ones(int(mask.sum()), dtype=bool)
    return csr_matrix((ones, (frame.user[mask], frame.course[mask])),
                      shape=(frame.n_users, len(frame.courses)), dtype=bool)


def train(frame: EventFrame, as_of_ms: int, params: RecommenderParams | None = None,
          exclude_users: np.ndarray | None = None) -> tuple[Recommender, Any]:
    """Fit on events before `as_of_ms` (rows of `exclude_users`, e.g. bot-like users, left
    out). Returns the model and the strength matrix it was fitted on."""
    from sklearn.preprocessing import normalize

    params = params or RecommenderParams()
    strengths = strength_matrix(frame, as_of_ms, params.half_life_days)
    fit = strengths
    if exclude_users is not None and len(exclude_users):
        keep = np.ones(frame.n_users, dtype=bool)
        keep[exclude_users] = False
        fit = strengths[keep]
    n_courses = len(frame.courses)
    cols = normalize(fit.T.tocsr(), norm="l2", axis=1)      # course vectors over users
    sim = (cols @ cols.T).toarray() if n_courses else np.zeros((0, 0))
    np.fill_diagonal(sim, 0.0)
    k = min(params.neighbours, max(1, n_courses - 1))
    if n_courses:
        ix = np.argsort(-sim, axis=1)[:, :k]
        vals = np.take_along_axis(sim, ix, axis=1)
    else:
        ix = np.zeros((0, k), dtype=np.int64)
        vals = np.zeros((0, k))
    # Popularity: how often courses are chosen (course-bearing events before the split, users
    # left out excluded), which estimates the chance of the next choice better than a count
    # of distinct users does.
    chosen = (frame.course >= 0) & (frame.ts < as_of_ms)
    if exclude_users is not None and len(exclude_users):
        chosen &= ~np.isin(frame.user, exclude_users)
    counts = np.bincount(frame.course[chosen], minlength=n_courses).astype(np.float64)
    popularity = counts / counts.max() if counts.max() > 0 else counts
    category = np.array([frame.course_category.get(i, -1) for i in range(n_courses)],
                        dtype=np.int64)
    model = Recommender(list(frame.courses), list(frame.categories), category, popularity,
                        ix.astype(np.int32), vals.astype(np.float32), params)
    return model, strengths
