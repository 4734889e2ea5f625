"""Course recommendations: the likeliest next courses for a learner, from their interest per
category and each course's share of its category's choices, blended with item-item
collaborative filtering; popularity as the fallback.

Interests (`category_counts`, `interest_shares`): every event that names a course or a category
(course interactions, learning sessions and quizzes on a course, clicks on a course's page,
searches filtered to a category) counts once for its category, decayed with the half-life.
The posterior share of each category is (count + s x everyone's share) / (total + s): a learner
with few events is pulled towards the population, one with many is judged by their own; the
prior strength s is fitted to the learners' spread of interests (empirical Bayes: Minka's
fixed point for a Dirichlet-multinomial), not set by hand. The same counts are the content
preferences the behaviour analysis shows, and the shares a recommendation's reason quotes.

Score of a course = P(its category | the learner) x its share of that category's choices (the
likelier next course first). Collaborative part: interaction strength per (user, course), the
strongest action wins per event (view or course-page click 1, bookmark 1.5, session or quiz on
the course 1.5, enroll/start 2, complete 3), decayed and summed; course vectors compared by
cosine. Courses a user completed are never recommended.
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
PAGE_WEIGHT = 1.0                # a click on the course's page


@dataclass(frozen=True)
class RecommenderParams:
    half_life_days: float = 60.0
    neighbours: int = 50          # similar courses kept per course
    # Blend: cf_weight x collaborative + content_weight x content + the rest x popularity. The
    # collaborative part is kept small: on the simulator's learners (courses drawn within a
    # category by popularity) it adds nothing over the interests (NDCG@10 within 0.01 of
    # content alone at 0.05, 0.02-0.03 lower at 0.2); on a real catalogue it carries the
    # course-to-course affinities interests cannot.
    cf_weight: float = 0.05
    content_weight: float = 0.95
    limit: int = 10


@dataclass
class Recommender:
    courses: list[str]
    categories: list[str]
    course_category: np.ndarray          # int, -1 unknown
    popularity: np.ndarray               # 0-1, per course
    neighbour_ix: np.ndarray             # [n_courses, k] int
    neighbour_sim: np.ndarray            # [n_courses, k] float
    interest_prior: np.ndarray           # everyone's share of each category (sums to 1)
    prior_strength: float                # s of the posterior shares (fitted)
    params: RecommenderParams = field(default_factory=RecommenderParams)

    def scores(self, strengths: np.ndarray, interests: np.ndarray) -> dict[str, np.ndarray]:
        """Component scores (each 0-1) for one user's strength vector over courses and
        interest counts over categories (`category_counts`)."""
        n = len(self.courses)
        cf = np.zeros(n)
        for i in np.flatnonzero(strengths):
            np.add.at(cf, self.neighbour_ix[i], self.neighbour_sim[i] * strengths[i])
        cf = cf / cf.max() if cf.max() > 0 else cf
        known = self.course_category >= 0
        prefs = interest_shares(interests, self.interest_prior, self.prior_strength)
        # P(course) = P(category | the user's history) x the course's share of its
        # category's choices: the likelier next course first.
        cat = np.maximum(self.course_category, 0)
        cat_total = np.bincount(cat[known], weights=self.popularity[known],
                                minlength=len(self.categories))
        within = np.where(known & (cat_total[cat] > 0),
                          self.popularity / np.maximum(cat_total[cat], 1e-12), 0.0)
        content = np.where(known, prefs[cat] * within, 0.0)
        content = content / content.max() if content.max() > 0 else content
        return {"collaborative": cf, "content_based": content, "popular": self.popularity}

    def recommend(self, strengths: np.ndarray, completed: np.ndarray, interests: np.ndarray,
                  limit: int | None = None) -> list[dict[str, Any]]:
        """Top courses with score, source (the component that contributed most) and a
        reason. A user with no history gets the popular courses."""
        limit = limit or self.params.limit
        parts = self.scores(strengths, interests)
        p = self.params
        if strengths.sum() <= 0 and interests.sum() <= 0:
            blend = parts["popular"].copy()
            weighted = {"popular": blend}
        else:
            weighted = {"collaborative": p.cf_weight * parts["collaborative"],
                        "content_based": p.content_weight * parts["content_based"],
                        "popular": (1 - p.cf_weight - p.content_weight) * parts["popular"]}
            blend = sum(weighted.values())  # type: ignore[assignment]
        blend = np.where(completed, -np.inf, blend)
        order = np.argsort(-blend, kind="stable")[:limit]
        total = interests.sum()
        observed = interests / total if total > 0 else interests
        out = []
        for i in order:
            if not np.isfinite(blend[i]):
                break
            source = max(weighted, key=lambda k: weighted[k][i])
            cat = int(self.course_category[i])
            if weighted[source][i] <= 0 or (
                    source == "content_based" and (cat < 0 or observed[cat] < 0.005)):
                # Nothing of the learner's own put it here (its category's share comes from
                # everyone's interests): it is a popular course, and says so.
                source = "popular"
            out.append({"course_id": self.courses[i], "score": round(float(blend[i]), 4),
                        "source": source, "reason": self._reason(source, i, strengths,
                                                                 observed)})
        return out

    def _reason(self, source: str, i: int, strengths: np.ndarray, shares: np.ndarray) -> str:
        cat = int(self.course_category[i])
        cat_name = self.categories[cat] if cat >= 0 else "this subject"
        if source == "collaborative":
            seen = [j for j in self.neighbour_ix[i] if strengths[j] > 0]
            anchor = self.courses[seen[0]] if seen else None
            return (f"Learners who took {anchor} also took this" if anchor else
                    "Learners with similar activity took this")
        if source == "content_based":
            share = float(shares[cat]) if cat >= 0 else 0.0
            return f"Matches your interest in {cat_name} ({share:.0%} of your activity)"
        return f"Popular with learners ({cat_name})"

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"course_category": self.course_category, "popularity": self.popularity,
                "neighbour_ix": self.neighbour_ix, "neighbour_sim": self.neighbour_sim,
                "interest_prior": self.interest_prior}

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: Any) -> Recommender:
        params = {k: v for k, v in meta["params"].items()
                  if k in RecommenderParams.__dataclass_fields__}
        n_cat = len(meta["categories"])
        prior = (np.asarray(arrays["interest_prior"]) if "interest_prior" in arrays
                 else np.full(n_cat, 1.0 / max(n_cat, 1)))     # a model saved before them
        return cls(list(meta["courses"]), list(meta["categories"]),
                   np.asarray(arrays["course_category"]), np.asarray(arrays["popularity"]),
                   np.asarray(arrays["neighbour_ix"]), np.asarray(arrays["neighbour_sim"]),
                   prior, float(meta.get("prior_strength", 1.0)),
                   RecommenderParams(**params))


def course_categories(frame: EventFrame) -> np.ndarray:
    """Category index per course index (-1 unknown)."""
    return np.array([frame.course_category.get(i, -1) for i in range(len(frame.courses))],
                    dtype=np.int64)


def category_counts(frame: EventFrame, as_of_ms: int, half_life_days: float) -> np.ndarray:
    """Users x categories: every event before `as_of_ms` that names a course (its category)
    or a category counts 1, decayed by its age with the half-life."""
    by_course = course_categories(frame)
    cat = (np.where(frame.course >= 0, by_course[np.maximum(frame.course, 0)], frame.category)
           if len(by_course) else frame.category.astype(np.int64))
    mask = (cat >= 0) & (frame.ts < as_of_ms)
    age = (as_of_ms - frame.ts[mask]) / DAY_MS
    weight = 2.0 ** (-age / half_life_days)
    n_cat = len(frame.categories)
    out = np.bincount(frame.user[mask].astype(np.int64) * n_cat + cat[mask], weights=weight,
                      minlength=frame.n_users * n_cat)
    return out.reshape(frame.n_users, n_cat)


def interest_shares(counts: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Posterior category shares (each row sums to 1): (counts + s x prior) / (total + s)."""
    total = counts.sum(axis=-1, keepdims=True)
    shares: np.ndarray = (counts + strength * prior) / np.maximum(total + strength, 1e-12)
    return shares


