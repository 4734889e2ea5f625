"""One learner: profile, today's live counters, consent and its history, recent events and
the insights computed for them, with their one dropout risk (`insights.analysis.risk_of`)."""

from __future__ import annotations

from typing import Any

from ..analytics.events import day_of
from ..analytics.scoring import profile_view
from ..clock import now_ms
from ..config import Config
from ..insights.analysis import latest_analyses, risk_of
from ..live import LiveState
from ..privacy import stored_user_id
from ..store import DocumentStore


def user_report(config: Config, store: DocumentStore, live: LiveState, user_id: str
                ) -> dict[str, Any] | None:
    """What is known about one user: profile (scores, preferences), today's live counters,
    consent and its history, recent events. None when the user is unknown."""
    user_id = stored_user_id(config, user_id)   # a learner found by an address they use
    user = store.get_user(user_id)
    history = store.consent_history(user_id)
    if user is None and not history:
        return None
    at = now_ms()
    # The one dropout risk (the stored analysis's, refreshed if it predates the model) first:
    # the analysis shown below is then the one it comes from.
    risk = risk_of(config, store, live, user_id) if user else None
    return {
        "user_id": user_id,
        "profile": profile_view(user["acc"], config.scoring, at) if user else {"events": 0},
        "risk": risk,
        "consent": (user or {}).get("consent", {}),
        "consent_history": history,
        "live_today": live.user_day(user_id, day_of(at), at),
        "recent_events": store.user_events(user_id, limit=20, newest=True),
        **user_insights(store, live, user_id, at),
    }


def user_insights(store: DocumentStore, live: LiveState, user_id: str, at: int
                  ) -> dict[str, Any]:
    """The latest analysis, segment and its history, recommendations and anomalies."""
    analysis = latest_analyses(store, [user_id]).get(user_id)
    segments = store.get_documents("segments", user_id=user_id)
    recs = store.get_documents("recommendations", user_id=user_id)
    return {
        "analysis": analysis,
        "segment": segments[0] if segments else None,
        "segment_history": sorted(store.get_documents("segment_history", user_id=user_id),
                                  key=lambda h: h["at_ms"])[-10:],
        "recommendations": recs[0] if recs else None,
        "anomalies": store.get_documents("anomalies", user_id=user_id),
    }
