"""Export (GDPR Art. 15 and 20): one machine-readable JSON document of everything held about a
learner, written readable by its owner only. The structure is documented in the README
("Data export")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..analytics.events import day_of
from ..analytics.scoring import profile_view
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..live import LiveState
from ..private_files import private_dir
from ..store import DocumentStore
from .erasure import REQUESTS, subject_of
from .identifiers import stored_user_id

FORMAT = "gradvy-export/1"
_EVENT_PAGE = 50_000


@dataclass(frozen=True)
class ExportReport:
    path: str
    user_id: str
    events: int
    known: bool   # whether anything at all was held


def _first(docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return docs[0] if docs else None


def export_document(config: Config, store: DocumentStore, live: LiveState, user_id: str,
                    at_ms: int | None = None) -> dict[str, Any]:
    """Everything held about `user_id`, as one JSON-ready document."""
    at = now_ms() if at_ms is None else at_ms
    uid = stored_user_id(config, user_id)
    user = store.get_user(uid)
    events = store.user_events(uid, limit=10_000_000)
    live_keys = live.user_keys(uid, at)
    live_values: dict[str, Any] = {}
    for key in live_keys:
        value = live.get_json(key, at)
        if value is not None:
            live_values[key] = value
    subject = subject_of(config, user_id)
    erasures = [{k: v for k, v in d.items() if k != "sealed"}
                for d in store.get_documents(REQUESTS) if d.get("subject") == subject]
    suppressed = any(d["_id"] == subject for d in store.suppressions())
    return {
        "format": FORMAT,
        "generated_ms": at,
        "user_id": uid,
        "requested_as": user_id if user_id != uid else None,
        "profile": profile_view(user["acc"], config.scoring, at) if user else None,
        "profile_accumulator": user["acc"] if user else None,
        "consent": (user or {}).get("consent", {}),
        "consent_history": store.consent_history(uid),
        "events": events,
        "live": {"today": live.user_day(uid, day_of(at), at), "keys": live_keys,
                 "values": live_values},
        "analyses": store.get_documents("user_analysis", user_id=uid),
        "anomalies": store.get_documents("anomalies", user_id=uid),
        "segment": _first(store.get_documents("segments", user_id=uid)),
        "segment_history": store.get_documents("segment_history", user_id=uid),
        "recommendations": _first(store.get_documents("recommendations", user_id=uid)),
        "erasure_requests": erasures,
        "suppressed": suppressed,
    }


def export_user(config: Config, store: DocumentStore, live: LiveState, user_id: str,
                out: Path | None = None) -> ExportReport:
    """Write the export to `out` (default DATA_DIR/exports/export-SUBJECT-TIME.json), mode
    0600; returns where and how much."""
    if not user_id.strip():
        raise GradvyError("A user id is required.", exit_code=2)
    doc = export_document(config, store, live, user_id)
    known = bool(doc["events"] or doc["profile"] or doc["consent_history"] or doc["analyses"]
                 or doc["erasure_requests"])
    if out is None:
        folder = private_dir(config.data_dir / "exports")
        out = folder / f"export-{subject_of(config, user_id)[2:14]}-{doc['generated_ms']}.json"
    elif out.is_dir():
        raise GradvyError(f"{out} is a directory; give a file path for the export.",
                          exit_code=2)
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    tmp = out.with_name(out.name + ".part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except OSError as exc:
        raise GradvyError(f"Cannot write the export to {out}: {exc.strerror}.",
                          exit_code=1) from None
    return ExportReport(str(out), doc["user_id"], len(doc["events"]), known)
