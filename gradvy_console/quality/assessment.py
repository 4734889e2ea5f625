"""The data-quality assessment: each check pass, warn or fail with its evidence (counts, ids of
events, keys and types; never a learner's personal values), a score from 0 to 100, kept with
its history (`quality_assessments`). Incremental: the running aggregates (`quality_state`)
hold a cursor into the stored events, so a run reads only what was stored since the last one.
The rules are in `analytics.quality`."""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..analytics import quality as q
from ..analytics.events import Event
from ..analytics.scoring import accumulate, engagement_score, profile_view
from ..clock import now_ms
from ..config import Config
from ..store import DocumentStore

ASSESSMENTS = "quality_assessments"
STATE = "quality_state"
STATE_ID = "state"
SNAPSHOT_KEEP_MS = 26 * q.HOUR_MS
SCAN_BATCH = 20_000
# Counters the windows are computed from (the ingestion's own, cumulative).
WINDOW_COUNTERS = ("processed", "duplicates", "no_consent", "dead_lettered", "suppressed",
                   "pii_masked", "naive_timestamps")
# ... and per event type (the ingestor counts them by type label: known types by name).
TYPE_OUTCOMES = {"stored": "stored_type:", "duplicates": "duplicate_type:",
                 "no_consent": "no_consent_type:", "dead_lettered": "dead_type:"}
WINDOW_PREFIXES = ("rejected:", *TYPE_OUTCOMES.values())


@dataclass(frozen=True)
class Check:
    check: str
    status: str        # pass | warn | fail
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class QualityReport:
    at_ms: int
    checks: list[Check]
    score: int
    windows: dict[str, dict[str, int]]
    types: dict[str, dict[str, Any]]
    scanned: int
    seconds: float
    no_data: bool = False

    @property
    def status(self) -> str:
        kinds = {c.status for c in self.checks}
        return "fail" if "fail" in kinds else "warn" if "warn" in kinds else "pass"

    def as_dict(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "status": self.status, "score": self.score,
                "no_data": self.no_data, "scanned": self.scanned, "seconds": self.seconds,
                "windows": self.windows, "types": self.types,
                "checks": [dataclasses.asdict(c) for c in self.checks]}


def load_state(store: DocumentStore) -> dict[str, Any]:
    for doc in store.get_documents(STATE):
        if doc.get("_id") == STATE_ID:
            state = {k: v for k, v in doc.items() if k != "_id"}
            return {**q.empty_state(), **state}
    return {**q.empty_state(), "snapshots": []}


def catch_up(store: DocumentStore, state: dict[str, Any], config: Config,
             courses: set[str], settle_ms: int = 10_000) -> int:
    """Fold every event stored since the state's cursor (on a backend without a commit
    order, those stored in the last `settle_ms` wait for the next run)."""
    late_ms = int(config.quality.late_hours * q.HOUR_MS)
    total = 0
    while True:
        rows, cursor = store.scan_events(state["cursor"], SCAN_BATCH, settle_ms)
        if not rows:
            return total
        total += q.fold(state, rows, late_ms, courses)
        state["cursor"] = cursor


def _counter_windows(state: dict[str, Any], counters: dict[str, int], at: int,
                     since_ms: int | None = None) -> dict[str, dict[str, int]]:
    watched = {k: v for k, v in counters.items()
               if k in WINDOW_COUNTERS or k.startswith(WINDOW_PREFIXES)}
    snapshots = [s for s in state.get("snapshots", []) if s["at_ms"] >= at - SNAPSHOT_KEEP_MS]
    windows = {
        "last_hour": q.window_counts(snapshots, watched, at, q.HOUR_MS),
        "last_day": q.window_counts(snapshots, watched, at, q.DAY_MS),
        "since_start": {k: v for k, v in watched.items() if v},
    }
    if since_ms is not None:
        windows["since"] = q.window_counts(snapshots, watched, at, at - since_ms)
    snapshots.append({"at_ms": at, "counters": watched})
    state["snapshots"] = snapshots
    return windows


def _seen(window: dict[str, int]) -> int:
    return (window.get("processed", 0) + window.get("duplicates", 0)
            + window.get("no_consent", 0) + window.get("dead_lettered", 0)
            + window.get("suppressed", 0))


