"""Data quality: running aggregates over stored events and the checks read from them. Pure: no
I/O, time passed in; the state is a JSON-able dict the caller keeps between runs, so a run
folds only the events stored since the last one (`fold`).

Rules, written down once:

- **Late**: an event whose time is more than `late_hours` before its receipt (Snowplow's
  rule, 3 days by default). The receipt is the collector's stamp (`received_at`, set by the
  collector on every event it takes; a trusted replay such as the simulator sets its own),
  else when the event was stored.
- **Volume**: per event type per UTC day by event time, against the median of the 14 days
  before it (Elementary's training window; at least 7 of them with data). A day is flagged
  when it is half the median or less (a drop), or twice it or more (a burst), *and* more than
  4 robust z-scores away (z = (actual - median) / (1.4826 * MAD), MAD floored at sqrt(median),
  the Poisson noise of such a count): either alone fires on noise or on big types' small
  drifts. Mixpanel's band is +-50 %; +50 % fires on the simulator's own end-of-period surge
  (crammers study most in the last days) in 5 of 14 clean 60-day runs, so a burst must double.
  A day with no event of a type whose median is at least 10 is *silent*. Hourly counts are
  too small on a platform this size (10 an hour swings by a third on chance alone), so days
  are judged, not hours.
- **Schema**: a property key is *new* while its first event time is within 30 days of the
  watermark (the newest event time stored, never later than its receipt: "now" in event time,
  so a replayed history judges its own days) and more than a day after its type's first
  event (a key present from the start is the schema, not a change). A key whose values come
  in more than one kind (number, string, boolean, object, list) has a *type change*; its
  minority kinds are counted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
NEW_FOR_MS = 30 * DAY_MS
TRAINING_DAYS = 14
MIN_TRAINING_DAYS = 7
VOLUME_BAND = 0.5           # a drop: half the expected volume or less
BURST_BAND = 1.0            # a burst: twice the expected volume or more
VOLUME_Z = 4.0
SILENT_MIN_EXPECTED = 10.0
KEEP_DAYS = 120             # daily volumes kept per type
SESSION_KEEP_MS = 2 * DAY_MS
# Bounds on what a client can make the aggregates hold (property keys and event types are
# theirs to choose): past them, new names are counted together under OTHER.
MAX_TYPES = 200
MAX_KEYS = 5_000
MAX_IDS = 5_000       # unknown course ids and shared session ids listed
OTHER = "(other)"

# Properties every event of a type must carry after normalisation.
REQUIRED: dict[str, tuple[str, ...]] = {
    "course_interaction": ("course_id", "action"),
    "learning_session": ("course_id", "duration"),
    "quiz_attempt": ("course_id", "score", "total_questions"),
    "search": ("query",),
    "button_click": ("element_id",),
    "link_click": ("element_id",),
    "form_submit": ("element_id",),
}


def empty_state() -> dict[str, Any]:
    return {"cursor": None, "scanned": 0, "watermark_ms": 0, "types": {}, "props": {},
            "daily": {}, "missing": {}, "late": {}, "late_total": 0, "unknown_courses": {},
            "sessions": {}, "shared_sessions": {}, "hourly": {}}


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return "null"


def day_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


_KINDS = {bool: "boolean", int: "number", float: "number", str: "string", dict: "object",
          list: "list", type(None): "null"}
_DAY_NAMES: dict[int, str] = {}


def _day_name(ts_ms: int) -> str:
    number = ts_ms // DAY_MS
    name = _DAY_NAMES.get(number)
    if name is None:
        name = _DAY_NAMES[number] = day_of(number * DAY_MS)
    return name


def fold(state: dict[str, Any], events: Iterable[dict[str, Any]], late_ms: int,
         courses: set[str] | None = None) -> int:
    """Add stored events (in the order they were stored: {event_id, user_id, event_type, ts,
    session_id, properties, ingested_ms, received_ms}) to the running aggregates. Returns how
    many."""
    types, props, daily = state["types"], state["props"], state["daily"]
    missing, late, unknown = state["missing"], state["late"], state["unknown_courses"]
    sessions, shared, hourly = state["sessions"], state["shared_sessions"], state["hourly"]
    watermark = state["watermark_ms"]
    kinds_of = _KINDS
    names: dict[tuple[str, str], str] = {}
    n = late_total = 0
    for event in events:
        n += 1
        etype, ts = event["event_type"], int(event["ts"])
        received = int(event.get("received_ms") or event["ingested_ms"])
        info = types.get(etype)
        if info is None and len(types) >= MAX_TYPES:
            etype = OTHER
            info = types.get(etype)
        if info is None:
            info = types[etype] = {"count": 0, "first_ts": ts, "last_ts": ts,
                                   "first_received": received, "newest_received": received}
        info["count"] += 1
        if ts < info["first_ts"]:
            info["first_ts"] = ts
        if ts > info["last_ts"]:
            info["last_ts"] = ts
        if received > info["newest_received"]:
            info["newest_received"] = received
        day = _day_name(ts)
        per_day = daily.get(etype)
        if per_day is None:
            per_day = daily[etype] = {}
        per_day[day] = per_day.get(day, 0) + 1
        hour = str(received - received % HOUR_MS)
        bucket = hourly.get(hour)
        if bucket is None:
            bucket = hourly[hour] = {"stored": 0, "late": 0}
        bucket["stored"] += 1
        if received - ts > late_ms:
            late[etype] = late.get(etype, 0) + 1
            late_total += 1
            bucket["late"] += 1
        seen_at = ts if ts < received else received
        if seen_at > watermark:
            watermark = seen_at
        properties = event.get("properties") or {}
        for key, value in properties.items():
            name = names.get((etype, key))
            if name is None:
                name = names[(etype, key)] = f"{etype}|{key}"
            seen = props.get(name)
            if seen is None and len(props) >= MAX_KEYS:
                name = f"{etype}|{OTHER}"
                seen = props.get(name)
            if seen is None:
                seen = props[name] = {"count": 0, "first_ts": ts, "last_ts": ts, "kinds": {}}
            seen["count"] += 1
            if ts < seen["first_ts"]:
                seen["first_ts"] = ts
            if ts > seen["last_ts"]:
                seen["last_ts"] = ts
            kind = kinds_of.get(type(value)) or kind_of(value)
            tally = seen["kinds"]
            tally[kind] = tally.get(kind, 0) + 1
        for key in REQUIRED.get(etype, ()):
            if properties.get(key) is None:
                gaps = missing.setdefault(etype, {})
                gaps[key] = gaps.get(key, 0) + 1
        course = properties.get("course_id")
        if courses and course is not None and course not in courses and isinstance(course, str):
            if course not in unknown and len(unknown) >= MAX_IDS:
                course = OTHER
            unknown[course] = unknown.get(course, 0) + 1
        session = event.get("session_id")
        if session:
            owner = sessions.get(session)
            user = event["user_id"]
            if owner is None:
                sessions[session] = [user, ts]
            else:
                if owner[0] != user and (session in shared or len(shared) < MAX_IDS):
                    users = shared.setdefault(session, [owner[0]])
                    if user not in users and len(users) < 50:
                        users.append(user)
                if ts > owner[1]:
                    owner[1] = ts
    state["watermark_ms"] = watermark
    state["late_total"] += late_total
    state["scanned"] += n
    return n


def prune(state: dict[str, Any], now_ms: int) -> None:
    """Keep the aggregates bounded: daily volumes for `KEEP_DAYS`, receipt hours for two days,
    sessions seen in the last two days of event time."""
    oldest_day = day_of(now_ms - KEEP_DAYS * DAY_MS)
    for per_day in state["daily"].values():
        for day in [d for d in per_day if d < oldest_day]:
            del per_day[day]
    for hour in [h for h in state["hourly"] if int(h) < now_ms - 2 * DAY_MS]:
        del state["hourly"][hour]
    horizon = state["watermark_ms"] - SESSION_KEEP_MS
    sessions = state["sessions"]
    for session in [s for s, (_u, ts) in sessions.items() if ts < horizon]:
        del sessions[session]


def _days_between(first: str, last: str) -> list[str]:
    start = datetime.strptime(first, "%Y-%m-%d").replace(tzinfo=UTC)
    end = datetime.strptime(last, "%Y-%m-%d").replace(tzinfo=UTC)
    out = []
    while start <= end:
        out.append(start.strftime("%Y-%m-%d"))
        start = datetime.fromtimestamp(start.timestamp() + 86_400, tz=UTC)
    return out


def expected_volume(history: list[int]) -> tuple[float, float] | None:
    """(median, robust spread) of the training days' counts, or None with too few days."""
    if len(history) < MIN_TRAINING_DAYS:
        return None
    median = float(statistics.median(history))
    mad = float(statistics.median([abs(x - median) for x in history]))
    spread = max(1.4826 * mad, median ** 0.5, 1.0)
    return median, spread


