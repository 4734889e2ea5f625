"""Ingestion: the one path every event takes (`ingestor`: validate, dedupe, consent, store),
events from files and standard input (`sources`), draining the inbox in this process
(`drain`) and replaying reviewed dead letters (`dead_letters`)."""

from __future__ import annotations

from ..clock import now_ms
from .dead_letters import dead_letter, known_reason, replay_dead_letter, replay_dead_letters
from .drain import drain_inbox, drain_parallel, drain_partition
from .ingestor import Ingestor, IngestResult, Prepared, gc_paused
from .sources import ingest_source, read_event_source

__all__ = [
    "IngestResult", "Ingestor", "Prepared", "dead_letter", "drain_inbox", "drain_parallel",
    "drain_partition", "gc_paused", "ingest_source", "now_ms", "read_event_source",
    "known_reason", "replay_dead_letter", "replay_dead_letters",
]
