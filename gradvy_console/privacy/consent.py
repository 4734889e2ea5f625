"""Consent changes by an operator, and consent files imported at scale (CSV or NDJSON), checked
against the configured purposes and written to the store's append-only consent ledger."""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..analytics.events import parse_timestamp_ms
from ..analytics.privacy import ConsentRow, consent_row
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


@dataclass(frozen=True)
class ConsentImport:
    """What `import_consent_file` did: rows read, ledger entries added (0 the second time),
    and each rejected row's line number with its reason."""

    path: str
    rows: int
    accepted: int
    added: int
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row or the reason it cannot be read) for a CSV or NDJSON file."""
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise GradvyError(f"Cannot read the consent file {path}: {exc.strerror}.",
                          exit_code=2) from None
    with handle:
        try:
            first = handle.readline()
        except UnicodeDecodeError:
            raise GradvyError(f"The consent file {path} is not UTF-8 text.", exit_code=2) from None
        handle.seek(0)
        if first.lstrip().startswith("{"):
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    yield number, "not a JSON object"
                    continue
                yield number, row if isinstance(row, dict) else "not a JSON object"
            return
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "user_id" not in reader.fieldnames:
            raise GradvyError(f"The consent file {path} is neither NDJSON nor a CSV file with "
                              "a user_id column (columns: user_id, granted, revoked, method, "
                              "notice_version, legal_basis, time).", exit_code=2)
        try:
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k is not None}
        except (UnicodeDecodeError, csv.Error) as exc:
            yield reader.line_num, f"unreadable ({exc})"


def _parse_time(value: Any) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    ms = parse_timestamp_ms(value)
    if ms is None:
        raise ValueError(f"time {str(value)[:40]!r} is not an ISO 8601 timestamp")
    return ms


def import_consent_file(config: Config, store: DocumentStore, path: Path,
                        chunk: int = 10_000) -> ConsentImport:
    """Import consent rows (CSV or NDJSON) into the append-only ledger, idempotently: every
    valid row is kept, each invalid one is reported with its line number."""
    return import_consent_rows(config, store, _rows(path), os.environ.get("USER", "operator"),
                               str(path), chunk)


def import_consent_rows(config: Config, store: DocumentStore,
                        rows: Iterable[tuple[int, dict[str, Any] | str]], actor: str,
                        source: str, chunk: int = 10_000) -> ConsentImport:
    """Consent rows, numbered (or the reason one cannot be read), into the ledger: each valid
    row is kept (an entry already there is skipped), each invalid one reported with its
    number. The file import and the collector's `POST /v1/consent` both come here."""
    at = now_ms()
    total = accepted = added = 0
    rejected: list[tuple[int, str]] = []
    batch: list[ConsentRow] = []
    for number, row in rows:
        total += 1
        if isinstance(row, str):
            rejected.append((number, row))
            continue
        try:
            parsed = consent_row(row, config.consent.purposes, _parse_time, at)
        except ValueError as exc:
            rejected.append((number, str(exc)))
            continue
        batch.append(dataclasses.replace(parsed, user_id=stored_user_id(config,
                                                                        parsed.user_id)))
        accepted += 1
        if len(batch) >= chunk:
            added += store.record_consents(batch, actor)
            batch = []
    if batch:
        added += store.record_consents(batch, actor)
    return ConsentImport(source, total, accepted, added, rejected)