def volume_anomalies(daily: dict[str, dict[str, int]], first_day: str, last_day: str,
                     only_from: str | None = None) -> list[dict[str, Any]]:
    """Days of each type off their expected volume (see the module's rule), from `first_day`
    to `last_day` (complete days only); with `only_from`, only days from that one on are
    judged (the detection window) while the days before still train."""
    days = _days_between(first_day, last_day) if first_day <= last_day else []
    flagged: list[dict[str, Any]] = []
    for etype in sorted(daily):
        counts = daily[etype]
        started = min(counts) if counts else last_day
        for i, day in enumerate(days):
            if day < started or (only_from is not None and day < only_from):
                continue
            history = [counts.get(d, 0) for d in days[max(0, i - TRAINING_DAYS):i]
                       if d >= started]
            expected = expected_volume(history)
            if expected is None:
                continue
            median, spread = expected
            actual = counts.get(day, 0)
            if actual == 0 and median >= SILENT_MIN_EXPECTED:
                flagged.append({"event_type": etype, "day": day, "kind": "silent",
                                "actual": 0, "expected": median})
                continue
            z = (actual - median) / spread
            off_band = (actual >= median * (1 + BURST_BAND) if actual > median
                        else actual <= median * (1 - VOLUME_BAND))
            if median > 0 and off_band and abs(z) > VOLUME_Z:
                flagged.append({"event_type": etype, "day": day,
                                "kind": "burst" if actual > median else "drop",
                                "actual": actual, "expected": median, "z": round(z, 1)})
    return flagged


