"""The insight verbs (service level): load events, call the pure functions in `analytics`,
persist the results with their history. Both the tasks and the front ends call these.

Documents written (store collections): `user_analysis` (one per user and run: history),
`anomalies` (one per user and kind: status open/acknowledged/resolved, evidence, action),
`segments` (each user's current rule segment and cluster), `segment_history` (every change:
old, new, when), `segment_runs` (sizes per run), `recommendations` (latest per user),
`evaluations` (every `evaluate` run), `model_versions` (every saved model). Model artefacts
are files under DATA_DIR/models/NAME/vNNNN/ (JSON and .npz, loaded with allow_pickle=False).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .analytics import anomalies as anomaly_rules
from .analytics import behavior, dropout, segments
from .analytics import recommend as rec
from .analytics.features import Features, user_features
from .analytics.frame import DAY_MS, EventFrame, build_frame
from .analytics.scoring import profile_view
from .config import Config
from .errors import GradvyError
from .ingest import now_ms
from .live import LiveState
from .store import DocumentStore

ANALYSIS_TTL_S = 3600
RECOMMENDATION_TTL_S = 3600


def load_frame(store: DocumentStore, since_ms: int | None = None) -> EventFrame:
    events = itertools.chain.from_iterable(store.iter_events(since_ms))
    return build_frame(events, store.get_documents("courses"))


def consent_mask(store: DocumentStore, frame: EventFrame, purpose: str) -> np.ndarray:
    granted = store.consent_for(frame.users)
    return np.array([purpose in granted.get(u, set()) for u in frame.users], dtype=bool)


def profiles_of(config: Config, store: DocumentStore, user_ids: list[str], at_ms: int
                ) -> dict[str, dict[str, Any]]:
    return {uid: profile_view(user["acc"], config.scoring, at_ms)
            for uid, user in store.get_users(user_ids).items() if user.get("acc")}


def bot_users(store: DocumentStore) -> set[str]:
    """Users with an open or acknowledged bot-like anomaly: left out of model training."""
    return {a["user_id"] for a in store.get_documents("anomalies")
            if a.get("kind") in anomaly_rules.BOT_KINDS and a.get("status") != "resolved"}


# --- models on disk ------------------------------------------------------------------------


def _models_dir(config: Config, name: str) -> Path:
    path = config.data_dir / "models" / name
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(config.data_dir / "models", 0o700)   # artefacts are ours alone
    return path


def save_model(config: Config, store: DocumentStore, name: str, meta: dict[str, Any],
               arrays: dict[str, np.ndarray] | None = None) -> int:
    """Write a new version (meta.json + arrays.npz); returns its number."""
    base = _models_dir(config, name)
    versions = [int(p.name[1:]) for p in base.glob("v[0-9]*") if p.name[1:].isdigit()]
    version = max(versions, default=0) + 1
    path = base / f"v{version:04d}"
    path.mkdir()
    meta = {**meta, "name": name, "version": version, "saved_ms": now_ms()}
    if arrays:
        np.savez_compressed(path / "arrays.npz", **arrays)  # type: ignore[arg-type]
    (path / "meta.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_SERIALIZE_NUMPY))
    store.put_documents("model_versions", [{
        "_id": f"{name}:{version:04d}", "name": name, "version": version,
        "saved_ms": meta["saved_ms"], "training": meta.get("training"),
        "params": meta.get("params"), "evaluation": meta.get("evaluation")}])
    return version


def load_model(config: Config, name: str) -> tuple[dict[str, Any], Any] | None:
    """The newest version: (meta, arrays or None). Arrays never unpickle objects."""
    base = config.data_dir / "models" / name
    versions = sorted((p for p in base.glob("v[0-9]*") if (p / "meta.json").is_file()),
                      key=lambda p: p.name)
    if not versions:
        return None
    path = versions[-1]
    meta = orjson.loads((path / "meta.json").read_bytes())
    arrays = None
    if (path / "arrays.npz").is_file():
        with np.load(path / "arrays.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    return meta, arrays


# --- dropout risk --------------------------------------------------------------------------


def train_dropout(config: Config, frame: EventFrame, at_ms: int, exclude: set[str]
                  ) -> tuple[dropout.DropoutModel | None, dict[str, Any]]:
    """Fit on users whose outcome is known at `at_ms - horizon`."""
    horizon = config.insights.dropout_horizon_days
    as_of = at_ms - int(horizon * DAY_MS)
    labels = dropout.observed_dropout(frame, as_of, horizon)
    keep = (labels >= 0) & np.array([u not in exclude for u in frame.users], dtype=bool)
    x = dropout.select(user_features(frame, as_of))
    model = dropout.train(x[keep], labels[keep].astype(np.int64), seed=config.insights.seed)
    info = {"users": int(keep.sum()), "dropped_out": int(labels[keep].sum()),
            "as_of_ms": as_of, "horizon_days": horizon}
    return model, info


def current_dropout_model(config: Config) -> dropout.DropoutModel | None:
    found = load_model(config, "dropout")
    return dropout.DropoutModel.from_json(found[0]["model"]) if found else None


def risk_scores(config: Config, frame: EventFrame, features: Features, at_ms: int,
                users: np.ndarray) -> tuple[np.ndarray, dict[int, list[dict[str, Any]]], str]:
    """Per user: risk (every user), the factors of `users` (user indexes), and where the risk
    came from (the dropout model or the rule baseline)."""
    model = current_dropout_model(config)
    if model is None:
        risk = dropout.rule_risk(frame, at_ms, config.scoring)
        factors = {int(u): [{"factor": "quiz_results", "label": "quiz results (rule baseline)",
                             "value": round(float(risk[u]), 4),
                             "contribution": round(float(risk[u]), 4)}] if risk[u] > 0 else []
                   for u in users}
        return risk, factors, "rule_baseline"
    x = dropout.select(features, model.features)
    return model.predict(x), {int(u): model.factors(x[u]) for u in users}, "model"


# --- analysis ------------------------------------------------------------------------------


def analyze_users(config: Config, store: DocumentStore, live: LiveState,
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
        raise GradvyError(f"No stored events for user {user_id}.", exit_code=1)
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
    features = user_features(frame, at + 1)
    risk, factors, source = risk_scores(config, frame, features, at + 1, chosen)
    total = len(chosen)
    done = 0
    progress(0, total)
    for start in range(0, total, 1000):
        batch = chosen[start:start + 1000]
        ids = [frame.users[u] for u in batch]
        results = behavior.analyze(frame, features, at + 1, batch,
                                   profiles_of(config, store, ids, at), risk, factors, source)
        store.put_documents("user_analysis", [{**r, "_id": f"{r['user_id']}:{at:013d}"}
                                              for r in results])
        for r in results:
            live.put_json(f"analysis:{r['user_id']}", r, ttl_s=ANALYSIS_TTL_S,
                          user_id=r["user_id"])
        done += len(batch)
        progress(done, total)
    return {"analysed": total, "risk_source": source, "at_ms": at}


# --- anomalies -----------------------------------------------------------------------------


def _remedial(catalogue: list[dict[str, Any]], weak: list[dict[str, Any]], limit: int = 3
              ) -> list[str]:
    """Popular beginner courses in each weak category."""
    out: list[str] = []
    for area in weak:
        picks = sorted((c for c in catalogue if c.get("category") == area["category"]
                        and c.get("difficulty") == "beginner"),
                       key=lambda c: -float(c.get("popularity", 0)))
        out += [c["course_id"] for c in picks[:limit]]
    return out


def process_anomalies(config: Config, store: DocumentStore, live: LiveState | None = None
                      ) -> dict[str, Any]:
    """Run the rules and the IsolationForest over every consenting user; record new
    findings (open), keep the status of known ones, resolve those no longer seen; act."""
    from .monitoring import event_alert

    at = now_ms()
    frame = load_frame(store)
    allowed = consent_mask(store, frame, config.consent.profile_purpose)
    features = user_features(frame, at + 1)
    rules = anomaly_rules.AnomalyRules(contamination=config.insights.anomaly_contamination)
    findings = anomaly_rules.rule_findings(features, rules)
    if_scores, if_flagged = anomaly_rules.isolation_scores(features, rules.contamination,
                                                           config.insights.seed)
    known = {a["_id"]: a for a in store.get_documents("anomalies")}
    catalogue = store.get_documents("courses")
    seen: set[str] = set()
    docs = []
    for u in np.flatnonzero(allowed):
        user = frame.users[u]
        found = list(findings[u])
        if if_flagged[u]:
            found.append({"kind": "behaviour_outlier", "severity": "low",
                          "evidence": {"isolation_score": round(float(if_scores[u]), 4)}})
        for f in found:
            anomaly_id = f"{user}:{f['kind']}"
            seen.add(anomaly_id)
            old = known.get(anomaly_id)
            if f["kind"] == "poor_performance":
                weak = anomaly_rules.weak_areas(frame, int(u))
                action = {"type": "remedial_content", "weak_areas": weak,
                          "courses": _remedial(catalogue, weak)}
            elif f["kind"] in anomaly_rules.BOT_KINDS:
                action = {"type": "alert_and_exclude_from_training"}
            else:
                action = {"type": "review"}
            docs.append({"_id": anomaly_id, "user_id": user, "kind": f["kind"],
                         "severity": f["severity"], "evidence": f["evidence"],
                         "action": action,
                         "status": old["status"] if old and old["status"] != "resolved"
                         else "open",
                         "first_seen_ms": old["first_seen_ms"] if old else at,
                         "last_seen_ms": at})
    for anomaly_id, old in known.items():
        if anomaly_id not in seen and old.get("status") != "resolved":
            docs.append({**old, "status": "resolved", "resolved_ms": at})
    store.put_documents("anomalies", docs)
    bots = sorted({d["user_id"] for d in docs if d["kind"] in anomaly_rules.BOT_KINDS
                   and d["status"] != "resolved"})
    event_alert(config, store, "bot_like_users", bool(bots),
                f"{len(bots)} bot-like user(s) flagged (excluded from model training): "
                + ", ".join(bots[:5]) + (" …" if len(bots) > 5 else ""))
    by_kind: dict[str, int] = {}
    for d in docs:
        if d["status"] != "resolved":
            by_kind[d["kind"]] = by_kind.get(d["kind"], 0) + 1
    return {"at_ms": at, "open_by_kind": by_kind, "bot_like_users": len(bots)}


def list_anomalies(store: DocumentStore, status: str | None = None,
                   user_id: str | None = None) -> list[dict[str, Any]]:
    found = store.get_documents("anomalies", user_id=user_id)
    if status:
        found = [a for a in found if a.get("status") == status]
    rank = anomaly_rules.SEVERITY_RANK
    return sorted(found, key=lambda a: (-rank.get(a["severity"], 0), -a["last_seen_ms"]))


def acknowledge_anomaly(store: DocumentStore, anomaly_id: str) -> dict[str, Any]:
    """Mark an open anomaly as seen by an operator (it stays listed until resolved)."""
    user_id = anomaly_id.split(":", 1)[0]
    found = {a["_id"]: a for a in store.get_documents("anomalies", user_id=user_id)}
    anomaly = found.get(anomaly_id)
    if anomaly is None:
        raise GradvyError(f"No anomaly {anomaly_id} (ids are USER:KIND, as "
                          "'gradvy run anomalies' shows).", exit_code=1)
    if anomaly["status"] == "open":
        anomaly = {**anomaly, "status": "acknowledged", "acknowledged_ms": now_ms()}
        store.put_documents("anomalies", [anomaly])
    return anomaly


# --- segments ------------------------------------------------------------------------------


def update_segments(config: Config, store: DocumentStore) -> dict[str, Any]:
    """Rule segments and clusters for every consenting user; changes go to history."""
    at = now_ms()
    frame = load_frame(store)
    allowed = consent_mask(store, frame, config.consent.profile_purpose)
    users = np.flatnonzero(allowed)
    features = user_features(frame, at + 1)
    sub = Features(features.names, features.values[users])
    clustering = segments.cluster(sub, (config.insights.clusters_min,
                                        config.insights.clusters_max), config.insights.seed)
    profiles = profiles_of(config, store, [frame.users[u] for u in users], at)
    current = {d["user_id"]: d for d in store.get_documents("segments")}
    docs, history = [], []
    sizes: dict[str, int] = {}
    for row, u in enumerate(users):
        uid = frame.users[u]
        p = profiles.get(uid)
        rule = segments.rule_segment(p.get("engagement_score") if p else None,
                                     p.get("dropout_risk") if p else None,
                                     p.get("learning_velocity") if p else None)
        cluster = None
        if clustering is not None:
            c = int(clustering.labels[row])
            cluster = f"c{c}: {clustering.descriptions[c]}"
        sizes[rule] = sizes.get(rule, 0) + 1
        old = current.get(uid)
        if old is None or old.get("segment") != rule or old.get("cluster") != cluster:
            history.append({"_id": f"{uid}:{at:013d}", "user_id": uid, "at_ms": at,
                            "old_segment": old.get("segment") if old else None,
                            "new_segment": rule,
                            "old_cluster": old.get("cluster") if old else None,
                            "new_cluster": cluster})
        docs.append({"_id": uid, "user_id": uid, "segment": rule, "cluster": cluster,
                     "at_ms": at})
    store.put_documents("segments", docs)
    store.put_documents("segment_history", history)
    run = {"_id": f"{at:013d}", "at_ms": at, "users": len(users), "rule_sizes": sizes,
           "clusters": None if clustering is None else {
               "k": clustering.k, "silhouette": clustering.silhouette,
               "silhouettes": {str(k): v for k, v in clustering.silhouettes.items()},
               "sizes": {f"c{c}: {clustering.descriptions[c]}": n
                     for c, n in clustering.sizes.items()}},
           "changes": len(history)}
    store.put_documents("segment_runs", [run])
    return run


# --- recommendations -----------------------------------------------------------------------


def update_models(config: Config, store: DocumentStore) -> dict[str, Any]:
    """Train the recommender and the dropout model on everything stored (bot-like users left
    out), evaluate each on a time split of the same data, save new versions."""
    frame = load_frame(store)
    # As of the newest stored event when the data stops before now (an imported or simulated
    # history): windows after the last event would hold nothing to learn from.
    at = min(now_ms(), int(frame.ts.max()) + 1) if len(frame) else now_ms()
    exclude = bot_users(store)
    excluded_ix = np.array([i for i, u in enumerate(frame.users) if u in exclude], dtype=int)
    params = rec.RecommenderParams(half_life_days=config.insights.recommend_half_life_days,
                                   limit=config.insights.recommend_limit)
    out: dict[str, Any] = {"at_ms": at, "excluded_bot_users": len(excluded_ix)}
    if not frame.courses:
        out["recommender"] = {"version": None, "reason": "no course interactions stored yet"}
    else:
        span_start = int(frame.ts.min())
        split = at - int((at - span_start) * config.insights.holdout_share)
        evaluation = evaluate_recommender(frame, split, params, excluded_ix)
        model, strengths = rec.train(frame, at + 1, params, excluded_ix)
        version = save_model(config, store, "recommender", {
            "courses": model.courses, "categories": model.categories,
            "params": params.__dict__, "evaluation": evaluation,
            "training": {"users": int(strengths.shape[0] - len(excluded_ix)),
                         "courses": int(strengths.shape[1]), "interactions": int(strengths.nnz),
                         "events": len(frame)}}, model.to_arrays())
        out["recommender"] = {"version": version, "evaluation": evaluation}
    model_d, info = train_dropout(config, frame, at, exclude)
    if model_d is None:
        out["dropout"] = {"version": None, "reason": "too few users with a known outcome; "
                          "the rule baseline stays in use", "training": info}
    else:
        version = save_model(config, store, "dropout", {"model": model_d.to_json(),
                                                        "training": info,
                                                        "params": {"C": 1.0,
                                                                   "calibration": "sigmoid"}})
        out["dropout"] = {"version": version, "training": info}
    return out


def evaluate_recommender(frame: EventFrame, split_ms: int, params: rec.RecommenderParams,
                         exclude: np.ndarray, k: int = 10) -> dict[str, Any]:
    """Train before `split_ms`, score the courses each user touched after it."""
    from .analytics.metrics import ndcg_at_k, precision_at_k, recall_at_k

    model, strengths = rec.train(frame, split_ms, params, exclude)
    completed = rec.completed_matrix(frame, split_ms)
    after = (frame.ts >= split_ms) & (frame.etype == 0) & (frame.course >= 0)
    relevant: dict[int, set[int]] = {}          # user index -> course indexes touched after
    for u, c in zip(frame.user[after], frame.course[after], strict=True):
        relevant.setdefault(int(u), set()).add(int(c))
    excluded = set(exclude.tolist())
    popular_order = np.argsort(-model.popularity, kind="stable")
    sums = {"model": [0.0, 0.0, 0.0], "popular": [0.0, 0.0, 0.0]}
    n = 0
    for u, touched in relevant.items():
        if u in excluded:
            continue
        row = np.asarray(strengths[u].todense()).ravel()
        if row.sum() <= 0:
            continue
        done = np.asarray(completed[u].todense()).ravel()
        items = {frame.courses[c] for c in touched if not done[c]}
        if not items:
            continue
        ranked = [r["course_id"] for r in model.recommend(row, done, k)]
        popular = [frame.courses[i] for i in popular_order if not done[i]][:k]
        for name, ranking in (("model", ranked), ("popular", popular)):
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
                   user_id: str, at_ms: int) -> tuple[np.ndarray, np.ndarray]:
    events = store.user_events(user_id, limit=1_000_000)
    frame = build_frame(events, [{"course_id": c, "category": model.categories[k]}
                                 for c, k in zip(model.courses, model.course_category,
                                                 strict=True) if k >= 0])
    n = len(model.courses)
    strengths = np.zeros(n)
    completed = np.zeros(n, dtype=bool)
    if len(frame):
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
    return strengths, completed


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
    strengths, completed = user_strengths(config, store, model, user_id, at)
    if not consented:
        strengths = np.zeros_like(strengths)
    items = model.recommend(strengths, completed, limit or config.insights.recommend_limit)
    result = {"user_id": user_id, "at_ms": at, "model_version": meta["version"],
              "personalised": consented and bool(strengths.sum() > 0), "items": items}
    store.put_documents("recommendations", [{**result, "_id": user_id}])
    if live is not None:
        live.put_json(f"recommendations:{user_id}", result, ttl_s=RECOMMENDATION_TTL_S,
                      user_id=user_id)
    return result
