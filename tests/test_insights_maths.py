"""The insight maths on hand-computed cases, and its invariants as properties."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradvy_console.analytics import anomalies, behavior, dropout, recommend, segments
from gradvy_console.analytics.features import user_features, weekly_slope
from gradvy_console.analytics.frame import DAY_MS, build_frame
from gradvy_console.analytics.metrics import (
    auc,
    brier,
    ndcg_at_k,
    precision_at_k,
    precision_recall,
    recall_at_k,
)
from gradvy_console.analytics.scoring import ScoringModel

T0 = 1_780_000_000_000 - 1_780_000_000_000 % DAY_MS   # a midnight


def ev(user: str, etype: str, day: float, **props: object) -> dict[str, object]:
    return {"user_id": user, "event_type": etype, "ts": int(T0 + day * DAY_MS),
            "properties": props}


# --- metrics -------------------------------------------------------------------------------


def test_ranking_metrics_by_hand() -> None:
    ranked = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}
    assert precision_at_k(ranked, relevant, 4) == 0.5
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    # DCG = 1/log2(3) + 1/log2(5); ideal (3 relevant) = 1 + 1/log2(3) + 1/log2(4)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["b", "d", "z"], relevant, 3) == pytest.approx(1.0)
    assert recall_at_k(ranked, set(), 4) == 0.0


def test_auc_brier_precision_recall_by_hand() -> None:
    labels = np.array([1, 0, 1, 0])
    # pairs (pos, neg): (0.8, 0.4) win, (0.8, 0.6) win, (0.5, 0.4) win, (0.5, 0.6) lose
    assert auc(labels, np.array([0.8, 0.4, 0.5, 0.6])) == pytest.approx(0.75)
    assert auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)   # ties: half
    assert math.isnan(auc(np.array([1, 1]), np.array([0.1, 0.2])))
    assert brier(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)
    assert precision_recall(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == (0.5, 0.5)


def test_auc_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))


# --- features ------------------------------------------------------------------------------


def test_weekly_slope_by_hand() -> None:
    # weeks 1,2,3,4 -> slope 1 per week, mean 2.5 -> 0.4; flat -> 0; empty -> 0
    counts = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0]])
    assert weekly_slope(counts) == pytest.approx([0.4, 0.0, 0.0])


def test_user_features_by_hand() -> None:
    events = [ev("u", "quiz_attempt", 0.1, score=2, total_questions=10, time_taken=5.0),
              ev("u", "quiz_attempt", 3.1, score=9, total_questions=10, time_taken=300.0),
              ev("u", "course_interaction", 3.2, course_id="c1", action="view"),
              ev("u", "search", 3.3, query="x", results_count=0),
              ev("v", "learning_session", 1.5, duration=600.0, completion_rate=0.5)]
    frame = build_frame(events)
    f = user_features(frame, T0 + 4 * DAY_MS)
    u = frame.users.index("u")
    assert f.column("events")[u] == 4
    assert f.column("active_days")[u] == 2
    assert f.column("recency_days")[u] == 0          # day 3 is the last day before as_of
    assert f.column("tenure_days")[u] == 4
    assert f.column("quiz_avg")[u] == pytest.approx(0.55)
    assert f.column("quiz_seconds_per_question")[u] == pytest.approx((0.5 + 30) / 2)
    assert f.column("fast_quiz_share")[u] == pytest.approx(0.5)
    assert f.column("search_zero_rate")[u] == 1.0
    assert f.column("max_events_day")[u] == 3
    v = frame.users.index("v")
    assert f.column("session_minutes")[v] == pytest.approx(10.0)
    assert math.isnan(f.column("quiz_avg")[v])
    # events at or after as_of are not seen
    early = user_features(frame, T0 + 1 * DAY_MS)
    assert early.column("events")[u] == 1


@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(12))))
def test_features_do_not_depend_on_event_order(order: list[int]) -> None:
    base = [ev("u" if i % 3 else "w", ["quiz_attempt", "search", "course_interaction"][i % 3],
               i * 0.7, score=i % 5, total_questions=5, time_taken=float(i + 1), query="q",
               results_count=i % 2, course_id=f"c{i % 4}", action="view")
            for i in range(12)]
    a = user_features(build_frame(base), T0 + 10 * DAY_MS)
    shuffled = build_frame([base[i] for i in order])
    b = user_features(shuffled, T0 + 10 * DAY_MS)
    ref = build_frame(base)
    for user in ref.users:
        ia, ib = ref.users.index(user), shuffled.users.index(user)
        assert np.allclose(a.values[ia], b.values[ib], equal_nan=True)


# --- dropout -------------------------------------------------------------------------------


def test_observed_dropout_labels() -> None:
    frame = build_frame([ev("gone", "search", 1), ev("stays", "search", 1),
                         ev("stays", "search", 12), ev("late", "search", 12)])
    labels = dropout.observed_dropout(frame, T0 + 10 * DAY_MS, horizon_days=7)
    got = {u: int(labels[i]) for i, u in enumerate(frame.users)}
    assert got == {"gone": 1, "stays": 0, "late": -1}


def test_rule_risk_matches_the_scoring_rule() -> None:
    model = ScoringModel()
    # ratio 0.2 (< 0.5: +0.05) 14 days before as_of decays by half; ratio 0.9 (> 0.8: -0.02)
    # on the as_of day counts in full: 0.025 - 0.02 = 0.005
    frame = build_frame([ev("u", "quiz_attempt", 0.5, score=2, total_questions=10),
                         ev("u", "quiz_attempt", 14.5, score=9, total_questions=10)])
    risk = dropout.rule_risk(frame, T0 + 14 * DAY_MS + DAY_MS // 2 + 1, model)
    assert risk[0] == pytest.approx(0.05 * 0.5 - 0.02)


def test_dropout_model_learns_recency_and_explains_itself() -> None:
    rng = np.random.default_rng(0)
    n = 400
    recency = rng.uniform(0, 30, n)
    y = (recency + rng.normal(0, 4, n) > 15).astype(np.int64)
    x = np.column_stack([recency] + [rng.normal(size=n) for _ in dropout.FEATURES[1:]])
    model = dropout.train(x, y)
    assert model is not None
    p = model.predict(x)
    assert auc(y, p) > 0.9 and ((p > 0) & (p < 1)).all()
    top = model.factors(np.array([29.0] + [0.0] * (len(dropout.FEATURES) - 1)))
    assert top[0]["factor"] == "recency_days" and top[0]["value"] == 29.0
    again = dropout.DropoutModel.from_json(model.to_json())
    assert np.allclose(again.predict(x), p)
    assert dropout.train(x[:10], y[:10]) is None      # too few: the rule baseline stays


# --- recommendations -----------------------------------------------------------------------


def _catalogue() -> list[dict[str, Any]]:
    return [{"course_id": f"m{i}", "category": "math"} for i in range(3)] + [
        {"course_id": f"a{i}", "category": "art"} for i in range(3)]


def test_recommender_prefers_the_users_category_and_excludes_completed() -> None:
    events = []
    for u in range(6):   # math learners take m0 and m1; m0 is the most popular
        events += [ev(f"math{u}", "course_interaction", 1, course_id="m0", action="view"),
                   ev(f"math{u}", "course_interaction", 2, course_id="m1", action="enroll")]
    events += [ev("artist", "course_interaction", 1, course_id="a0", action="view")]
    events += [ev("me", "course_interaction", 3, course_id="m0", action="complete")]
    frame = build_frame(events, _catalogue())
    model, strengths = recommend.train(frame, T0 + 10 * DAY_MS)
    me = frame.users.index("me")
    row = np.asarray(strengths[me].todense()).ravel()
    done = np.asarray(recommend.completed_matrix(frame, T0 + 10 * DAY_MS)[me].todense()).ravel()
    interests = recommend.category_counts(frame, T0 + 10 * DAY_MS, 60.0)[me]
    items = model.recommend(row, done, interests, limit=3)
    ids = [i["course_id"] for i in items]
    assert "m0" not in ids                       # completed
    assert ids[0] == "m1"                        # same category, taken with m0
    assert all(i["reason"] and i["source"] in ("collaborative", "content_based", "popular")
               for i in items)
    # An art course ranked for a math learner is there by everyone's interests: popular.
    art = [i for i in model.recommend(row, done, interests, limit=6)
           if i["course_id"].startswith("a")]
    assert art and {i["source"] for i in art} == {"popular"}
    assert all(i["reason"].startswith("Popular with learners (art)") for i in art)
    cold = model.recommend(np.zeros(len(model.courses)), np.zeros(len(model.courses), bool),
                           np.zeros(len(model.categories)), 2)
    assert [i["source"] for i in cold] == ["popular", "popular"]
    assert cold[0]["course_id"] == "m0"         # the most chosen course


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(
    ["view", "enroll", "complete"])), min_size=1, max_size=40))
def test_completed_courses_are_never_recommended(rows: list[tuple[int, int, str]]) -> None:
    cat = _catalogue()
    events = [ev(f"u{u}", "course_interaction", 1 + i * 0.01, course_id=str(cat[c]["course_id"]),
                 action=a) for i, (u, c, a) in enumerate(rows)]
    frame = build_frame(events, cat)
    at = T0 + 5 * DAY_MS
    model, strengths = recommend.train(frame, at)
    completed = recommend.completed_matrix(frame, at)
    interests = recommend.category_counts(frame, at, 60.0)
    for u in range(frame.n_users):
        done = np.asarray(completed[u].todense()).ravel()
        row = np.asarray(strengths[u].todense()).ravel()
        ids = {i["course_id"] for i in model.recommend(row, done, interests[u], limit=6)}
        assert not ids & {model.courses[j] for j in np.flatnonzero(done)}


def test_interests_count_every_event_that_names_a_course_or_category() -> None:
    """Hand-computed: a view of m0 (math), a session on a1 (art, from the catalogue), a click
    on /courses/m2 (math), a search filtered to art, a search with no filter (nothing), all on
    the as-of day (no decay), and a math view one half-life (10 days) earlier: weight 0.5."""
    at = T0 + 20 * DAY_MS
    events = [ev("u", "course_interaction", 20 - 1e-6, course_id="m0", action="view"),
              ev("u", "learning_session", 20 - 1e-6, course_id="a1", duration=60,
                 completion_rate=0.5),
              ev("u", "button_click", 20 - 1e-6, element_id="b", page_url="/courses/m2?x=1"),
              ev("u", "search", 20 - 1e-6, query="q", results_count=1,
                 filters={"category": "art"}),
              ev("u", "search", 20 - 1e-6, query="q", results_count=1, filters={}),
              ev("u", "course_interaction", 10, course_id="m1", action="view")]
    frame = build_frame(events, _catalogue())
    counts = recommend.category_counts(frame, at, half_life_days=10.0)
    math, art = frame.categories.index("math"), frame.categories.index("art")
    assert counts[0, math] == pytest.approx(2.5, abs=1e-6)
    assert counts[0, art] == pytest.approx(2.0, abs=1e-6)
    # Posterior shares: (counts + s x prior) / (total + s), s = 2, prior 0.5 / 0.5.
    shares = recommend.interest_shares(np.array([2.5, 2.0]), np.array([0.5, 0.5]), 2.0)
    assert shares.tolist() == pytest.approx([3.5 / 6.5, 3.0 / 6.5])


def test_prior_strength_is_fitted_to_the_learners_spread() -> None:
    """Learners split 50/50 in expectation: when each sticks to one category (all 10 events
    in one) the fitted prior is weak (s small: trust the learner); when each mixes evenly (5
    and 5) it is strong (s large, growing without bound: everyone is alike). Fewer than two
    learners: the start."""
    prior = np.array([0.5, 0.5])
    loyal = np.array([[10.0, 0.0], [0.0, 10.0]] * 20)
    mixed = np.array([[5.0, 5.0]] * 40)
    assert recommend.fit_prior_strength(loyal, prior) < 0.2
    assert recommend.fit_prior_strength(mixed, prior) > 50
    assert recommend.fit_prior_strength(np.array([[3.0, 1.0]]), prior, start=1.5) == 1.5
    rng = np.random.default_rng(0)           # drawn from a Dirichlet of strength 2.4
    p = rng.dirichlet(np.full(4, 0.6), size=3000)
    draws = np.array([rng.multinomial(30, row) for row in p]).astype(float)
    assert recommend.fit_prior_strength(draws, np.full(4, 0.25)) == pytest.approx(2.4, rel=0.1)


def test_the_evaluation_reference_rankers_by_hand() -> None:
    """The ceiling: true preferences x catalogue popularity within the category. m0 and m1
    share math's popularity 3:1, a0 is art's only course; preferences math 0.2, art 0.8:
    m0 0.2 x 0.75 = 0.15, m1 0.2 x 0.25 = 0.05, a0 0.8 x 1 = 0.8. The informed ranker: the
    posterior under Dirichlet(0.3) over the simulator's 8 categories from 3 math events and 1
    art event: math (3 + 0.3) / (4 + 2.4), art (1 + 0.3) / 6.4."""
    from gradvy_console.insights.evaluation import _generative_ranker, _informed_ranker

    catalogue = [{"course_id": "m0", "category": "mathematics", "popularity": 3.0},
                 {"course_id": "m1", "category": "mathematics", "popularity": 1.0},
                 {"course_id": "a0", "category": "design", "popularity": 2.0}]
    events = [ev("u", "course_interaction", 1, course_id="m0", action="view"),
              ev("u", "course_interaction", 2, course_id="m1", action="view"),
              ev("u", "quiz_attempt", 3, course_id="m0", score=1, total_questions=2),
              ev("u", "button_click", 4, page_url="/courses/a0")]
    frame = build_frame(events, catalogue)
    ceiling = _generative_ranker(frame, [{"preferences": {"mathematics": 0.2, "design": 0.8}}],
                                 catalogue)
    assert ceiling is not None
    order = [frame.courses.index(c) for c in ("m0", "m1", "a0")]
    assert ceiling(0)[order].tolist() == pytest.approx([0.15, 0.05, 0.8])
    informed = _informed_ranker(frame, T0 + 10 * DAY_MS, catalogue)
    assert informed is not None
    math_share, art_share = 3.3 / 6.4, 1.3 / 6.4
    assert informed(0)[order].tolist() == pytest.approx([math_share * 0.75, math_share * 0.25,
                                                         art_share * 1.0])


# --- anomalies, segments, analysis -----------------------------------------------------------


def test_anomaly_rules_and_weak_areas() -> None:
    events = [ev("bot", "quiz_attempt", 1 + i * 0.001, score=5, total_questions=10,
                 time_taken=1.0, course_category="math") for i in range(5)]
    events += [ev("bot", "course_interaction", 1.5 + i * 0.001, course_id="m0", action="view")
               for i in range(60)]
    events += [ev("weak", "quiz_attempt", 2 + i * 0.1, score=2, total_questions=10,
                  time_taken=200.0, course_category="art") for i in range(3)]
    events += [ev("weak", "quiz_attempt", 2.5 + i * 0.1, score=9, total_questions=10,
                  time_taken=200.0, course_category="math") for i in range(3)]
    frame = build_frame(events, _catalogue())
    f = user_features(frame, T0 + 3 * DAY_MS)
    found = anomalies.rule_findings(f, anomalies.AnomalyRules())
    kinds = {frame.users[i]: {x["kind"] for x in fs} for i, fs in enumerate(found)}
    assert kinds["bot"] == {"impossible_quiz_time", "excessive_course_interactions"}
    assert "poor_performance" not in kinds["weak"]   # recent average (0.2*3+0.9*3)/6 = 0.55
    weak = anomalies.weak_areas(frame, frame.users.index("weak"))
    assert weak == [{"category": "art", "quiz_average": 0.2, "quizzes": 3}]
    assert type(weak[0]["quiz_average"]) is float      # stored as JSON


def test_hour_concentration_is_the_mean_resultant_length_of_the_time_of_day() -> None:
    """Hand-computed: 00:00 and 06:00 are a quarter-turn apart, |(1,0)+(0,1)|/2 = 0.7071;
    06:00 and 18:00 cancel out (0); one time of day repeated is 1."""
    frame = build_frame([ev("a", "search", 1), ev("a", "search", 2.25),
                         ev("b", "search", 1.25), ev("b", "search", 2.75),
                         ev("c", "search", 1.5), ev("c", "search", 3.5)])
    f = user_features(frame, T0 + 5 * DAY_MS)
    conc = dict(zip(frame.users, f.column("hour_concentration"), strict=True))
    assert conc["a"] == pytest.approx(math.sqrt(2) / 2)
    assert conc["b"] == pytest.approx(0.0, abs=1e-9)
    assert conc["c"] == pytest.approx(1.0)
    assert f.column("busiest_day_share").tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_bot_rules_around_the_clock_in_a_burst_and_two_fast_quizzes() -> None:
    """A script: 12 events on day 5 at even hours, 12 more on days 6-17 at odd hours (time of
    day evenly around the clock: concentration 0; busiest day 12 of 24 = 0.5). A person: the
    same 24 events each at 09:00 on its own day. One quiz at 0.1 s per question is a slip; a
    second makes it impossible."""
    events = [ev("script", "search", 5 + h / 24) for h in range(0, 24, 2)]
    events += [ev("script", "search", 6 + i + h / 24) for i, h in enumerate(range(1, 24, 2))]
    events += [ev("person", "search", d + 9 / 24) for d in range(24)]
    events += [ev("slip", "quiz_attempt", 1 + i, score=8, total_questions=10,
                  time_taken=1.0 if i == 0 else 60.0) for i in range(4)]
    events += [ev("fast", "quiz_attempt", 1 + i, score=8, total_questions=10,
                  time_taken=1.0 if i < 2 else 60.0) for i in range(4)]
    frame = build_frame(events)
    f = user_features(frame, T0 + 30 * DAY_MS)
    found = anomalies.rule_findings(f, anomalies.AnomalyRules())
    kinds = {frame.users[i]: {x["kind"] for x in fs} for i, fs in enumerate(found)}
    assert kinds["script"] == {"bot_like"}
    script = next(x for x in found[frame.users.index("script")] if x["kind"] == "bot_like")
    assert script["evidence"]["hour_concentration"] == pytest.approx(0.0, abs=1e-3)
    assert script["evidence"]["busiest_day_share"] == 0.5
    assert kinds["person"] == set()
    assert kinds["slip"] == set()
    assert kinds["fast"] == {"impossible_quiz_time"}


def test_rule_segments_first_match_wins() -> None:
    assert segments.rule_segment(None, None, None) == "new_user"
    assert segments.rule_segment(0.9, 0.1, 0.5) == "highly_engaged"
    assert segments.rule_segment(0.9, 0.7, 0.5) == "at_risk"
    assert segments.rule_segment(0.5, 0.3, 0.2) == "fast_learner"
    assert segments.rule_segment(0.2, 0.3, 0.0) == "low_engagement"
    assert segments.rule_segment(0.5, 0.3, 0.0) == "regular"


def test_cluster_description_names_the_distinctive_features() -> None:
    names = ("quiz_avg", "session_minutes", "trend")
    assert segments.describe(np.array([2.0, -0.1, -1.5]), names) == (
        "high quiz scores, declining activity")


def test_consistency_is_the_share_of_active_weeks() -> None:
    # active in weeks 0, 2 and 3 before as_of (first activity 4 weeks back): 3 of 4
    frame = build_frame([ev("u", "search", d) for d in (1, 9, 24)])
    as_of = T0 + 28 * DAY_MS
    assert behavior.consistency(frame, as_of)[0] == pytest.approx(0.75)


def test_cluster_keeps_the_last_k_when_nearly_as_good_and_numbers_by_size() -> None:
    from gradvy_console.analytics.features import Features

    rng = np.random.default_rng(0)
    names = segments.CLUSTER_FEATURES
    centres = [np.full(len(names), v) for v in (0.0, 30.0, 90.0)]
    sizes = (60, 30, 15)
    rows = np.vstack([c + rng.normal(0, 0.5, (n, len(names))) for c, n in zip(centres, sizes,
                                                                           strict=True)])
    feats = Features(names, rows)
    free = segments.cluster(feats, (3, 5), seed=0)
    assert free is not None and free.k == 3
    assert [free.sizes[c] for c in range(3)] == [60, 30, 15]    # largest first
    kept = segments.cluster(feats, (3, 5), seed=0, prefer_k=4, margin=1.0)
    assert kept is not None and kept.k == 4
    strict = segments.cluster(feats, (3, 5), seed=0, prefer_k=4, margin=0.0)
    assert strict is not None and strict.k == 3
