"""Anomalies per user: the guide's rules, rules for impossible quiz times and bot-like event
rates, and an IsolationForest over the behaviour features.

Bot-like: a day of more than `bot_events_per_day` events; or many events a day spread evenly
over the hours; or, over at least `sleepless_events` events, activity both around the clock
(time-of-day concentration below `sleepless_concentration`: a person's day has a waking rhythm)
and in one burst (one day holding `burst_day_share` of everything). Impossible quiz time: at
least `fast_quizzes` quizzes answered faster than `seconds_per_question` per question, and at
least `fast_quiz_share` of the timed ones (one fast quiz can be a slip; two are not).

Each finding has a kind, a severity, the evidence (the numbers that triggered it) and the
action it calls for: remedial content for weak areas (poor performance), an alert and
exclusion from model training (bot-like behaviour), review (the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import Features, impute
from .frame import EventFrame


@dataclass(frozen=True)
class AnomalyRules:
    course_interactions_per_day: float = 50.0    # the guide: more than 50 in a day (medium)
    poor_quiz_average: float = 0.40               # the guide: recent average below 40 % (high)
    min_quizzes: int = 3                          # before judging quiz results
    seconds_per_question: float = 1.0             # faster than this is not a human reading
    fast_quizzes: int = 2                         # at least this many such quizzes ...
    fast_quiz_share: float = 0.5                  # ... and at least this share of them
    bot_events_per_day: float = 150.0             # a day with more events than this
    bot_hour_entropy: float = 4.0                 # bits: activity spread evenly over the day
    # Around the clock and in one burst: both signs together, over enough events to tell.
    sleepless_events: int = 10                    # events before judging the rhythm
    sleepless_concentration: float = 0.4          # time-of-day concentration below this
    burst_day_share: float = 0.3                  # ... and one day holding this share
    contamination: float = 0.02                   # IsolationForest: expected outlier share


SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
BOT_KINDS = ("bot_like", "impossible_quiz_time")
IF_FEATURES = ("events_per_active_day", "max_events_day", "max_course_interactions_day",
               "quiz_avg", "quiz_seconds_per_question", "fast_quiz_share", "hour_entropy",
               "hour_concentration", "busiest_day_share",
               "session_minutes", "session_completion", "active_day_share",
               "share_course_interaction", "share_quiz_attempt", "share_search")


def weak_areas(frame: EventFrame, user_ix: int, threshold: float = 0.5, min_quizzes: int = 2
               ) -> list[dict[str, Any]]:
    """Categories where the user's quiz average is below `threshold` (at least `min_quizzes`
    quizzes there), weakest first."""
    mask = (frame.user == user_ix) & (frame.etype == 2) & ~np.isnan(frame.ratio) & (
        frame.category >= 0)
    cats = frame.category[mask]
    ratios = frame.ratio[mask].astype(np.float64)
    out = []
    for c in np.unique(cats):
        r = ratios[cats == c]
        if len(r) >= min_quizzes and r.mean() < threshold:
            out.append({"category": frame.categories[int(c)],
                        "quiz_average": round(float(r.mean()), 3),
                        "quizzes": int(len(r))})
    return sorted(out, key=lambda w: w["quiz_average"])


def rule_findings(features: Features, rules: AnomalyRules) -> list[list[dict[str, Any]]]:
    """Per user, the rule findings (kind, severity, evidence)."""
    col = features.column
    n = features.values.shape[0]
    ci_day, quiz_recent, quiz_n = (col("max_course_interactions_day"), col("quiz_recent_avg"),
                                   col("events") * col("share_quiz_attempt"))
    fast, secs = col("fast_quiz_share"), col("quiz_seconds_per_question")
    max_day, entropy = col("max_events_day"), col("hour_entropy")
    out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for i in np.flatnonzero(ci_day > rules.course_interactions_per_day):
        out[i].append({"kind": "excessive_course_interactions", "severity": "medium",
                       "evidence": {"max_course_interactions_in_a_day": int(ci_day[i]),
                                    "threshold": rules.course_interactions_per_day}})
    poor = (quiz_n >= rules.min_quizzes) & (quiz_recent < rules.poor_quiz_average)
    for i in np.flatnonzero(poor):
        out[i].append({"kind": "poor_performance", "severity": "high",
                       "evidence": {"recent_quiz_average": round(float(quiz_recent[i]), 3),
                                    "threshold": rules.poor_quiz_average}})
    impossible = (col("fast_quizzes") >= rules.fast_quizzes) & (fast >= rules.fast_quiz_share)
    for i in np.flatnonzero(impossible):
        out[i].append({"kind": "impossible_quiz_time", "severity": "high",
                       "evidence": {"quizzes_under_1s_per_question":
                                    int(col("fast_quizzes")[i]),
                                    "share_of_quizzes_under_1s_per_question":
                                    round(float(fast[i]), 3),
                                    "mean_seconds_per_question": round(float(secs[i]), 2)}})
    concentration = col("hour_concentration")
    sleepless = ((col("events") >= rules.sleepless_events)
                 & (concentration < rules.sleepless_concentration)
                 & (col("busiest_day_share") >= rules.burst_day_share))
    bot = (max_day > rules.bot_events_per_day) | (
        (entropy > rules.bot_hour_entropy) & (col("events_per_active_day") > 20)) | sleepless
    for i in np.flatnonzero(bot):
        out[i].append({"kind": "bot_like", "severity": "high",
                       "evidence": {"max_events_in_a_day": int(max_day[i]),
                                    "busiest_day_share": round(float(
                                        col("busiest_day_share")[i]), 3),
                                    "hour_concentration": round(float(concentration[i]), 3),
                                    "hour_entropy_bits": round(float(entropy[i]), 2),
                                    "events_per_active_day":
                                    round(float(col("events_per_active_day")[i]), 1)}})
    return out


def isolation_scores(features: Features, contamination: float, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(outlier score, flagged) per user: higher scores are more unusual. Users with too few
    events are scored 0 and never flagged."""
    from sklearn.ensemble import IsolationForest
    from sklearn.preprocessing import StandardScaler

    names = [n for n in IF_FEATURES if n in features.names]
    x = np.column_stack([features.column(n) for n in names])
    enough = features.column("events") >= 5
    scores = np.zeros(x.shape[0])
    flagged = np.zeros(x.shape[0], dtype=bool)
    if int(enough.sum()) < 20:
        return scores, flagged
    z, _ = impute(x[enough])
    z = StandardScaler().fit_transform(z)
    forest = IsolationForest(n_estimators=200, contamination=contamination, random_state=seed)
    forest.fit(z)
    scores[enough] = -forest.score_samples(z)
    flagged[enough] = forest.predict(z) == -1
    return scores, flagged


def suspicion(features: Features, if_scores: np.ndarray) -> np.ndarray:
    """A continuous bot-likeness score for ranking (AUC): fast-quiz share, the busiest day
    relative to the bot threshold, and the IsolationForest score."""
    col = features.column
    fast = np.nan_to_num(col("fast_quiz_share"))
    burst = np.clip(col("max_events_day") / AnomalyRules().bot_events_per_day, 0, 2)
    suspicion: np.ndarray = fast + 0.5 * burst + 0.5 * if_scores
    return suspicion
