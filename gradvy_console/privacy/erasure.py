"""Erasure (GDPR Art. 17): a request record, the run that removes every trace of a learner, and
the verification that finds nothing before the request is `verified`.

A request holds a pseudonymous subject key (HMAC-SHA256 of the id under the pseudonym key),
never the id; while it runs it also holds the id sealed under that key (so a run killed half way
resumes), and the seal is dropped once the request is verified. Suppression starts when the
request is recorded: from then on the learner's events are refused at ingestion.

Statuses: received -> running (with its step) -> completed -> verified, or failed (with the
step), which the next run resumes. Every step is idempotent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..analytics.events import mask_text
from ..analytics.privacy import Terms, scrub_value, seal, subject_key, terms_for, unseal
from ..clock import now_ms
from ..config import Config
from ..config.keys import pseudonym_key
from ..errors import GradvyError
from ..store import DocumentStore
from ..store.models import prune_models
from .files import checkpoint_databases, erase_files, scan_files, scrub_logs, scrub_residue
from .identifiers import stored_user_id

REQUESTS = "erasure_requests"
OPEN = ("received", "running", "completed", "failed")


class TraceHolder(Protocol):
    """A place outside the document store that may hold a learner's data (live state, the
    queues): it can erase them and count what is left."""

    name: str

    def erase(self, user_ids: list[str], terms: Terms) -> int: ...

    def find(self, terms: Terms) -> int: ...


@dataclass(frozen=True)
class Erasure:
    """What `forget` tells its caller about one request."""

    request_id: str
    subject: str
    status: str
    had_data: bool
    removed: dict[str, int]
    verified_ms: int | None
    failed_step: str | None = None
    evidence: dict[str, int] | None = None


def _as_result(doc: dict[str, Any]) -> Erasure:
    removed = dict(doc.get("removed") or {})
    return Erasure(doc["_id"], doc["subject"], doc["status"], bool(doc.get("had_data")),
                   removed, doc.get("verified_ms"), doc.get("step") if doc["status"] == "failed"
                   else None, doc.get("evidence"))


def subject_of(config: Config, user_id: str) -> str:
    return subject_key(stored_user_id(config, user_id), pseudonym_key(config))


def replacement_for(subject: str) -> str:
    return f"erased:{subject}"


def request_erasure(config: Config, store: DocumentStore, user_id: str, reason: str = "",
                    actor: str = "operator", at_ms: int | None = None) -> dict[str, Any]:
    """Record a request (or return the open one for this learner) and suppress the learner at
    once: their events are refused from now on."""
    if not user_id.strip():
        raise GradvyError("A user id is required.", exit_code=2)
    key = pseudonym_key(config)
    subject = subject_of(config, user_id)
    at = now_ms() if at_ms is None else at_ms
    for doc in store.get_documents(REQUESTS):
        if doc["subject"] == subject and doc["status"] in OPEN:
            if not doc.get("sealed"):
                doc = _save(store, doc, sealed=seal(user_id, key, doc["_id"]))
            return doc
    request_id = f"er-{at:013d}-{secrets.token_hex(3)}"
    terms = terms_for(_forms(config, user_id))
    clean_reason, _n = scrub_value(mask_text(reason)[0], terms, replacement_for(subject))
    doc = {"_id": request_id, "subject": subject, "requested_ms": at, "reason": clean_reason,
           "actor": actor, "status": "received", "step": None, "removed": {},
           "sealed": seal(user_id, key, request_id), "verified_ms": None, "completed_ms": None}
    store.suppress(subject, {"request_id": request_id, "at_ms": at})
    store.put_documents(REQUESTS, [doc])
    return doc


def _forms(config: Config, user_id: str) -> list[str]:
    return sorted({user_id, stored_user_id(config, user_id)})


def _save(store: DocumentStore, doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = {**doc, **changes}
    store.put_documents(REQUESTS, [doc])
    return doc


def open_requests(store: DocumentStore) -> list[dict[str, Any]]:
    return [d for d in store.get_documents(REQUESTS) if d["status"] in OPEN]


def run_erasures(config: Config, store: DocumentStore, holders: list[TraceHolder],
                 request_ids: list[str], retrain: Callable[[], Any] | None = None,
                 log_dir: Path | None = None) -> list[Erasure]:
    """Carry out these requests together (one pass over every store for all of them), then
    retrain the models they were part of and verify each; returns each request's state."""
    key = pseudonym_key(config)
    docs = {d["_id"]: d for d in store.get_documents(REQUESTS) if d["_id"] in set(request_ids)}
    missing = sorted(set(request_ids) - set(docs))
    if missing:
        raise GradvyError(f"No erasure request '{missing[0]}'.", exit_code=2)
    todo: dict[str, tuple[dict[str, Any], list[str]]] = {}
    done: list[dict[str, Any]] = []
    for request_id, doc in docs.items():
        if doc["status"] == "verified":
            done.append(doc)
            continue
        user_id = unseal(doc["sealed"], key, request_id) if doc.get("sealed") else None
        if user_id is None:
            # The seal went with a completed erasure whose run stopped before recording the
            # verification: check by key, without the id.
            done.append(_reverify_by_key(config, store, doc))
            continue
        todo[request_id] = (doc, _forms(config, user_id))
    if not todo:
        return [_as_result(d) for d in done]
    users = sorted({u for _d, forms in todo.values() for u in forms})
    terms = terms_for(users)
    # One replacement per request would need one pass each: a batch uses the first subject's
    # marker only for text about several learners at once (it names no one either way).
    replacement = replacement_for(next(iter(todo.values()))[0]["subject"]) if len(todo) == 1 \
        else "erased"
    step = "store"
    current = {rid: _save(store, doc, status="running", step=step, started_ms=now_ms())
               for rid, (doc, _f) in todo.items()}
    try:
        removed = store.erase_users(users, terms, replacement)
        for holder in holders:
            step = holder.name
            _mark(store, current, step)
            n = holder.erase(users, terms)
            if n:
                removed[holder.name] = removed.get(holder.name, 0) + n
        step = "files"
        _mark(store, current, step)
        if log_dir is not None:
            n = scrub_logs(log_dir, terms, replacement)
            if n:
                removed["log lines"] = n
        for folder in ("exports", "reports"):
            n = erase_files(config.data_dir / folder, terms)
            if n:
                removed[folder] = n
        had_data = any(v for k, v in removed.items() if not k.endswith("(pseudonymised)"))
        current = {rid: _save(store, d, removed=_merge(d.get("removed"), removed),
                              had_data=bool(d.get("had_data")) or had_data)
                   for rid, d in current.items()}
        if any(d.get("had_data") for d in current.values()) and retrain is not None:
            step = "models"
            _mark(store, current, step)
            started = time.monotonic()
            oldest = min(int(d["requested_ms"]) for d in current.values())
            retrain()
            pruned = prune_models(config, store, before_ms=max(oldest, 1))
            current = {rid: _save(store, d, retrain_s=round(time.monotonic() - started, 3),
                                  models_removed=pruned) for rid, d in current.items()}
        current = {rid: _save(store, d, status="completed", step=None,
                              completed_ms=d.get("completed_ms") or now_ms())
                   for rid, d in current.items()}
        step = "verify"
        _mark(store, current, step, status="completed")
        evidence = verify(config, store, holders, terms)
        if evidence:
            raise _VerifyFailed(evidence)
        at = now_ms()
        for d in current.values():
            d = {k: v for k, v in d.items() if k != "sealed"}
            done.append(_save(store, d, status="verified", step=None, verified_ms=at,
                              evidence={}))
        checkpoint_databases(config.data_dir)   # the seals' old page images, too
    except _VerifyFailed as exc:
        for d in current.values():
            done.append(_save(store, d, status="failed", step="verify", evidence=exc.evidence,
                              error="traces were still found (counts per place in evidence)"))
    except Exception as exc:
        for d in current.values():
            done.append(_save(store, d, status="failed", step=step,
                              error=f"{type(exc).__name__}: {mask_text(str(exc))[0][:200]}"))
        raise
    return [_as_result(d) for d in done]