def new_keys(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Property keys that are new (see the module's rule), newest first."""
    watermark = state["watermark_ms"]
    out = []
    for name, seen in state["props"].items():
        etype, _, key = name.partition("|")
        type_first = state["types"].get(etype, {}).get("first_ts", seen["first_ts"])
        if seen["first_ts"] - type_first > DAY_MS and watermark - seen["first_ts"] <= NEW_FOR_MS:
            out.append({"event_type": etype, "key": key, "count": seen["count"],
                        "first_seen": seen["first_ts"], "last_seen": seen["last_ts"]})
    return sorted(out, key=lambda k: (-k["first_seen"], k["event_type"], k["key"]))


def new_types(state: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
    """Event types first stored within the last 30 days (by receipt)."""
    return sorted(({"event_type": t, "count": i["count"], "first_stored": i["first_received"]}
                   for t, i in state["types"].items()
                   if now_ms - i["first_received"] <= NEW_FOR_MS),
                  key=lambda t: t["event_type"])


def type_changes(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys whose values come in more than one kind (nulls aside): the usual kind and how many
    values were of another."""
    out = []
    for name, seen in sorted(state["props"].items()):
        kinds = {k: n for k, n in seen["kinds"].items() if k != "null"}
        if len(kinds) > 1:
            usual = max(kinds, key=lambda k: (kinds[k], k))
            etype, _, key = name.partition("|")
            out.append({"event_type": etype, "key": key, "usual": usual, "kinds": kinds,
                        "other": sum(n for k, n in kinds.items() if k != usual)})
    return out


def window_counts(snapshots: list[dict[str, Any]], counters: dict[str, int], now_ms: int,
                  span_ms: int) -> dict[str, int]:
    """The counters' growth over the last `span_ms`: now minus the newest snapshot at least
    that old. With none that old (the first assessments), everything counted so far is taken
    as inside the window: it is the best estimate, and never hides what happened."""
    base: dict[str, int] = {}
    for snap in sorted(snapshots, key=lambda s: s["at_ms"]):
        if snap["at_ms"] <= now_ms - span_ms:
            base = snap["counters"]
    return {k: v - base.get(k, 0) for k, v in counters.items() if v - base.get(k, 0)}


# --- the score -------------------------------------------------------------------------------
# Weights of the checks in the score (0-100): pass counts fully, warn half, fail nothing.
WEIGHTS: dict[str, float] = {
    "dead_letters": 3.0, "duplicates": 1.0, "timeliness": 2.0, "freshness": 1.0,
    "volume": 3.0, "schema": 2.0, "required": 2.0, "ranges": 2.0, "references": 2.0,
    "stale_learners": 1.0, "extremes": 1.0, "profiles": 1.0, "consistency": 3.0,
}
STATUS_VALUE = {"pass": 1.0, "warn": 0.5, "fail": 0.0}


def score(statuses: dict[str, str]) -> int:
    """100 x the weighted mean of the checks' values (a check not run does not count)."""
    weighted = [(WEIGHTS.get(name, 1.0), STATUS_VALUE[status])
                for name, status in statuses.items() if status in STATUS_VALUE]
    total = sum(w for w, _ in weighted)
    return round(100 * sum(w * v for w, v in weighted) / total) if total else 100
