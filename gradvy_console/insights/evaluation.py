"""`gradvy run evaluate`: every insight scored against the simulator's ground truth on a
held-out split of the stored simulated data, and persisted (`evaluations` documents).

- recommendations: trained on events before the last `holdout_share` of the simulated days;
  relevant = the courses a user interacted with afterwards (minus those already completed);
  precision/recall/NDCG@10 for the model, for a global-popularity baseline and two
  references: the ceiling, the simulator's own odds (true preferences x catalogue
  popularity), which no ranker can expect to beat, and the informed ranker, the best
  estimate from the learner's events knowing everything else about the simulator (its prior
  and catalogue);
- anomalies: rule findings of the bot-like kinds vs the planted anomalies (precision, recall),
  and AUC of the continuous suspicion score;
- segments: silhouette of the chosen clustering, adjusted Rand index against the personas;
- dropout: features as of `dropout_horizon_days` before the end; the model is trained on the
  training users' observed outcome (no activity in the horizon) and scored on the held-out
  users against the simulator's dropout day (AUC, Brier); the rule baseline's AUC beside it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..analytics import anomalies as anomaly_rules
from ..analytics import dropout, segments
from ..analytics import recommend as rec
from ..analytics.features import Features, user_features
from ..analytics.frame import DAY_MS, EventFrame
from ..analytics.metrics import auc, brier, precision_recall
from ..config import Config
from ..errors import GradvyError
from ..store import DocumentStore
from .cohort import load_frame
from .recommendations import evaluate_recommender

TARGETS = {"ndcg_vs_popular": 2.0, "anomaly_recall": 0.9, "anomaly_precision": 0.8,
           "dropout_auc": 0.85}


def _in_test(user_id: str, share: float, seed: int) -> bool:
    digest = hashlib.blake2b(f"{seed}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def _within_category(frame: EventFrame, catalogue: list[dict[str, Any]]
                     ) -> tuple[list[Any], np.ndarray]:
    """Each course's category and its share of its category's catalogue popularity."""
    info = {c.get("course_id"): c for c in catalogue}
    cats = [info.get(c, {}).get("category") for c in frame.courses]
    pops = np.array([float(info.get(c, {}).get("popularity") or 0.0) for c in frame.courses])
    totals: dict[Any, float] = {}
    for cat, pop in zip(cats, pops, strict=True):
        totals[cat] = totals.get(cat, 0.0) + pop
    within = np.array([pop / totals[cat] if cat and totals[cat] > 0 else 0.0
                       for cat, pop in zip(cats, pops, strict=True)])
    return cats, within


def _generative_ranker(frame: EventFrame, truth: list[dict[str, Any]],
                       catalogue: list[dict[str, Any]]) -> Callable[[int], np.ndarray] | None:
    """The simulator's own odds of each course for a learner: their true category
    preferences x the course's catalogue popularity within its category, which is how the
    simulator draws a course. No ranker can expect a better NDCG on this data: the ceiling
    beside the model's figure. None when the truth lacks preferences."""
    cats, within = _within_category(frame, catalogue)
    if not any(t.get("preferences") for t in truth) or not within.any():
        return None

    def scores(u: int) -> np.ndarray:
        prefs = truth[u].get("preferences") or {}
        odds: np.ndarray = np.array([float(prefs.get(cat, 0.0)) for cat in cats]) * within
        return odds

    return scores


def _informed_ranker(frame: EventFrame, split_ms: int, catalogue: list[dict[str, Any]]
                     ) -> Callable[[int], np.ndarray] | None:
    """The best a ranker can do from a learner's events alone, knowing everything else about
    the simulator: the posterior mean of their preferences under the simulator's own prior
    (Dirichlet of PREFERENCE_CONCENTRATION per category) from every event before the split
    that names a course or category, undecayed, x the catalogue popularity within the
    category. What separates it from the ceiling is the learner's hidden preferences."""
    from ..analytics.simulator import CATEGORIES, PREFERENCE_CONCENTRATION

    cats, within = _within_category(frame, catalogue)
    if not within.any():
        return None
    counts = rec.category_counts(frame, split_ms, half_life_days=1e12)
    index = {name: i for i, name in enumerate(frame.categories)}
    columns = [index.get(c) for c in CATEGORIES]
    by_name = np.column_stack([counts[:, i] if i is not None else np.zeros(frame.n_users)
                               for i in columns])
    alpha = PREFERENCE_CONCENTRATION
    posterior = (by_name + alpha) / (by_name.sum(axis=1, keepdims=True) + alpha * len(CATEGORIES))
    course_cat = np.array([CATEGORIES.index(c) if c in CATEGORIES else -1 for c in cats])

    def scores(u: int) -> np.ndarray:
        odds: np.ndarray = np.where(course_cat >= 0, posterior[u][course_cat], 0.0) * within
        return odds

    return scores


