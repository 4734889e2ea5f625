"""Segments: the guide's rule segments and behavioural clusters.

Rules (first match wins, thresholds from seed/ORIGINAL.md): highly_engaged (engagement > 0.8
and risk < 0.2), at_risk (risk > 0.6), fast_learner (velocity > 0.1), low_engagement
(engagement < 0.3), new_user (no data), else regular.

Clusters: standardised behaviour features, KMeans for each k in the configured range, the k
with the best silhouette kept; each cluster is described by its centroid's most distinctive
features ("high quiz average, few active days").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import Features, impute

CLUSTER_FEATURES = ("events_per_active_day", "active_day_share", "recency_days", "trend",
                    "quiz_avg", "quiz_seconds_per_question", "session_minutes",
                    "session_completion", "hour_entropy", "share_course_interaction",
                    "share_quiz_attempt", "share_search", "max_events_day")
DESCRIBE = {
    "events_per_active_day": ("busy days", "quiet days"),
    "active_day_share": ("active most days", "active on few days"),
    "recency_days": ("inactive lately", "active lately"),
    "trend": ("growing activity", "declining activity"),
    "quiz_avg": ("high quiz scores", "low quiz scores"),
    "quiz_seconds_per_question": ("slow quizzes", "very fast quizzes"),
    "session_minutes": ("long sessions", "short sessions"),
    "session_completion": ("completes sessions", "leaves sessions early"),
    "hour_entropy": ("active around the clock", "regular hours"),
    "share_course_interaction": ("browses courses", "few course interactions"),
    "share_quiz_attempt": ("quiz-heavy", "few quizzes"),
    "share_search": ("searches a lot", "rarely searches"),
    "max_events_day": ("bursts of activity", "no bursts"),
}


def rule_segment(engagement: float | None, risk: float | None, velocity: float | None) -> str:
    if engagement is None or risk is None:
        return "new_user"
    if engagement > 0.8 and risk < 0.2:
        return "highly_engaged"
    if risk > 0.6:
        return "at_risk"
    if (velocity or 0.0) > 0.1:
        return "fast_learner"
    if engagement < 0.3:
        return "low_engagement"
    return "regular"


def reasons(segment: str, engagement: float | None, risk: dict[str, Any],
            velocity: float | None) -> list[str]:
    """The figures that decided a rule segment, in words (the thresholds of `rule_segment`)."""
    if segment == "new_user" or engagement is None:
        return ["no profiled activity yet"]
    source = (f"model v{risk.get('model_version')}" if risk.get("source") == "model"
              else "rule")
    said = f"dropout risk {float(risk['score']):.3f} ({source})"
    if segment == "highly_engaged":
        return [f"engagement {engagement:.2f} above 0.8", f"{said} below 0.2"]
    if segment == "at_risk":
        return [f"{said} above 0.6"]
    if segment == "fast_learner":
        return [f"velocity {velocity or 0.0:.3f} above 0.1", f"{said} at most 0.6"]
    if segment == "low_engagement":
        return [f"engagement {engagement:.2f} below 0.3", f"{said} at most 0.6"]
    return [f"engagement {engagement:.2f}", f"{said} at most 0.6"]


@dataclass
class Clustering:
    k: int
    labels: np.ndarray
    silhouette: float
    silhouettes: dict[int, float]
    descriptions: dict[int, str]
    sizes: dict[int, int]


def describe(centroid_z: np.ndarray, names: tuple[str, ...], top: int = 2) -> str:
    """The `top` features furthest from the mean (in standard deviations), in words."""
    order = np.argsort(-np.abs(centroid_z))[:top]
    words = []
    for i in order:
        high, low = DESCRIBE.get(names[i], (f"high {names[i]}", f"low {names[i]}"))
        words.append(high if centroid_z[i] > 0 else low)
    return ", ".join(words)


def cluster(features: Features, k_range: tuple[int, int] = (3, 8), seed: int = 0,
            sample: int = 5000, prefer_k: int | None = None, margin: float = 0.02
            ) -> Clustering | None:
    """KMeans over standardised features with k chosen by silhouette (computed on a sample
    of at most `sample` users). With `prefer_k` (the last run's k), that k stays unless another
    beats its silhouette by more than `margin`: two k with nearly equal scores would otherwise
    take turns and relabel every learner on every run. Clusters are numbered by size (largest
    first), so the same partition keeps its labels. None when there are too few users."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    names = tuple(n for n in CLUSTER_FEATURES if n in features.names)
    x = np.column_stack([features.column(n) for n in names])
    n = x.shape[0]
    if n < max(10, k_range[0] * 3):
        return None
    z, _ = impute(x)
    # Heavy tails (counts, bursts) would let a few users own whole clusters.
    z = np.sign(z) * np.log1p(np.abs(z))
    z = StandardScaler().fit_transform(z)
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(n, sample), replace=False)
    best: tuple[float, int, Any] | None = None
    preferred: tuple[float, int, Any] | None = None
    silhouettes: dict[int, float] = {}
    for k in range(k_range[0], min(k_range[1], n - 1) + 1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z)
        labels_sample = km.labels_[idx]
        if len(np.unique(labels_sample)) < 2:
            continue
        score = float(silhouette_score(z[idx], labels_sample))
        silhouettes[k] = round(score, 4)
        if best is None or score > best[0]:
            best = (score, k, km)
        if k == prefer_k:
            preferred = (score, k, km)
    if best is None:
        return None
    if preferred is not None and preferred[0] >= best[0] - margin:
        best = preferred
    score, k, km = best
    counts = np.bincount(km.labels_, minlength=k)
    order = sorted(range(k), key=lambda c: (-int(counts[c]), tuple(km.cluster_centers_[c])))
    rank = np.empty(k, dtype=np.int32)
    for new, old in enumerate(order):
        rank[old] = new
    labels = rank[km.labels_]
    descriptions = {int(rank[c]): describe(km.cluster_centers_[c], names) for c in range(k)}
    sizes = {int(rank[c]): int(counts[c]) for c in range(k)}
    return Clustering(k, labels.astype(np.int32), round(score, 4), silhouettes,
                      descriptions, sizes)
