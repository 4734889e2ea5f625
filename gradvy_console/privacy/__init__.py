"""Privacy: consent changes now; erasure, export, the audit and retention come with their
issue. Backends come in as parameters."""

from __future__ import annotations

from .consent import change_consent
from .identifiers import stored_user_id

__all__ = ["change_consent", "stored_user_id"]
