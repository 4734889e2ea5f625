"""The daily privacy audit: each check with pass, warn or fail, a severity and evidence counts
(never the personal values themselves). Results are kept with their history (`audits`)."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import orjson

from ..analytics.events import _MAYBE_PII
from ..analytics.privacy import DAY_MS, ConsentRow, consent_expired, pii_counts
from ..clock import now_ms
from ..config import Config
from ..config.keys import PSEUDONYM_KEY_FILE
from ..live import LiveState
from ..store import DocumentStore
from .erasure import REQUESTS, ids_matching_subjects
from .files import data_files
from .retention import survey

AUDITS = "audits"
DERIVED = ("user_analysis", "segments", "segment_history", "recommendations", "anomalies")


@dataclass(frozen=True)
class Check:
    check: str
    status: str        # pass | warn | fail
    severity: str      # low | medium | high | critical
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditReport:
    at_ms: int
    checks: list[Check]
    seconds: float

    @property
    def status(self) -> str:
        kinds = {c.status for c in self.checks}
        return "fail" if "fail" in kinds else "warn" if "warn" in kinds else "pass"

    def as_dict(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "status": self.status, "seconds": self.seconds,
                "checks": [dataclasses.asdict(c) for c in self.checks]}


TextSource = Callable[[], Iterable[Any]]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield k
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def pii_in(values: Iterable[Any]) -> dict[str, int]:
    """PII kinds found in the strings of JSON values (numbers such as timestamps are not read
    as phone numbers: only strings are)."""
    total: dict[str, int] = {}
    for value in values:
        if isinstance(value, bytes | bytearray):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                value = bytes(value).decode("utf-8", "replace")
        for text in _strings(value):
            if not _MAYBE_PII.search(text):
                continue
            for kind, n in pii_counts(text).items():
                total[kind] = total.get(kind, 0) + n
    return total


def expire_consents(config: Config, store: DocumentStore, at: int) -> int:
    """With `[consent] max_age_days`, a grant older than that is revoked in the ledger (method
    "expired"), so ingestion stops using it; returns how many were revoked."""
    max_age = config.consent.max_age_days
    if not max_age:
        return 0
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in store.consent_ledger(list(config.consent.purposes)):
        latest[(row["user_id"], row["purpose"])] = row
    rows = [ConsentRow(u, {p: False}, "expired", str(r["version"]), str(r["legal_basis"]), at)
            for (u, p), r in latest.items()
            if r["granted"] and consent_expired(int(r["at_ms"]), max_age, at)]
    return store.record_consents(rows, "audit") if rows else 0


def _consent_check(config: Config, store: DocumentStore, at: int, expired_now: int = 0
                   ) -> Check:
    purpose = config.consent.storage_purpose
    outside = learners = 0
    profiled_after = 0
    expired = 0
    users_seen: set[str] = set()
    for user_id, rows_iter in groupby(store.consent_ledger([purpose]), key=lambda r: r["user_id"]):
        rows = list(rows_iter)
        users_seen.add(user_id)
        start: int | None = 0      # not granted since the start of time
        n = 0
        for row in rows:
            if row["granted"] and start is not None:
                n += store.count_user_events(user_id, start, row["at_ms"])
                start = None
            elif not row["granted"] and start is None:
                start = row["at_ms"]
        if start is not None:
            n += store.count_user_events(user_id, start, 2 ** 62)
        if n:
            outside += n
            learners += 1
        if rows and consent_expired(rows[-1]["at_ms"], config.consent.max_age_days, at) and \
                rows[-1]["granted"]:
            expired += 1
    profile = config.consent.profile_purpose
    revoked: dict[str, int] = {}
    for user_id, rows_iter in groupby(store.consent_ledger([profile]), key=lambda r: r["user_id"]):
        last = list(rows_iter)[-1]
        if not last["granted"]:
            revoked[user_id] = int(last["at_ms"])
    for uid, user in store.get_users(sorted(revoked)).items():
        last_folded = (user.get("acc") or {}).get("last")
        if last_folded is not None and int(last_folded) > revoked[uid]:
            profiled_after += 1
    evidence = {"events_outside_consent": outside, "learners": learners,
                "profiled_after_withdrawal": profiled_after, "expired_consents": expired,
                "consents_expired_now": expired_now}
    if outside or profiled_after:
        return Check("consent_at_event_time", "fail", "critical",
                     f"{outside} stored events of {learners} learners fall where the ledger "
                     f"shows no storage consent; {profiled_after} learners were profiled "
                     "after withdrawing", evidence)
    if expired:
        return Check("consent_at_event_time", "warn", "medium",
                     f"{expired} consents are older than consent.max_age_days", evidence)
    note = (f"; {expired_now} consents older than consent.max_age_days were revoked"
            if expired_now else "")
    return Check("consent_at_event_time", "pass", "critical",
                 "every stored event had storage consent at its time" + note, evidence)


def _records_check(store: DocumentStore) -> Check:
    incomplete = store.incomplete_consent_records()
    without = store.users_with_events_without_consent_record()
    evidence = {"incomplete_records": incomplete, "learners_with_events_no_record": without}
    if incomplete:
        return Check("consent_records_complete", "fail", "high",
                     f"{incomplete} consent records miss who, when, how, the notice version "
                     "or the legal basis", evidence)
    if without:
        return Check("consent_records_complete", "warn", "high",
                     f"{without} learners have events but no consent record at all", evidence)
    return Check("consent_records_complete", "pass", "high",
                 "every consent record says who, when, how, notice version and legal basis",
                 evidence)


def _pii_check(sources: dict[str, TextSource]) -> Check:
    where: dict[str, dict[str, int]] = {}
    for name, source in sources.items():
        found = pii_in(source())
        if found:
            where[name] = found
    total = sum(n for kinds in where.values() for n in kinds.values())
    if total:
        places = ", ".join(f"{name} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})"
                           for name, kinds in sorted(where.items()))
        return Check("pii_scan", "fail", "high", f"{total} unmasked personal values: {places}",
                     {"found": where})
    return Check("pii_scan", "pass", "high",
                 f"no e-mail, phone, IP or card number in {', '.join(sorted(sources))}",
                 {"found": {}})


def _retention_check(config: Config, store: DocumentStore, at: int) -> Check:
    rows = survey(config, store, at)
    over = {r.collection: {"oldest_days": r.oldest_days, "policy_days": r.days,
                           "expired": r.expired} for r in rows if r.expired}
    evidence = {"collections": {r.collection: {"oldest_days": r.oldest_days,
                                               "policy_days": r.days, "expired": r.expired}
                                for r in rows}}
    if over:
        names = ", ".join(f"{k} ({v['expired']} past {v['policy_days']:g} d)"
                          for k, v in sorted(over.items()))
        return Check("retention", "warn", "medium",
                     f"records past their retention: {names}; 'gradvy run cleanup' removes "
                     "them", evidence)
    return Check("retention", "pass", "medium", "every collection is within its retention",
                 evidence)


def _erasure_check(config: Config, store: DocumentStore, at: int) -> Check:
    docs = store.get_documents(REQUESTS)
    deadline = config.privacy.erasure_deadline_days * DAY_MS
    late = [d for d in docs if d["status"] != "verified"
            and at - int(d["requested_ms"]) > deadline]
    failed = [d for d in docs if d["status"] == "failed"]
    slow = [d for d in docs if d["status"] == "verified" and d.get("verified_ms")
            and int(d["verified_ms"]) - int(d["requested_ms"]) > deadline]
    # A learner let in again (unsuppress) may hold data again: not a trace of the erasure.
    subjects = {d["subject"] for d in docs
                if d["status"] == "verified" and not d.get("unsuppressed_ms")}
    suppressed = {d["_id"] for d in store.suppressions()}
    back = ids_matching_subjects(config, store, subjects | suppressed) if (
        subjects or suppressed) else 0
    evidence = {"requests": len(docs), "verified": len(subjects), "open_past_deadline": len(late),
                "failed": len(failed), "verified_late": len(slow),
                "erased_or_suppressed_ids_held": back, "suppressed": len(suppressed)}
    if late or back or failed:
        return Check("erasure", "fail", "critical",
                     f"{len(late)} requests open past {config.privacy.erasure_deadline_days:g} "
                     f"days, {len(failed)} failed, {back} erased or suppressed learners still "
                     "have data", evidence)
    if slow:
        return Check("erasure", "warn", "high",
                     f"{len(slow)} requests took longer than the deadline", evidence)
    return Check("erasure", "pass", "critical",
                 f"{len(docs)} requests, all within the deadline; erased learners leave "
                 "nothing", evidence)


def revoked_inactive(config: Config, store: DocumentStore, at: int) -> list[str]:
    """Learners who revoked every analytics purpose and were inactive for
    `[privacy] revoked_inactive_days` (the original's rule)."""
    purposes = list(config.privacy.analytics_purposes)
    latest: dict[str, dict[str, bool]] = {}
    for row in store.consent_ledger(purposes):
        latest.setdefault(row["user_id"], {})[row["purpose"]] = row["granted"]
    candidates = [u for u, c in latest.items()
                  if all(p in c and not c[p] for p in purposes)]
    cutoff = at - int(config.privacy.revoked_inactive_days * DAY_MS)
    out = []
    for uid, user in store.get_users(candidates).items():
        last = (user.get("acc") or {}).get("last")
        has_derived = bool(user.get("acc")) or any(
            store.get_documents(c, user_id=uid) for c in DERIVED)
        if has_derived and (last is None or int(last) < cutoff):
            out.append(uid)
    return sorted(out)


def _revoked_check(config: Config, store: DocumentStore, live: LiveState | None, at: int
                   ) -> Check:
    found = revoked_inactive(config, store, at)
    if not found:
        return Check("revoked_inactive_cleaned", "pass", "medium",
                     "no learner who revoked analytics still has analytics data", {"found": 0})
    if not config.privacy.clean_revoked_inactive:
        return Check("revoked_inactive_cleaned", "warn", "medium",
                     f"{len(found)} learners revoked analytics and were inactive for "
                     f"{config.privacy.revoked_inactive_days:g} days but keep analytics data "
                     "(privacy.clean_revoked_inactive is off)", {"found": len(found)})
    cleaned = clean_analytics_data(store, live, found)
    return Check("revoked_inactive_cleaned", "pass", "medium",
                 f"cleaned the analytics data of {len(found)} learners who revoked analytics "
                 f"and were inactive ({cleaned} records)", {"found": len(found),
                                                            "cleaned_records": cleaned})


def clean_analytics_data(store: DocumentStore, live: LiveState | None, user_ids: list[str]
                         ) -> int:
    """Remove derived analytics (profile accumulator, analyses, segments, recommendations,
    anomalies, live entries) of these learners; their consent ledger stays."""
    n = 0
    for uid in user_ids:
        for collection in DERIVED:
            ids = [str(d["_id"]) for d in store.get_documents(collection, user_id=uid)]
            if ids:
                n += store.delete_documents(collection, ids)
        n += store.reset_profile(uid)
        if live is not None:
            for key in live.user_keys(uid, now_ms()):
                if not key.startswith(("user_day:", "session:", "gradvy:")):
                    live.delete_json(key)
                    n += 1
    return n


def _key_and_files_check(config: Config, env: dict[str, str]) -> Check:
    in_data = not env.get("GRADVY_PSEUDONYM_KEY")
    key_path = config.data_dir / PSEUDONYM_KEY_FILE
    readable = 0
    for path in data_files(config.data_dir):
        try:
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                readable += 1
        except OSError:
            continue
    dir_open = bool(config.data_dir.exists()
                    and config.data_dir.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    evidence = {"key_in_data_dir": in_data, "key_exists": (not in_data) or key_path.exists(),
                "files_readable_by_others": readable, "data_dir_open_to_others": dir_open}
    if readable or dir_open:
        return Check("keys_and_files", "fail", "critical",
                     f"{readable} files of the data dir can be read by other users", evidence)
    if in_data:
        return Check("keys_and_files", "warn", "medium",
                     "the pseudonym key lives in the data dir beside the data: set "
                     "GRADVY_PSEUDONYM_KEY from a secret store to keep it apart", evidence)
    return Check("keys_and_files", "pass", "critical",
                 "the pseudonym key is kept apart from the data; no file is readable by "
                 "others", evidence)


def _processing_check(config: Config) -> Check:
    records = dict(config.privacy.processing)
    needed = ("dropout_risk", "anomaly_flags", "segments")
    missing = [n for n in needed if not records.get(n)]
    evidence = {"records": records}
    if missing:
        return Check("processing_records", "warn", "medium",
                     f"automated profiling without a record of processing: {', '.join(missing)}",
                     evidence)
    return Check("processing_records", "pass", "medium",
                 f"{len(records)} kinds of automated processing recorded with purpose and "
                 "inputs", evidence)


def run_audit(config: Config, store: DocumentStore, live: LiveState | None,
              texts: dict[str, TextSource], at_ms: int | None = None,
              env: dict[str, str] | None = None, keep: bool = True) -> AuditReport:
    """Run every check; with `keep`, store the result in the audit history."""
    started = time.monotonic()
    at = now_ms() if at_ms is None else at_ms
    expired = expire_consents(config, store, at)
    checks = [
        _consent_check(config, store, at, expired),
        _records_check(store),
        _pii_check(texts),
        _retention_check(config, store, at),
        _erasure_check(config, store, at),
        _revoked_check(config, store, live, at),
        _key_and_files_check(config, dict(os.environ) if env is None else env),
        _processing_check(config),
    ]
    report = AuditReport(at, checks, round(time.monotonic() - started, 3))
    if keep:
        store.put_documents(AUDITS, [{"_id": f"{at:013d}", **report.as_dict()}])
    return report


def latest_audit(store: DocumentStore) -> dict[str, Any] | None:
    docs = store.get_documents(AUDITS)
    return max(docs, key=lambda d: d["_id"]) if docs else None
