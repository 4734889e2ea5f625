"""The real-time profile model (see docs/scoring.md).

A profile is stored as an *accumulator*: integer counts and integer micro-unit sums, bucketed by
UTC day number (days since 1970-01-01). Folding events into an accumulator is plain integer
addition plus min/max, so it is associative and commutative: per-event and batch processing, in
any order, give the same accumulator bit for bit. The store only ever adds a batch's delta
(MongoDB: `$inc`, `$min`, `$max`), so concurrent workers never race.

Scores are derived when read (`profile_view`), with exponential time decay by day and a
configurable half-life, relative to a reference day (the user's last active day unless given).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .events import UI_TYPES, Event

MICRO = 1_000_000
DAY_MS = 86_400_000

Acc = dict[str, Any]


@dataclass(frozen=True)
class ScoringModel:
    """The weights and decay of the profile model; `[scoring]` in config.toml."""

    half_life_days: float = 14.0
    view: float = 0.01
    enroll: float = 0.05
    session_bonus: float = 0.03
    session_bonus_completion: float = 0.8
    session_bonus_seconds: float = 300.0
    search_hit: float = 0.005
    ui_click: float = 0.001
    quiz_low_ratio: float = 0.5
    quiz_low_risk: float = 0.05
    quiz_high_ratio: float = 0.8
    quiz_high_risk: float = -0.02
    risk_base: float = 0.0


_KEY_CACHE: dict[str, str] = {}
_HOURS = tuple(str(h) for h in range(24))
_DAY_KEYS: dict[int, str] = {}


def field_key(text: str) -> str:
    """A string safe as a document field name (MongoDB forbids '.' and a leading '$')."""
    key = _KEY_CACHE.get(text)
    if key is None:
        key = text.strip().lower()[:64].replace(".", "_").replace("$", "_") or "_"
        if len(_KEY_CACHE) < 50_000:
            _KEY_CACHE[text] = key
    return key


def _day_key(ts: int) -> str:
    day = ts // DAY_MS
    key = _DAY_KEYS.get(day)
    if key is None:
        key = _DAY_KEYS[day] = str(day)
    return key


def _add(table: dict[str, int], key: str, amount: int) -> None:
    table[key] = table.get(key, 0) + amount


def _micro(value: float) -> int:
    return int(round(value * MICRO))


def fold_event(acc: Acc, event: Event, model: ScoringModel) -> None:
    """Add one event's contribution to `acc` in place."""
    props = event.properties
    etype = event.event_type
    ts = event.ts
    day = _day_key(ts)
    table = acc.get("n")
    if table is None:
        table = acc["n"] = {}
    key = field_key(etype)
    table[key] = table.get(key, 0) + 1
    table = acc.get("day")
    if table is None:
        table = acc["day"] = {}
    table[day] = table.get(day, 0) + 1
    table = acc.get("hour")
    if table is None:
        table = acc["hour"] = {}
    hour = _HOURS[(ts // 3_600_000) % 24]
    table[hour] = table.get(hour, 0) + 1
    first = acc.get("first")
    if first is None or ts < first:
        acc["first"] = ts
    last = acc.get("last")
    if last is None or ts > last:
        acc["last"] = ts

    engagement = 0.0
    if etype == "course_interaction":
        action = props.get("action")
        if action == "view":
            engagement = model.view
        elif action == "enroll":
            engagement = model.enroll
            category = props.get("course_category")
            if isinstance(category, str) and category:
                _add(acc.setdefault("cat", {}), field_key(category), 1)
    elif etype == "learning_session":
        duration = props.get("duration")
        completion = props.get("completion_rate")
        if isinstance(duration, float | int) and isinstance(completion, float | int):
            if duration > 0:
                velocity = completion / (duration / 60.0)
                _add(acc.setdefault("vel", {}), day, _micro(velocity))
                _add(acc.setdefault("veln", {}), day, 1)
            if (completion > model.session_bonus_completion
                    and duration > model.session_bonus_seconds):
                engagement = model.session_bonus
        content_type = props.get("content_type")
        if isinstance(content_type, str) and content_type:
            _add(acc.setdefault("ctype", {}), field_key(content_type), 1)
    elif etype == "quiz_attempt":
        score = props.get("score")
        total = props.get("total_questions")
        if isinstance(score, float | int) and isinstance(total, float | int) and total > 0:
            ratio = score / total
            risk = 0.0
            if ratio < model.quiz_low_ratio:
                risk = model.quiz_low_risk
            elif ratio > model.quiz_high_ratio:
                risk = model.quiz_high_risk
            if risk:
                _add(acc.setdefault("risk", {}), day, _micro(risk))
            quiz = acc.setdefault("quiz", {})
            _add(quiz, "n", 1)
            _add(quiz, "ratio", _micro(ratio))
    elif etype == "search":
        search = acc.setdefault("srch", {})
        _add(search, "n", 1)
        count = props.get("results_count")
        if isinstance(count, float | int):
            if count > 0:
                engagement = model.search_hit
            else:
                _add(search, "zero", 1)
        query = props.get("query")
        if isinstance(query, str):
            terms = acc.setdefault("term", {})
            for term in query.lower().split()[:8]:
                if len(term) > 2 and "[" not in term:
                    _add(terms, field_key(term), 1)
    elif etype in UI_TYPES:
        engagement = model.ui_click
        element = props.get("element_id")
        if isinstance(element, str) and element:
            _add(acc.setdefault("ui", {}), field_key(element), 1)
    if engagement:
        _add(acc.setdefault("eng", {}), day, _micro(engagement))


def accumulate(events: Iterable[Event], model: ScoringModel) -> dict[str, Acc]:
    """Fold events into one delta accumulator per user."""
    deltas: dict[str, Acc] = {}
    for event in events:
        acc = deltas.get(event.user_id)
        if acc is None:
            acc = deltas[event.user_id] = {}
        fold_event(acc, event, model)
    return deltas


def merge(into: Acc, delta: Acc) -> Acc:
    """Add `delta` to `into` in place (sums for counters, min for first, max for last)."""
    for key, value in delta.items():
        if key == "first":
            current = into.get("first")
            into["first"] = value if current is None else min(current, value)
        elif key == "last":
            current = into.get("last")
            into["last"] = value if current is None else max(current, value)
        elif isinstance(value, dict):
            table = into.setdefault(key, {})
            for sub, amount in value.items():
                table[sub] = table.get(sub, 0) + amount
        else:
            into[key] = into.get(key, 0) + value
    return into


def mongo_update(delta: Acc, prefix: str = "acc") -> dict[str, dict[str, Any]]:
    """The MongoDB update document that adds `delta` atomically."""
    inc: dict[str, Any] = {}
    update: dict[str, dict[str, Any]] = {}
    for key, value in delta.items():
        if key == "first":
            update.setdefault("$min", {})[f"{prefix}.first"] = value
        elif key == "last":
            update.setdefault("$max", {})[f"{prefix}.last"] = value
        elif isinstance(value, dict):
            for sub, amount in value.items():
                inc[f"{prefix}.{key}.{sub}"] = amount
        else:
            inc[f"{prefix}.{key}"] = value
    if inc:
        update["$inc"] = inc
    return update


def _decayed(table: dict[str, int], ref_day: int, half_life: float) -> float:
    total = 0.0
    for day, amount in table.items():
        age = ref_day - int(day)
        total += amount * 2.0 ** (-max(age, 0) / half_life)
    return total


def _top(table: dict[str, int], n: int) -> list[str]:
    return [k for k, _ in sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def clip01(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def engagement_score(acc: Acc, model: ScoringModel, ref_day: int) -> float:
    """Sum of decayed per-event engagement weights, capped to [0, 1]."""
    return clip01(_decayed(acc.get("eng", {}), ref_day, model.half_life_days) / MICRO)


def quiz_signal(acc: Acc, model: ScoringModel, ref_day: int) -> float:
    """The streaming quiz signal (the guide's per-event quiz rule): `risk_base` plus decayed
    quiz deltas, capped to [0, 1]. Not the dropout risk: that is the analysis's (the model's,
    or this rule's vectorised twin `dropout.rule_risk` before a model exists)."""
    risk = _decayed(acc.get("risk", {}), ref_day, model.half_life_days) / MICRO
    return clip01(model.risk_base + risk)


def learning_velocity(acc: Acc, model: ScoringModel, ref_day: int) -> float:
    """Decay-weighted mean of per-session completion fraction per minute."""
    weight = _decayed(acc.get("veln", {}), ref_day, model.half_life_days)
    if weight <= 0:
        return 0.0
    return _decayed(acc.get("vel", {}), ref_day, model.half_life_days) / MICRO / weight


def profile_view(acc: Acc, model: ScoringModel, as_of_ms: int | None = None) -> dict[str, Any]:
    """The readable profile derived from an accumulator. Scores are in [0, 1]; velocity is
    completion fraction per minute; times are epoch ms."""
    last = acc.get("last")
    if last is None:
        return {"events": 0}
    ref_day = (as_of_ms if as_of_ms is not None else last) // DAY_MS
    search = acc.get("srch", {})
    volume = search.get("n", 0)
    quiz = acc.get("quiz", {})
    counts = acc.get("n", {})
    return {
        "events": sum(counts.values()),
        "engagement_score": round(engagement_score(acc, model, ref_day), 6),
        "learning_velocity": round(learning_velocity(acc, model, ref_day), 6),
        "quiz_signal": round(quiz_signal(acc, model, ref_day), 6),
        "enrolled_categories": _top(acc.get("cat", {}), 5),
        "content_types": _top(acc.get("ctype", {}), 5),
        "peak_hours": [int(h) for h in _top(acc.get("hour", {}), 3)],
        "search": {
            "volume": volume,
            "zero_result_rate": round(search.get("zero", 0) / volume, 4) if volume else 0.0,
            "top_terms": _top(acc.get("term", {}), 5),
        },
        "ui_interactions": {k: v for k, v in counts.items() if k in UI_TYPES},
        "ui_elements": dict(sorted(acc.get("ui", {}).items(), key=lambda kv: -kv[1])[:10]),
        "counts_by_type": dict(counts),
        "quiz_average": (round(quiz.get("ratio", 0) / MICRO / quiz["n"], 4)
                         if quiz.get("n") else None),
        "first_seen": acc.get("first"),
        "last_seen": last,
        "active_days": len(acc.get("day", {})),
    }
