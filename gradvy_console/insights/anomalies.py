"""Anomalies: rules and IsolationForest over every consenting learner; findings recorded with
kind, severity, evidence, status and action; bot-like learners alerted."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analytics import anomalies as anomaly_rules
from ..analytics.features import user_features
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..live import LiveState
from ..monitoring import event_alert
from ..store import DocumentStore
from .cohort import consent_mask, load_frame


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
    event_alert(config, store, "bot_like_users", bool(bots), bot_alert_text(docs, len(bots)))
    by_kind: dict[str, int] = {}
    for d in docs:
        if d["status"] != "resolved":
            by_kind[d["kind"]] = by_kind.get(d["kind"], 0) + 1
    return {"at_ms": at, "open_by_kind": by_kind, "bot_like_users": len(bots)}


BOT_KIND_WORDS = {"bot_like": "bot-like activity", "impossible_quiz_time": "impossible quiz times"}


def bot_alert_text(docs: list[dict[str, Any]], learners: int) -> str:
    """Each bot kind with the number of learners it was found in, and how many learners that
    makes (one learner can show both): no learner is named in an alert."""
    per_kind: dict[str, set[str]] = {}
    for d in docs:
        if d["kind"] in anomaly_rules.BOT_KINDS and d["status"] != "resolved":
            per_kind.setdefault(d["kind"], set()).add(d["user_id"])
    parts = [f"{BOT_KIND_WORDS[k]} in {len(per_kind[k])} learner"
             f"{'s' if len(per_kind[k]) != 1 else ''}"
             for k in anomaly_rules.BOT_KINDS if k in per_kind]
    return (f"{'; '.join(parts)} ({learners} learner{'s' if learners != 1 else ''} in all, "
            "excluded from model training; 'gradvy run anomalies' lists them)")


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
                          "'gradvy run anomalies' shows).", exit_code=2)
    if anomaly["status"] == "open":
        anomaly = {**anomaly, "status": "acknowledged", "acknowledged_ms": now_ms()}
        store.put_documents("anomalies", [anomaly])
    return anomaly
