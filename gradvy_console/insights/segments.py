"""Segments: a rule segment and a KMeans cluster per consenting learner; every change kept
in `segment_history`, sizes per run in `segment_runs`.

The rule segment uses the learner's one dropout risk: every consenting learner is analysed
as of the run (`analyse_chosen`: the model's risk, or the rule's before a model), so the
segment, the stored analysis, the profile and the reports agree. Each segment carries its
reasons: the figures that decided it, and any open poor-performance anomaly."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analytics import segments
from ..analytics.features import Features, user_features
from ..analytics.frame import EventFrame
from ..clock import now_ms
from ..config import Config
from ..live import LiveState
from ..store import DocumentStore
from .analysis import analyse_chosen
from .cohort import consent_mask, load_frame, profiles_of


def update_segments(config: Config, store: DocumentStore, live: LiveState | None = None,
                    frame: EventFrame | None = None) -> dict[str, Any]:
    """Rule segments and clusters for every consenting user; changes go to history."""
    at = now_ms()
    frame = load_frame(store) if frame is None else frame
    allowed = consent_mask(store, frame, config.consent.profile_purpose)
    users = np.flatnonzero(allowed)
    features = user_features(frame, at + 1)
    sub = Features(features.names, features.values[users])
    runs = store.get_documents("segment_runs")
    last = max(runs, key=lambda r: r["at_ms"]) if runs else None
    last_k = (last.get("clusters") or {}).get("k") if last else None
    clustering = segments.cluster(sub, (config.insights.clusters_min,
                                        config.insights.clusters_max), config.insights.seed,
                                  prefer_k=last_k)
    profiles = profiles_of(config, store, [frame.users[u] for u in users], at)
    analyses = {a["user_id"]: a for a in analyse_chosen(config, store, live, frame, users, at)}
    poor = {a["user_id"]: a for a in store.get_documents("anomalies")
            if a.get("kind") == "poor_performance" and a.get("status") != "resolved"}
    current = {d["user_id"]: d for d in store.get_documents("segments")}
    docs, history = [], []
    sizes: dict[str, int] = {}
    for row, u in enumerate(users):
        uid = frame.users[u]
        p = profiles.get(uid)
        risk = analyses[uid]["risk"]
        engagement = p.get("engagement_score") if p else None
        velocity = p.get("learning_velocity") if p else None
        rule = segments.rule_segment(engagement, risk["score"] if p else None, velocity)
        reasons = segments.reasons(rule, engagement, risk, velocity)
        if uid in poor:
            evidence = poor[uid].get("evidence", {})
            reasons.append("open poor_performance anomaly (recent quiz average "
                           f"{evidence.get('recent_quiz_average')})")
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
                     "reasons": reasons,
                     "risk": {k: risk.get(k) for k in ("score", "source", "model_version")},
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
