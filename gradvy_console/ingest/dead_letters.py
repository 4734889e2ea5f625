"""Dead letters outside the ingestion transaction: rejections found before anything reached
the inbox (a line that is not JSON, an event that can never be stored), and replaying one an
operator reviewed into the pending inbox."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..analytics.events import Rejection
from ..clock import now_ms
from ..errors import GradvyError
from ..store import DocumentStore
from .ingestor import IngestResult


def dead_letter(store: DocumentStore, rejections: list[Rejection]) -> IngestResult:
    """Write `rejections` as dead letters, with their counters, in one transaction; returns
    them counted as an IngestResult (dead_lettered and reasons)."""
    result = IngestResult()
    if not rejections:
        return result
    reasons = Counter(r.reason for r in rejections)
    with store.transaction() as tx:
        tx.add_dead_letters(rejections, [None] * len(rejections), now_ms())
        tx.add_counters({"dead_lettered": len(rejections),
                         **{f"rejected:{reason}": n for reason, n in reasons.items()}})
    result.dead_lettered = len(rejections)
    result.reasons.update(reasons)
    return result


def replay_dead_letter(store: DocumentStore, dead_letter_id: str) -> dict[str, Any]:
    """Put a reviewed dead letter's original payload back in the pending inbox (the next
    processing run ingests it again; if it is still invalid it is dead-lettered again).
    The inbox row is written before the dead letter is removed: a crash between the two
    leaves a copy, never a loss."""
    letter = store.dead_letter(dead_letter_id)
    if letter is None:
        raise GradvyError(f"No dead letter {dead_letter_id}.", exit_code=2)
    store.inbox_put([letter["payload"].encode()], now_ms())
    store.remove_dead_letter(dead_letter_id)
    with store.transaction() as tx:
        tx.add_counters({"replayed": 1})
    return letter


def replay_dead_letters(store: DocumentStore, reason: str | None = None) -> list[str]:
    """Every dead letter (of `reason`, when given) back in the pending inbox, one by one as
    `replay_dead_letter` does; returns their ids. An unknown reason is one sentence, exit 2."""
    ids = [d["id"] for d in store.dead_letters(limit=10_000_000,
                                               reason=known_reason(reason))]
    return [replay_dead_letter(store, i)["id"] for i in ids]


def known_reason(reason: str | None) -> str | None:
    """`reason` (None: every reason), or one sentence (exit 2) naming the reasons there are."""
    from ..analytics.events import REASONS

    if reason is not None and reason not in REASONS:
        raise GradvyError(f"Unknown reason '{reason}'; reasons are {', '.join(REASONS)}.",
                          exit_code=2)
    return reason
