"""Events from a file or standard input (NDJSON or a JSON array), through the one ingestion
path; lines that are not JSON become dead letters with their line number."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from ..analytics.events import BAD_JSON, Rejection
from ..clock import now_ms
from ..errors import InputError
from ..progress import Progress, no_progress
from ..store import DocumentStore
from .ingestor import Ingestor, IngestResult


def read_event_source(source: str) -> tuple[list[tuple[str | None, Any]], list[Rejection]]:
    """Read NDJSON or a JSON array from a path or '-' (stdin).

    Returns (items to ingest, lines that are not JSON). Raises InputError when the input is not
    JSON at all."""
    if source == "-":
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"No such file: {source}.")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"Cannot read {source}: {exc.strerror}.") from None
        name = source
    stripped = data.lstrip()
    if not stripped:
        return [], []
    if stripped[:1] == b"[":
        try:
            values = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise InputError(f"{name} starts like a JSON array but is not valid JSON.") from None
        return [(None, v) for v in values], []
    items: list[tuple[str | None, Any]] = []
    bad: list[Rejection] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((None, orjson.loads(line)))
        except orjson.JSONDecodeError:
            bad.append(Rejection(BAD_JSON, f"line {number} is not valid JSON", line))
    if not items:
        raise InputError(f"{name} is not JSON: expected one JSON event per line or a JSON array.")
    return items, bad


def ingest_source(store: DocumentStore, ingestor: Ingestor, source: str, batch_size: int = 1000,
                  progress: Progress = no_progress) -> IngestResult:
    items, bad = read_event_source(source)
    result = IngestResult()
    if bad:
        # Lines that are not JSON still go to dead letters, with their line number.
        with store.transaction() as tx:
            tx.add_dead_letters(bad, [None] * len(bad), now_ms())
            tx.add_counters({"dead_lettered": len(bad), f"rejected:{BAD_JSON}": len(bad)})
        result.dead_lettered += len(bad)
        result.reasons[BAD_JSON] += len(bad)
    progress(0, len(items))
    for start in range(0, len(items), batch_size):
        result.add(ingestor.ingest(items[start:start + batch_size]))
        progress(min(start + batch_size, len(items)), len(items))
    return result