def fit_prior_strength(counts: np.ndarray, prior: np.ndarray, start: float = 1.0,
                       iterations: int = 200) -> float:
    """The Dirichlet precision s that makes the learners' category counts likeliest, the mean
    held at `prior` (Minka 2000, fixed-point iteration on the Dirichlet-multinomial). Learners
    with no counts carry no information and are left out; `start` when nothing can be fitted
    (under two learners with counts, or every learner in one category)."""
    from scipy.special import digamma

    rows = counts[counts.sum(axis=1) > 0]
    live = prior > 0
    if rows.shape[0] < 2 or int(live.sum()) < 2:
        return start
    rows, mean = rows[:, live], prior[live] / prior[live].sum()
    totals = rows.sum(axis=1)
    s = start
    for _ in range(iterations):
        num = float((mean * (digamma(rows + s * mean) - digamma(s * mean))).sum())
        den = float((digamma(totals + s) - digamma(s)).sum())
        if den <= 0 or num <= 0:
            return start
        new = min(max(s * num / den, 1e-3), 1e6)
        if abs(new - s) < 1e-6 * s:
            return new
        s = new
    return s


def strength_matrix(frame: EventFrame, as_of_ms: int, half_life_days: float) -> Any:
    """Sparse users x courses interaction strengths from events before `as_of_ms`."""
    from scipy.sparse import csr_matrix

    mask = (frame.course >= 0) & (frame.ts < as_of_ms)
    et, action = frame.etype[mask], frame.action[mask]
    weight = np.zeros(int(mask.sum()))
    for code, w in ACTION_WEIGHT.items():
        weight[(et == 0) & (action == code)] = w
    weight[(et == 1) | (et == 2)] = ENGAGED_WEIGHT
    weight[et >= 4] = PAGE_WEIGHT
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
    category = course_categories(frame)
    interests = category_counts(frame, as_of_ms, params.half_life_days)
    if exclude_users is not None and len(exclude_users):
        interests = interests[keep]
    seen = interests.sum(axis=0)
    prior = (seen / seen.sum() if seen.sum() > 0
             else np.full(len(frame.categories), 1.0 / max(1, len(frame.categories))))
    model = Recommender(list(frame.courses), list(frame.categories), category, popularity,
                        ix.astype(np.int32), vals.astype(np.float32), prior,
                        fit_prior_strength(interests, prior), params)
    return model, strengths
