"""Messages that carry data up to the app (attributes down, messages up)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from .console_source import Snapshot
from .operator_actions import Outcome


@dataclass
class SnapshotReady(Message):
    """The poller has a new snapshot of the pipeline."""

    snapshot: Snapshot


@dataclass
class ActionProgress(Message):
    """A running operator action reports progress (done of total; total 0 = unknown)."""

    run_id: int
    done: int
    total: int


@dataclass
class ActionFinished(Message):
    """An operator action ended."""

    run_id: int
    action: str
    outcome: Outcome