def _dead_letter_check(config: Config, windows: dict[str, dict[str, int]]) -> Check:
    day = windows["last_day"]
    seen, dead = _seen(day), day.get("dead_lettered", 0)
    share = dead / seen if seen else 0.0
    by_reason = {k.split(":", 1)[1]: v for k, v in day.items() if k.startswith("rejected:")}
    evidence = {"seen": seen, "dead_lettered": dead, "share": round(share, 4),
                "by_reason": by_reason,
                "since_start_by_reason": {k.split(":", 1)[1]: v for k, v in
                                          windows["since_start"].items()
                                          if k.startswith("rejected:")}}
    settings = config.quality
    if share > settings.dead_letter_fail_share:
        return Check("dead_letters", "fail", f"{share:.1%} of the events seen in the last day "
                     f"were dead-lettered (fail past {settings.dead_letter_fail_share:.0%})",
                     evidence)
    if share > settings.dead_letter_warn_share:
        return Check("dead_letters", "warn", f"{share:.1%} of the events seen in the last day "
                     f"were dead-lettered (warn past {settings.dead_letter_warn_share:.0%})",
                     evidence)
    return Check("dead_letters", "pass", f"{dead:,} of {seen:,} events seen in the last day "
                 "were dead-lettered", evidence)


def _duplicates_check(windows: dict[str, dict[str, int]]) -> Check:
    day, start = windows["last_day"], windows["since_start"]
    evidence = {"duplicates_last_day": day.get("duplicates", 0),
                "id_collisions_last_day": day.get("rejected:id_collision", 0),
                "duplicates": start.get("duplicates", 0),
                "id_collisions": start.get("rejected:id_collision", 0)}
    if evidence["id_collisions_last_day"]:
        return Check("duplicates", "warn", f"{evidence['id_collisions_last_day']:,} events "
                     "in the last day reused an id for other content (id collisions)", evidence)
    return Check("duplicates", "pass", f"{evidence['duplicates_last_day']:,} duplicates "
                 "(same content re-sent) in the last day, no id collision", evidence)


def _timeliness_check(config: Config, state: dict[str, Any],
                      windows: dict[str, dict[str, int]], at: int) -> Check:
    recent = [b for h, b in state["hourly"].items() if int(h) >= at - q.DAY_MS]
    late_day = sum(b["late"] for b in recent)
    stored_day = sum(b["stored"] for b in recent)
    future = windows["since_start"].get("rejected:future_timestamp", 0)
    naive = windows["since_start"].get("naive_timestamps", 0)
    evidence = {"late": state["late_total"], "late_by_type": dict(state["late"]),
                "late_last_day": late_day, "future_timestamps": future,
                "future_last_day": windows["last_day"].get("rejected:future_timestamp", 0),
                "naive_timestamps": naive, "late_hours": config.quality.late_hours}
    if stored_day and late_day / stored_day > 0.05:
        return Check("timeliness", "fail", f"{late_day:,} of {stored_day:,} events stored in "
                     f"the last day were more than {config.quality.late_hours:g} h late",
                     evidence)
    if late_day or evidence["future_last_day"]:
        return Check("timeliness", "warn", f"{late_day:,} late and "
                     f"{evidence['future_last_day']:,} future-dated events in the last day",
                     evidence)
    return Check("timeliness", "pass", f"{state['late_total']:,} late and {future:,} "
                 "future-dated events since the start; none in the last day", evidence)