class _VerifyFailed(Exception):
    def __init__(self, evidence: dict[str, int]) -> None:
        super().__init__("verification found traces")
        self.evidence = evidence


def _merge(old: Any, new: dict[str, int]) -> dict[str, int]:
    out = dict(old or {})
    for k, v in new.items():
        out[k] = out.get(k, 0) + v
    return out


def _mark(store: DocumentStore, current: dict[str, dict[str, Any]], step: str,
          status: str = "running") -> None:
    for rid, d in list(current.items()):
        current[rid] = _save(store, d, step=step, status=status)


def verify(config: Config, store: DocumentStore, holders: list[TraceHolder], terms: Terms
           ) -> dict[str, int]:
    """Search every store and every file of the data dir for the terms; returns where traces
    remain (place -> count), empty when nothing is found. Databases are checkpointed first, so
    the search reads their files as they now are (free pages and write-ahead logs included)."""
    found: dict[str, int] = {f"store:{k}": v for k, v in store.find_terms(terms).items()}
    for holder in holders:
        n = holder.find(terms)
        if n:
            found[holder.name] = n
    rebuilt: list[str] = []
    for attempt in range(5):
        checkpoint_databases(config.data_dir)
        files = scan_files(config.data_dir, terms, store.known_user_ids)
        if not files or attempt == 4:
            break
        if not rebuilt:
            # Stale copies of moved cells in pages SQLite rebalanced: rebuild those b-trees.
            rebuilt = scrub_residue(config.data_dir, files) or ["nothing"]
        else:
            time.sleep(0.2)    # a reader held a snapshot and the checkpoint could not finish
    found.update({f"file:{k}": len(v) for k, v in files.items()})
    return found


def _reverify_by_key(config: Config, store: DocumentStore, doc: dict[str, Any]
                     ) -> dict[str, Any]:
    left = ids_matching_subjects(config, store, {doc["subject"]})
    if left:
        return _save(store, doc, status="failed", step="verify", evidence={"store:ids": left},
                     error="the learner's id is still held and the seal is gone: run forget "
                           "with the id again")
    return _save(store, doc, status="verified", step=None,
                 verified_ms=doc.get("verified_ms") or now_ms())


def ids_matching_subjects(config: Config, store: DocumentStore, subjects: set[str]) -> int:
    """How many learner ids the store holds whose subject key is one of `subjects` (an erased
    learner's data came back, or was never removed): checked without knowing the ids."""
    key = pseudonym_key(config)
    return sum(1 for uid in store.known_user_ids() if subject_key(uid, key) in subjects)


def unsuppress(config: Config, store: DocumentStore, user_id: str, actor: str = "operator"
               ) -> bool:
    """Let the learner's events in again; recorded on their erasure requests. Returns whether
    they were suppressed."""
    subject = subject_of(config, user_id)
    was = store.unsuppress(subject)
    at = now_ms()
    for doc in store.get_documents(REQUESTS):
        if doc["subject"] == subject:
            _save(store, doc, unsuppressed_ms=at, unsuppressed_by=actor)
    return was


def requests(store: DocumentStore) -> list[dict[str, Any]]:
    """Every erasure request, newest first, without its seal."""
    docs = sorted(store.get_documents(REQUESTS), key=lambda d: d["_id"], reverse=True)
    return [{k: v for k, v in d.items() if k != "sealed"} for d in docs]
