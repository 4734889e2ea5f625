"""Dead letters reviewed by an operator: replay one into the pending inbox."""

from __future__ import annotations

from typing import Any

from ..clock import now_ms
from ..errors import GradvyError
from ..store import DocumentStore


def replay_dead_letter(store: DocumentStore, dead_letter_id: str) -> dict[str, Any]:
    """Put a reviewed dead letter's original payload back in the pending inbox (the next
    processing run ingests it again; if it is still invalid it is dead-lettered again).
    The inbox row is written before the dead letter is removed: a crash between the two
    leaves a copy, never a loss."""
    letter = store.dead_letter(dead_letter_id)
    if letter is None:
        raise GradvyError(f"No dead letter {dead_letter_id}.", exit_code=1)
    store.inbox_put([letter["payload"].encode()], now_ms())
    store.remove_dead_letter(dead_letter_id)
    with store.transaction() as tx:
        tx.add_counters({"replayed": 1})
    return letter