def _freshness(state: dict[str, Any], at: int) -> dict[str, dict[str, Any]]:
    return {t: {"stored": i["count"], "since_receipt_s": max(0, (at - i["newest_received"])
                                                           // 1000),
                "since_event_s": max(0, (at - i["last_ts"]) // 1000),
                "first_ts": i["first_ts"], "last_ts": i["last_ts"]}
            for t, i in sorted(state["types"].items())}


def _freshness_check(types: dict[str, dict[str, Any]]) -> Check:
    types = {t: f for t, f in types.items() if "since_receipt_s" in f}   # stored ones
    stale = {t: f["since_receipt_s"] for t, f in types.items() if f["since_receipt_s"] > 86_400}
    if stale:
        return Check("freshness", "warn", f"{len(stale)} event types received nothing for more "
                     f"than a day: {', '.join(sorted(stale))}", {"silent_for_s": stale})
    newest = min((f["since_receipt_s"] for f in types.values()), default=0)
    return Check("freshness", "pass", f"the newest event was received {newest:,} s ago",
                 {"newest_receipt_s": newest})


def _volume_check(state: dict[str, Any], at: int, since_ms: int | None = None) -> Check:
    today = q.day_of(at)
    last_complete = q.day_of(at - q.DAY_MS)
    first = min((min(d) for d in state["daily"].values() if d), default=today)
    # The last two complete days are judged (Elementary's detection window), or every one
    # since `since_ms`.
    window_from = q.day_of(at - 2 * q.DAY_MS if since_ms is None else since_ms)
    flagged = q.volume_anomalies(state["daily"], first, last_complete, only_from=window_from)
    evidence = {"flagged": flagged, "judged_days": [window_from, last_complete],
                "rule": "daily by event time vs the median of the 14 days before; off by "
                        "more than 50 % and 4 robust z-scores; silent when 0 and the median "
                        "is at least 10"}
    silent = [f for f in flagged if f["kind"] == "silent"]
    if silent:
        return Check("volume", "fail", "silent: " + ", ".join(
            f"{f['event_type']} on {f['day']}" for f in silent), evidence)
    if flagged:
        return Check("volume", "warn", ", ".join(
            f"{f['event_type']} {f['kind']} on {f['day']} ({f['actual']:,} vs "
            f"{f['expected']:,.0f})" for f in flagged), evidence)
    return Check("volume", "pass", "every event type within its expected daily volume",
                 evidence)


def _schema_check(state: dict[str, Any], at: int) -> Check:
    keys, changes = q.new_keys(state), q.type_changes(state)
    types = q.new_types(state, at)
    evidence = {"new_keys": keys, "type_changes": changes, "new_types": types}
    if changes:
        return Check("schema", "warn", ", ".join(
            f"{c['event_type']}.{c['key']} is {c['usual']} and {c['other']:,} times another "
            "kind" for c in changes), evidence)
    if keys:
        return Check("schema", "warn", "new properties: " + ", ".join(
            f"{k['event_type']}.{k['key']} ({k['count']:,})" for k in keys), evidence)
    return Check("schema", "pass", f"{len(state['props'])} properties over "
                 f"{len(state['types'])} event types, none new or changing kind", evidence)


def _required_check(state: dict[str, Any]) -> Check:
    missing = {t: dict(g) for t, g in sorted(state["missing"].items()) if g}
    shares = {t: sum(g.values()) / max(1, state["types"].get(t, {}).get("count", 1))
              for t, g in missing.items()}
    evidence = {"missing": missing, "required": {t: list(k) for t, k in q.REQUIRED.items()}}
    if any(s > 0.01 for s in shares.values()):
        return Check("required", "fail", "required properties missing: " + ", ".join(
            f"{t}.{k} ({n:,})" for t, g in missing.items() for k, n in g.items()), evidence)
    if missing:
        return Check("required", "warn", "required properties missing now and then: " + ", "
                     .join(f"{t}.{k} ({n:,})" for t, g in missing.items() for k, n in g.items()),
                     evidence)
    return Check("required", "pass", "every stored event carries its type's required "
                 "properties", evidence)


def out_of_range_fields(store: DocumentStore) -> dict[str, int]:
    """Dead-lettered out-of-range values by field (`properties.score`, ...)."""
    fields: dict[str, int] = {}
    for letter in store.dead_letters(limit=1_000_000, reason="out_of_range"):
        name = str(letter.get("detail") or "").split(" ", 1)[0] or "unknown"
        fields[name] = fields.get(name, 0) + 1
    return fields


def _ranges_check(store: DocumentStore, windows: dict[str, dict[str, int]]) -> Check:
    fields = out_of_range_fields(store)
    evidence = {"by_field": fields,
                "last_day": windows["last_day"].get("rejected:out_of_range", 0)}
    if evidence["last_day"]:
        return Check("ranges", "warn", f"{evidence['last_day']:,} events out of range in the "
                     "last day: " + ", ".join(f"{k} ({n:,})" for k, n in sorted(fields.items())),
                     evidence)
    return Check("ranges", "pass", f"{sum(fields.values()):,} out-of-range values since the "
                 "start (dead-lettered), none in the last day", evidence)


def _references_check(store: DocumentStore, state: dict[str, Any], courses: set[str]) -> Check:
    unknown = state["unknown_courses"]
    shared = state["shared_sessions"]
    no_record = store.users_with_events_without_consent_record()
    evidence = {"catalogue": len(courses), "unknown_course_events": sum(unknown.values()),
                "unknown_courses": dict(sorted(unknown.items(), key=lambda kv: -kv[1])[:20]),
                "shared_sessions": len(shared),
                "shared_session_ids": sorted(shared)[:20],
                "learners_without_consent_record": no_record}
    problems = []
    if unknown:
        problems.append(f"{sum(unknown.values()):,} events name {len(unknown)} courses not in "
                        "the catalogue")
    if shared:
        problems.append(f"{len(shared)} session ids are shared by several learners")
    if no_record:
        problems.append(f"{no_record:,} learners have events and no consent record")
    if problems:
        return Check("references", "warn", "; ".join(problems), evidence)
    return Check("references", "pass", "every course id is in the catalogue, sessions belong "
                 "to one learner, every learner with events has a consent record", evidence)


def _profile_checks(config: Config, store: DocumentStore, at: int
                    ) -> tuple[list[Check], list[dict[str, Any]]]:
    settings, model = config.quality, config.scoring
    stale_before = at - int(settings.stale_days * q.DAY_MS)
    learners = stale = extreme = empty = 0
    sample: list[dict[str, Any]] = []
    rng = random.Random(at)
    profiled_purpose = config.consent.profile_purpose
    for user in store.iter_users():
        acc = user.get("acc") or {}
        learners += 1
        last = acc.get("last")
        if last is None:
            consent = user.get("consent")
            if isinstance(consent, dict) and consent.get(profiled_purpose):
                empty += 1    # profiling granted, yet nothing in the profile
            continue
        if last < stale_before:
            stale += 1
        if engagement_score(acc, model, at // q.DAY_MS) > settings.extreme_engagement:
            extreme += 1
        # Reservoir sampling: each learner equally likely to be recomputed.
        if len(sample) < settings.consistency_sample:
            sample.append(user)
        else:
            j = rng.randrange(learners)
            if j < settings.consistency_sample:
                sample[j] = user
    checks = []
    share = stale / learners if learners else 0.0
    evidence = {"learners": learners, "stale": stale, "share": round(share, 4),
                "stale_days": settings.stale_days}
    if share > settings.stale_warn_share:
        checks.append(Check("stale_learners", "warn", f"{share:.0%} of learners had no activity "
                            f"for {settings.stale_days:g} days: re-engagement is recommended",
                            evidence))
    else:
        checks.append(Check("stale_learners", "pass", f"{stale:,} of {learners:,} learners "
                            "are stale", evidence))
    eshare = extreme / learners if learners else 0.0
    evidence = {"learners": learners, "extreme": extreme, "share": round(eshare, 4),
                "above": settings.extreme_engagement}
    if eshare > settings.extreme_warn_share:
        checks.append(Check("extremes", "warn", f"{eshare:.1%} of learners have an engagement "
                            f"above {settings.extreme_engagement:g}: suspicious", evidence))
    else:
        checks.append(Check("extremes", "pass", f"{extreme:,} learners with an engagement above "
                            f"{settings.extreme_engagement:g}", evidence))
    if empty:
        checks.append(Check("profiles", "warn", f"{empty:,} learners who allow profiling have "
                            "no profile data", {"learners": learners, "empty": empty}))
    else:
        checks.append(Check("profiles", "pass", "every learner has profile data",
                            {"learners": learners}))
    return checks, sample


def consistency(config: Config, store: DocumentStore, sample: list[dict[str, Any]]) -> Check:
    """For each sampled learner whose events are all profiled (both purposes granted), the
    stored profile's counts equal a recomputation from the stored events."""
    purposes = {config.consent.storage_purpose, config.consent.profile_purpose}
    checked, differ = 0, []
    for user in sample:
        consent = user.get("consent") or {}
        granted = {p for p, v in consent.items() if v} if isinstance(consent, dict) else set()
        if not purposes <= granted:
            continue
        docs = store.user_events(user["user_id"], limit=1_000_000)
        events = [Event(d["event_id"], user["user_id"], d["event_type"], d["ts"],
                        d.get("session_id"), d.get("properties") or {}, "") for d in docs]
        again = accumulate(events, config.scoring).get(user["user_id"], {})
        checked += 1
        stored = profile_view(user.get("acc") or {}, config.scoring)
        fresh = profile_view(again, config.scoring)
        if stored.get("counts_by_type") != fresh.get("counts_by_type") or stored.get(
                "last_seen") != fresh.get("last_seen"):
            differ.append(user["user_id"])
    evidence = {"sampled": len(sample), "checked": checked, "differ": len(differ),
                "differing_learners": len(differ)}
    if differ:
        return Check("consistency", "fail", f"{len(differ)} of {checked} sampled profiles "
                     "differ from a recomputation from their stored events", evidence)
    return Check("consistency", "pass", f"{checked} sampled profiles equal a recomputation "
                 "from their stored events", evidence)


def parse_since(text: str, now: int) -> int:
    """A `--since`: an ISO 8601 date or time (UTC when it names no offset), or an age such as
    `90m`, `6h`, `2d`, `1w`. A ValueError with one sentence otherwise."""
    value = text.strip()
    units = {"m": 60_000, "h": q.HOUR_MS, "d": q.DAY_MS, "w": 7 * q.DAY_MS}
    if value[:-1].isdigit() and value[-1:].lower() in units:
        return now - int(value[:-1]) * units[value[-1].lower()]
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since {text!r} is not a time: give an ISO date or time "
                         "(2026-11-30, 2026-11-30T06:00Z) or an age (90m, 6h, 2d, 1w).") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    ms = int(stamp.timestamp() * 1000)
    if ms > now:
        raise ValueError(f"--since {text!r} lies in the future.")
    return ms


def run_assessment(config: Config, store: DocumentStore, at_ms: int | None = None,
                   keep: bool = True, since_ms: int | None = None, settle_ms: int = 10_000
                   ) -> QualityReport:
    """Fold what was stored since the last run, run every check, keep the result (with
    `keep`) and the aggregates. With `since_ms`, the counts have a window from then and the
    volume check judges every complete day from then (not only the last two)."""
    started = time.monotonic()
    at = now_ms() if at_ms is None else at_ms
    state = load_state(store)
    courses = {str(c.get("course_id") or c.get("_id")) for c in store.get_documents("courses")}
    catch_up(store, state, config, courses, settle_ms)
    q.prune(state, at)
    counters = store.counters()
    windows = _counter_windows(state, counters, at, since_ms)
    types = _freshness(state, at)
    for name, window in windows.items():
        labels = {k.split(":", 1)[1] for k in window if k.startswith(WINDOW_PREFIXES[1:])}
        for label in labels:
            row = types.setdefault(label, {})
            counts = {outcome: window.get(prefix + label, 0)
                      for outcome, prefix in TYPE_OUTCOMES.items()}
            counts["seen"] = sum(counts.values())
            row[name] = counts
    if not state["scanned"] and not _seen(windows["since_start"]):
        checks = [Check("data", "pass", "no data yet: nothing has been received")]
        report = QualityReport(at, checks, 100, windows, types, 0,
                               round(time.monotonic() - started, 3), no_data=True)
    else:
        checks = [
            _dead_letter_check(config, windows),
            _duplicates_check(windows),
            _timeliness_check(config, state, windows, at),
            _freshness_check(types),
            _volume_check(state, at, since_ms),
            _schema_check(state, at),
            _required_check(state),
            _ranges_check(store, windows),
            _references_check(store, state, courses),
        ]
        profile_checks, sample = _profile_checks(config, store, at)
        checks += profile_checks
        checks.append(consistency(config, store, sample))
        report = QualityReport(at, checks, q.score({c.check: c.status for c in checks}),
                               windows, types, state["scanned"],
                               round(time.monotonic() - started, 3))
    if keep:
        store.put_documents(STATE, [{"_id": STATE_ID, **state}])
        store.put_documents(ASSESSMENTS, [{"_id": f"{at:013d}", **report.as_dict()}])
    return report


def latest_assessment(store: DocumentStore) -> dict[str, Any] | None:
    docs = store.get_documents(ASSESSMENTS)
    return max(docs, key=lambda d: d["_id"]) if docs else None
