"""Consent changes by an operator, checked against the configured purposes and written to the
store's append-only consent ledger."""

from __future__ import annotations

import os

from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..store import DocumentStore
from .identifiers import stored_user_id


def change_consent(config: Config, store: DocumentStore, user_id: str, grant: list[str],
                   revoke: list[str], method: str = "cli", version: str = "1",
                   legal_basis: str = "consent") -> set[str]:
    known = set(config.consent.purposes)
    for purpose in grant + revoke:
        if purpose not in known:
            raise GradvyError(f"Unknown consent purpose '{purpose}'; purposes are "
                              f"{', '.join(config.consent.purposes)}.", exit_code=2)
    both = set(grant) & set(revoke)
    if both:
        raise GradvyError(f"Cannot grant and revoke '{sorted(both)[0]}' at once.", exit_code=2)
    if not user_id.strip():
        raise GradvyError("A user id is required.", exit_code=2)
    changes = {p: True for p in grant} | {p: False for p in revoke}
    return store.record_consent(stored_user_id(config, user_id), changes, method=method,
                                version=version, legal_basis=legal_basis,
                                actor=os.environ.get("USER", "operator"), at_ms=now_ms())
