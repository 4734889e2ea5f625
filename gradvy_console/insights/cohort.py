"""What every insight loads: the stored events as a frame, consent per user, profiles, and
the bot-like users that model training leaves out."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..analytics import anomalies as anomaly_rules
from ..analytics.frame import EventFrame, build_frame
from ..analytics.scoring import profile_view
from ..config import Config
from ..store import DocumentStore

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