def evaluate(config: Config, store: DocumentStore, progress: Any = None) -> dict[str, Any]:
    progress = progress or (lambda done, total: None)
    runs = sorted(store.get_documents("sim_runs"), key=lambda r: r.get("at_ms", 0))
    # The latest run's learners (another run's have their own ids, or were merged into it).
    latest = runs[-1]["_id"] if runs else None
    truth_docs = {t["user_id"]: t for t in store.get_documents("sim_truth")
                  if t.get("run_id", latest) == latest}
    if not runs or not truth_docs:
        raise GradvyError("evaluate needs simulated data with ground truth: run 'gradvy run "
                          "simulate-data --simulate-count 150000 --users 2000 --days 60 --seed 1'"
                          " and 'gradvy run process-events' first.", exit_code=1)
    run = runs[-1]
    end, days = int(run["end_ms"]), int(run["days"])
    frame = load_frame(store)
    simulated = np.array([u in truth_docs for u in frame.users], dtype=bool)
    if int(simulated.sum()) < 50:
        raise GradvyError(f"Only {int(simulated.sum())} simulated users have stored events; "
                          "evaluate needs at least 50 (simulate more and process them).",
                          exit_code=1)
    frame = frame.select(simulated[frame.user])
    ins = config.insights
    truth = [truth_docs.get(u, {}) for u in frame.users]
    active = np.bincount(frame.user, minlength=frame.n_users) > 0
    result: dict[str, Any] = {"at_ms": int(time.time() * 1000), "sim_run": run["_id"],
                              "users": int(active.sum()), "events": len(frame),
                              "targets": TARGETS}
    progress(0, 4)

    # Recommendations.
    planted = np.array([bool(t.get("planted_anomalies")) for t in truth])
    split = end - int(days * ins.holdout_share * DAY_MS)
    params = rec.RecommenderParams(half_life_days=ins.recommend_half_life_days)
    catalogue = store.get_documents("courses")
    ceiling = _generative_ranker(frame, truth, catalogue)
    informed = _informed_ranker(frame, split, catalogue)
    references = {name: f for name, f in (("ceiling", ceiling), ("informed", informed)) if f}
    recs = evaluate_recommender(frame, split, params, np.flatnonzero(planted),
                                k=ins.recommend_limit, others=references or None)
    ratio = (recs["model"]["ndcg"] / recs["popular"]["ndcg"]
             if recs["popular"]["ndcg"] else None)
    recs["ndcg_vs_popular"] = round(ratio, 3) if ratio is not None else None
    for name in references:
        if recs["popular"]["ndcg"]:
            recs[f"{name}_vs_popular"] = round(recs[name]["ndcg"] / recs["popular"]["ndcg"], 3)
    result["recommendations"] = recs
    progress(1, 4)

    # Anomalies (bot-like users are the planted ones).
    features = user_features(frame, end + 1)
    rules = anomaly_rules.AnomalyRules(contamination=ins.anomaly_contamination)
    findings = anomaly_rules.rule_findings(features, rules)
    if_scores, if_flagged = anomaly_rules.isolation_scores(features, rules.contamination,
                                                           ins.seed)
    flagged = np.array([any(f["kind"] in anomaly_rules.BOT_KINDS for f in fs)
                        for fs in findings])
    p, r = precision_recall(flagged[active], planted[active])
    score = anomaly_rules.suspicion(features, if_scores)
    if_p, if_r = precision_recall(if_flagged[active], planted[active])
    result["anomalies"] = {"planted": int(planted[active].sum()),
                           "flagged": int(flagged[active].sum()), "precision": round(p, 4),
                           "recall": round(r, 4),
                           "auc": round(auc(planted[active], score[active]), 4),
                           "isolation_forest_only": {"precision": round(if_p, 4),
                                                     "recall": round(if_r, 4)}}
    progress(2, 4)

    # Segments.
    sub = Features(features.names, features.values[active])
    clustering = segments.cluster(sub, (ins.clusters_min, ins.clusters_max), ins.seed)
    if clustering is None:
        result["segments"] = {"k": None}
    else:
        from sklearn.metrics import adjusted_rand_score

        personas = [t.get("persona", "?") for t, a in zip(truth, active, strict=True) if a]
        result["segments"] = {
            "k": clustering.k, "silhouette": clustering.silhouette,
            "adjusted_rand_index": round(float(adjusted_rand_score(personas,
                                                                   clustering.labels)), 4),
            "clusters": {f"c{c}: {clustering.descriptions[c]}": n
                         for c, n in clustering.sizes.items()}}
    progress(3, 4)

    # Dropout.
    horizon = ins.dropout_horizon_days
    as_of = end - int(horizon * DAY_MS)
    x = dropout.select(user_features(frame, as_of))
    observed = dropout.observed_dropout(frame, as_of, horizon)
    truly = np.array([t.get("dropout_day") is not None for t in truth])
    seen = observed >= 0
    test = np.array([_in_test(u, ins.test_users_share, ins.seed) for u in frame.users])
    train_rows = seen & ~test & ~planted
    test_rows = seen & test & ~planted
    model = dropout.train(x[train_rows], observed[train_rows].astype(np.int64), seed=ins.seed)
    rule = dropout.rule_risk(frame, as_of, config.scoring)
    drop: dict[str, Any] = {"train_users": int(train_rows.sum()),
                            "test_users": int(test_rows.sum()),
                            "test_dropouts": int(truly[test_rows].sum()),
                            "rule_baseline_auc": round(auc(truly[test_rows], rule[test_rows]),
                                                       4)}
    if model is None:
        drop.update({"auc": None, "brier": None, "note": "too few users to train"})
    else:
        prob = model.predict(x[test_rows])
        drop.update({"auc": round(auc(truly[test_rows], prob), 4),
                     "brier": round(brier(truly[test_rows], prob), 4)})
    result["dropout"] = drop
    progress(4, 4)

    result["met"] = {
        "ndcg_vs_popular": bool(ratio is not None and ratio >= TARGETS["ndcg_vs_popular"]),
        "anomalies": bool(r >= TARGETS["anomaly_recall"] and p >= TARGETS["anomaly_precision"]),
        "dropout": bool(drop.get("auc") is not None and drop["auc"] >= TARGETS["dropout_auc"]
                        and drop["auc"] > drop["rule_baseline_auc"]),
    }
    store.put_documents("evaluations", [{**result, "_id": f"{result['at_ms']:013d}"}])
    return result
