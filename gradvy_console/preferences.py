"""The guide's consent check, backed by the consent ledger:

    from gradvy_console.preferences import UserPreference
    user_pref = UserPreference.objects(user_id=user_id).first()
    if user_pref and user_pref.has_analytics_consent():
        process_analytics_event.delay(event_data)

`first()` is None for a learner with no consent record (processing fails closed: treat it as no
consent). Read-only: consent changes go through `gradvy run consent` or a `consent` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UserPreference:
    """A learner's consent as the ledger has it now: purpose -> granted, and the history."""

    user_id: str
    consent: dict[str, bool] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] = ()

    @classmethod
    def objects(cls, user_id: str) -> PreferenceQuery:
        return PreferenceQuery(user_id)

    def has_consent(self, purpose: str) -> bool:
        return bool(self.consent.get(purpose))

    def has_analytics_consent(self) -> bool:
        """Whether events may be stored (the configured storage purpose, `analytics`)."""
        from .config import get_config

        return self.has_consent(get_config().consent.storage_purpose)

    def has_behavioral_consent(self) -> bool:
        """Whether the learner may be profiled (`behavioral_analysis` by default)."""
        from .config import get_config

        return self.has_consent(get_config().consent.profile_purpose)

    def has_personalization_consent(self) -> bool:
        return self.has_consent("personalization")

    def has_marketing_consent(self) -> bool:
        return self.has_consent("marketing")


class PreferenceQuery:
    """`UserPreference.objects(user_id=...)`: `first()`, iteration and `count()`."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    def _load(self) -> UserPreference | None:
        from . import runtime
        from .privacy import stored_user_id

        uid = stored_user_id(runtime.get_config(), self.user_id)
        store = runtime.store()
        history = store.consent_history(uid)
        user = store.get_user(uid)
        if not history and user is None:
            return None
        consent = {p: bool(g) for p, g in ((user or {}).get("consent") or {}).items()}
        return UserPreference(self.user_id, consent, tuple(history))

    def first(self) -> UserPreference | None:
        return self._load()

    def __iter__(self) -> Iterator[UserPreference]:
        found = self._load()
        return iter([found] if found is not None else [])

    def count(self) -> int:
        return 0 if self._load() is None else 1
