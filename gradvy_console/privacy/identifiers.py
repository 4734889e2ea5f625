"""The id a learner is stored under: an id that carries an e-mail address or phone number is
stored as its pseudonym (see `[ingest] pii_in_identifiers`), so looking a learner up, or
recording their consent, by that address must use the same pseudonym."""

from __future__ import annotations

from ..analytics.events import identifier_has_pii, pseudonym
from ..config import Config
from ..config.keys import pseudonym_key


def stored_user_id(config: Config, user_id: str) -> str:
    """`user_id` as the store knows it."""
    if identifier_has_pii(user_id):
        return pseudonym(user_id, pseudonym_key(config))
    return user_id
