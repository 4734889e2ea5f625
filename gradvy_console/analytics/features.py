"""Per-user behaviour features from an EventFrame, vectorised (one row per user).

Every feature is computed from events strictly before `as_of_ms`, so a model can be trained on
the past and judged on what followed. Times are days; ratios are 0-1. Missing values (a user
with no quiz) are NaN here; the models impute them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frame import DAY_MS, EVENT_TYPES, EventFrame

WEEK_MS = 7 * DAY_MS
TREND_WEEKS = 4


@dataclass
class Features:
    names: tuple[str, ...]
    values: np.ndarray            # float64 [n_users, n_features]

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


def _per_user(frame: EventFrame, mask: np.ndarray, weights: np.ndarray | None = None
              ) -> np.ndarray:
    return np.bincount(frame.user[mask], weights=None if weights is None else weights[mask],
                       minlength=frame.n_users).astype(np.float64)


def _mean(frame: EventFrame, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    n = _per_user(frame, mask)
    total = _per_user(frame, mask, values.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def weekly_slope(counts: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of `counts` [users, weeks] against week number,
    divided by the row's mean (so +0.25 means 'growing by a quarter of the usual per week');
    0 for an empty row."""
    weeks = counts.shape[1]
    x = np.arange(weeks, dtype=np.float64) - (weeks - 1) / 2
    mean = counts.mean(axis=1)
    slope = (counts - mean[:, None]) @ x / float((x ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, slope / np.maximum(mean, 1e-12), 0.0)


def user_features(frame: EventFrame, as_of_ms: int) -> Features:
    f = frame.select(frame.ts < as_of_ms)
    n_users = frame.n_users
    everything = np.ones(len(f), dtype=bool)
    total = _per_user(f, everything)
    day = ((as_of_ms - 1 - f.ts) // DAY_MS).astype(np.int64)  # days before as_of (0 = last day)
    last = np.full(n_users, np.inf)
    first = np.full(n_users, -np.inf)
    if len(f):
        np.minimum.at(last, f.user, day.astype(np.float64))
        np.maximum.at(first, f.user, day.astype(np.float64))
    recency = np.where(np.isfinite(last), last, np.nan)
    tenure = np.where(np.isfinite(first), first + 1, np.nan)
    # Active days and the busiest day.
    span = int(day.max()) + 1 if len(f) else 1
    key = f.user.astype(np.int64) * span + day
    uniq, per_day = np.unique(key, return_counts=True)
    owner = (uniq // span).astype(np.int64)
    active_days = np.bincount(owner, minlength=n_users).astype(np.float64)
    max_day = np.zeros(n_users)
    np.maximum.at(max_day, owner, per_day.astype(np.float64))
    ci = f.etype == 0
    key_ci = key[ci]
    uniq_ci, per_day_ci = np.unique(key_ci, return_counts=True)
    max_ci_day = np.zeros(n_users)
    np.maximum.at(max_ci_day, (uniq_ci // span).astype(np.int64), per_day_ci.astype(np.float64))
    # Weekly trend over the last TREND_WEEKS weeks (oldest first).
    week = day // 7
    recent = week < TREND_WEEKS
    counts = np.bincount(f.user[recent].astype(np.int64) * TREND_WEEKS
                         + (TREND_WEEKS - 1 - week[recent]),
                         minlength=n_users * TREND_WEEKS).reshape(n_users, TREND_WEEKS)
    trend = weekly_slope(counts.astype(np.float64))
    # Quizzes: average, recent average (last 14 days), seconds per question.
    quiz = (f.etype == 2) & ~np.isnan(f.ratio)
    quiz_avg = _mean(f, quiz, f.ratio)
    quiz_recent = _mean(f, quiz & (day < 14), f.ratio)
    per_q = np.where(f.questions > 0, f.seconds / np.maximum(f.questions, 1), np.nan)
    timed = quiz & ~np.isnan(per_q)
    quiz_secs = _mean(f, timed, per_q)
    fast_quiz = _per_user(f, timed & (per_q < 1.0))
    # Sessions and searches.
    sess = (f.etype == 1)
    completion = _mean(f, sess & ~np.isnan(f.ratio), f.ratio)
    minutes = _mean(f, sess & ~np.isnan(f.seconds), f.seconds / 60.0)
    search = (f.etype == 3) & (f.results >= 0)
    n_search = _per_user(f, search)
    zero = _per_user(f, search & (f.results == 0))
    completes = _per_user(f, ci & (f.action == 4))
    # Activity hours: entropy of the hour-of-day distribution (0 = always the same hour), and
    # how concentrated the time of day is: the mean resultant length of the times as angles
    # on a 24-hour clock (1 = always the same moment, near 0 = evenly around the clock; a
    # person's day has a waking rhythm, a script's need not).
    angle = (f.ts % DAY_MS) * (2 * np.pi / DAY_MS)
    with np.errstate(invalid="ignore", divide="ignore"):
        hour_concentration = np.where(total > 0, np.hypot(
            _per_user(f, everything, np.cos(angle)), _per_user(f, everything, np.sin(angle)))
            / np.maximum(total, 1), np.nan)
    hour = ((f.ts // 3_600_000) % 24).astype(np.int64)
    hours = np.bincount(f.user.astype(np.int64) * 24 + hour,
                        minlength=n_users * 24).reshape(n_users, 24).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hours / np.maximum(hours.sum(axis=1, keepdims=True), 1)
        hour_entropy = -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)).sum(axis=1)
        shares = np.stack([_per_user(f, f.etype == t) / np.maximum(total, 1)
                           for t in range(len(EVENT_TYPES))], axis=1)
        per_active_day = total / np.maximum(active_days, 1)
        active_share = active_days / np.maximum(tenure, 1)
        recent_share = _per_user(f, day < 7) / np.maximum(total, 1)
        zero_rate = np.where(n_search > 0, zero / np.maximum(n_search, 1), np.nan)
        fast_share = fast_quiz / np.maximum(_per_user(f, timed), 1)
    columns = {
        "events": total, "active_days": active_days, "recency_days": recency,
        "tenure_days": tenure, "events_per_active_day": per_active_day,
        "active_day_share": active_share, "recent_share": recent_share, "trend": trend,
        "max_events_day": max_day, "max_course_interactions_day": max_ci_day,
        "quiz_avg": quiz_avg, "quiz_recent_avg": quiz_recent,
        "quiz_seconds_per_question": quiz_secs, "fast_quiz_share": fast_share,
        "fast_quizzes": fast_quiz, "busiest_day_share": max_day / np.maximum(total, 1),
        "hour_concentration": hour_concentration,
        "session_completion": completion, "session_minutes": minutes,
        "search_zero_rate": zero_rate, "courses_completed": completes,
        "hour_entropy": hour_entropy,
    }
    for t, name in enumerate(EVENT_TYPES):
        columns[f"share_{name}"] = shares[:, t]
    names = tuple(columns)
    return Features(names, np.column_stack([columns[n] for n in names]))


def impute(values: np.ndarray, fill: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """NaNs replaced by the column medians (or `fill`); returns (values, fill used)."""
    if fill is None:
        with np.errstate(all="ignore"):
            fill = np.nanmedian(np.where(np.isinf(values), np.nan, values), axis=0)
        fill = np.where(np.isnan(fill), 0.0, fill)
    out = np.where(np.isnan(values) | np.isinf(values), fill[None, :], values)
    return out, fill
