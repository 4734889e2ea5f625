"""One learner: profile, today's live counters, consent and its history, recent events and
the insights computed for them."""

from __future__ import annotations

from typing import Any

from ..analytics.events import day_of
from ..analytics.scoring import profile_view
from ..clock import now_ms
from ..config import Config
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
    return {
        "user_id": user_id,
        "profile": profile_view(user["acc"], config.scoring, at) if user else {"events": 0},
        "consent": (user or {}).get("consent", {}),
        "consent_history": history,
        "live_today": live.user_day(user_id, day_of(at), at),
        "recent_events": store.user_events(user_id, limit=20, newest=True),
        **user_insights(store, live, user_id, at),
    }


def user_insights(store: DocumentStore, live: LiveState, user_id: str, at: int
                  ) -> dict[str, Any]:
    """The latest analysis, segment and its history, recommendations and anomalies."""
    analyses = store.get_documents("user_analysis", user_id=user_id)
    segments = store.get_documents("segments", user_id=user_id)
    recs = store.get_documents("recommendations", user_id=user_id)
    return {
        "analysis": live.get_json(f"analysis:{user_id}", at) or (
            analyses[-1] if analyses else None),
        "segment": segments[0] if segments else None,
        "segment_history": sorted(store.get_documents("segment_history", user_id=user_id),
                                  key=lambda h: h["at_ms"])[-10:],
        "recommendations": recs[0] if recs else None,
        "anomalies": store.get_documents("anomalies", user_id=user_id),
    }
