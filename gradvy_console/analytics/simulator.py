"""Synthetic learners and their events, with the ground truth kept for evaluation.

Pure: `simulate(params)` depends only on its parameters (seed and end time included), so the
same seed gives the same data. Personas: committed, casual, crammer, dropout_prone, bot_like.
Each user has latent category preferences, a persona-specific rhythm, a dropout day where it
applies, and a consent profile. A configurable share of faulty payloads is planted (malformed,
duplicate, future-dated) and some search texts carry PII, so every ingestion path is exercised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .events import iso_from_ms

CATEGORIES = ("programming", "data_science", "design", "business", "languages", "mathematics",
              "marketing", "music")
DIFFICULTIES = ("beginner", "intermediate", "advanced")
CONTENT_TYPES = ("video", "article", "exercise", "podcast")
PERSONAS = ("committed", "casual", "crammer", "dropout_prone", "bot_like")
PERSONA_SHARE = np.array([0.30, 0.35, 0.15, 0.15, 0.05])
PERSONA_ACTIVITY = np.array([3.0, 1.0, 2.0, 1.5, 4.0])
SEARCH_WORDS = ("python", "statistics", "excel", "spanish", "guitar", "marketing", "figma",
                "calculus", "sql", "leadership", "photography", "javascript", "algebra", "seo")
FAULT_KINDS = ("malformed", "duplicate", "future", "bad_timestamp")
PREFERENCE_CONCENTRATION = 0.3   # each learner's category preferences ~ Dirichlet(0.3, ...)
DAY_MS = 86_400_000
# Events per learner per day, averaged over the personas' mix and rhythms: a population's
# realistic activity when no count is given (2,000 learners over 60 days: 150,000 events).
EVENTS_PER_LEARNER_DAY = 1.25


def realistic_count(users: int, days: int) -> int:
    """How many events `users` learners make over `days` days."""
    return max(1, round(users * days * EVENTS_PER_LEARNER_DAY))


@dataclass(frozen=True)
class SimParams:
    count: int = 10
    users: int = 100
    days: int = 30
    seed: int = 0
    end_ms: int = 0
    courses: int = 120
    fault_share: float = 0.02
    pii_share: float = 0.01
    no_consent_share: float = 0.05
    quality_faults: bool = False    # plant the data-quality faults of QUALITY_FAULTS too
    id_prefix: str = "sim"          # learner ids are PREFIX-u00001 ...


@dataclass
class Simulation:
    run_id: str
    courses: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)  # ground truth per user
    consents: dict[str, dict[str, bool]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # raw payloads, faults included
    faults: dict[str, int] = field(default_factory=dict)
    pii_planted: int = 0
    quality_faults: dict[str, Any] = field(default_factory=dict)


def run_id_of(params: SimParams) -> str:
    key = f"{params.seed}|{params.end_ms}|{params.users}|{params.days}|{params.count}"
    if params.id_prefix != "sim":
        key += f"|{params.id_prefix}"
    return hashlib.blake2b(key.encode(), digest_size=4).hexdigest()


def _catalogue(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    cats = rng.integers(0, len(CATEGORIES), size=n)
    diffs = rng.integers(0, len(DIFFICULTIES), size=n)
    popularity = rng.pareto(1.5, size=n) + 0.1
    return [
        {"_id": f"c{i:04d}", "course_id": f"c{i:04d}", "category": CATEGORIES[cats[i]],
         "difficulty": DIFFICULTIES[diffs[i]], "popularity": float(round(popularity[i], 4))}
        for i in range(n)
    ]


def simulate(params: SimParams) -> Simulation:
    """Generate a simulation. `params.count` is the exact number of payloads produced (with
    `quality_faults`, less the silenced events and plus the burst's)."""
    rng = np.random.default_rng(params.seed)
    run_id = run_id_of(params)
    sim = Simulation(run_id=run_id)
    n_users = max(1, params.users)
    days = max(1, params.days)
    start_ms = params.end_ms - days * DAY_MS
    sim.courses = _catalogue(rng, max(len(CATEGORIES), params.courses))
    by_category: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
    for course in sim.courses:
        by_category[course["category"]].append(course)
    pop = {c: np.array([x["popularity"] for x in by_category[c]]) for c in CATEGORIES}

    persona_idx = rng.choice(len(PERSONAS), size=n_users, p=PERSONA_SHARE)
    users: list[dict[str, Any]] = []
    for i in range(n_users):
        persona = PERSONAS[persona_idx[i]]
        prefs = rng.dirichlet(np.full(len(CATEGORIES), PREFERENCE_CONCENTRATION))
        dropout_day = None
        if persona == "dropout_prone" or (persona == "casual" and rng.random() < 0.25):
            dropout_day = int(rng.integers(max(1, days // 5), max(2, (days * 4) // 5)))
        skill = float(np.clip(rng.normal(0.72, 0.12), 0.2, 0.98))
        if persona == "dropout_prone":
            skill = float(np.clip(rng.normal(0.45, 0.1), 0.1, 0.9))
        consent_draw = rng.random()
        if consent_draw < params.no_consent_share:
            consent = {"analytics": False, "behavioral_analysis": False, "personalization": False}
        elif consent_draw < params.no_consent_share * 2:
            consent = {"analytics": True, "behavioral_analysis": False, "personalization": False}
        else:
            consent = {"analytics": True, "behavioral_analysis": True, "personalization": True}
        user_id = f"{params.id_prefix}-u{i:05d}"
        peak = int(rng.integers(6, 23))
        users.append({"_id": user_id, "user_id": user_id, "persona": persona,
                      "preferences": {c: float(round(p, 4)) for c, p in zip(CATEGORIES, prefs,
                                                                            strict=True)},
                      "dropout_day": dropout_day, "skill": round(skill, 4), "peak_hour": peak,
                      "planted_anomalies": [], "run_id": run_id})
        sim.consents[user_id] = consent
    sim.users = users

    faults_total = int(round(params.count * params.fault_share))
    valid_total = params.count - faults_total
    weights = PERSONA_ACTIVITY[persona_idx] * rng.gamma(2.0, 0.5, size=n_users)
    per_user = rng.multinomial(valid_total, weights / weights.sum())

    events: list[dict[str, Any]] = []
    seq = 0
    for i, user in enumerate(users):
        n = int(per_user[i])
        if n == 0:
            continue
        persona = user["persona"]
        last_day = user["dropout_day"] if user["dropout_day"] is not None else days
        last_day = max(1, min(days, last_day))
        if persona == "crammer":
            day_offsets = np.minimum(last_day - 1, (last_day * rng.beta(5, 1, size=n)).astype(int))
        else:
            day_offsets = rng.integers(0, last_day, size=n)
        if persona == "bot_like":
            burst_day = int(rng.integers(0, last_day))
            day_offsets[: max(1, n // 2)] = burst_day
            user["planted_anomalies"].append({"kind": "bot_like", "day": burst_day})
        hours = np.clip(rng.normal(user["peak_hour"], 2.5, size=n).round(), 0, 23).astype(int)
        if persona == "bot_like":
            hours = rng.integers(0, 24, size=n)
        seconds = rng.integers(0, 3600, size=n)
        stamps = start_ms + day_offsets * DAY_MS + hours * 3_600_000 + seconds * 1000
        stamps = np.minimum(stamps, params.end_ms - 1000)
        type_p = _type_mix(persona)
        types = rng.choice(len(_TYPES), size=n, p=type_p)
        prefs = np.array(list(user["preferences"].values()))
        prefs = prefs / prefs.sum()
        session = f"{user['user_id']}-s0"
        for j in range(n):
            ts = int(stamps[j])
            if j % 12 == 0:
                session = f"{user['user_id']}-s{ts // 1_800_000}"
            etype = _TYPES[types[j]]
            props = _properties(rng, etype, user, prefs, by_category, pop, persona)
            seq += 1
            events.append({"event_id": f"sim-{run_id}-{seq:07d}", "user_id": user["user_id"],
                           "event_type": etype, "timestamp": iso_from_ms(ts),
                           "session_id": session, "properties": props})

    planted_ids: set[str] = set()
    if params.quality_faults:
        stored = {u for u, c in sim.consents.items() if c.get("analytics")}
        sim.quality_faults = _plant_quality_faults(rng, events, users, params, run_id, seq,
                                                   stored, planted_ids)
        seq += sim.quality_faults.pop("_ids")
    # Each event is received (replayed) a few seconds after it happened, unless planted late.
    delays = rng.integers(1, 60, size=len(events))
    for event, delay in zip(events, delays, strict=True):
        if "received_at" not in event:
            event["received_at"] = iso_from_ms(min(params.end_ms, _ms(event) + int(delay) * 1000))

    # PII in search text: valid events that must be masked before storage.
    searches = [e for e in events if e["event_type"] == "search"]
    n_pii = min(len(searches), int(round(params.count * params.pii_share)))
    for e in searches[:n_pii]:
        e["properties"]["query"] = e["properties"]["query"] + " contact me at learner@example.com"
    sim.pii_planted = n_pii

    events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
    sim.faults = {k: 0 for k in FAULT_KINDS}
    for k in range(faults_total):
        kind = FAULT_KINDS[k % len(FAULT_KINDS)]
        sim.faults[kind] += 1
        if kind == "duplicate" and events:
            original = events[int(rng.integers(0, len(events)))]
            while original["event_id"] in planted_ids:   # a planted fault is counted once
                original = events[int(rng.integers(0, len(events)))]
            events.append(dict(original))
            continue
        seq += 1
        user = users[int(rng.integers(0, n_users))]
        bad: dict[str, Any] = {"event_id": f"sim-{run_id}-{seq:07d}",
                               "user_id": user["user_id"], "event_type": "learning_session",
                               "timestamp": iso_from_ms(params.end_ms - 60_000),
                               "properties": {"duration": 600, "completion_rate": 0.5},
                               "received_at": iso_from_ms(params.end_ms - 30_000)}
        if kind == "malformed" or (kind == "duplicate" and not events):
            del bad["user_id"]
        elif kind == "future":
            bad["timestamp"] = iso_from_ms(params.end_ms + 2 * DAY_MS)
        else:
            bad["timestamp"] = "yesterday afternoon"
        events.append(bad)
    sim.events = events
    return sim


QUALITY_FAULTS = ("silent", "burst", "new_property", "type_change", "late", "out_of_range")
SILENT_TYPE, BURST_TYPE = "link_click", "button_click"
SILENT_DAYS, BURST_FACTOR, LATE_DAYS = 3, 5, 5
NEW_KEY = "referrer"


def _ms(event: dict[str, Any]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(event["timestamp"]).timestamp() * 1000)


def _plant_quality_faults(rng: np.random.Generator, events: list[dict[str, Any]],
                          users: list[dict[str, Any]], params: SimParams, run_id: str,
                          seq: int, stored: set[str], planted_ids: set[str]) -> dict[str, Any]:
    """Plant the data-quality faults, in place, at known counts (UTC days by event time; the
    day `end_ms` falls in is partial and not counted):

    - silent: no `link_click` on the last `SILENT_DAYS` complete days (nor the partial one);
    - burst: `button_click` on the 10th complete day from the end at (1 + `BURST_FACTOR`) times
      its volume;
    - new_property: `course_interaction` events from the 8th complete day from the end on
      carry a property never sent before (`referrer`);
    - type_change: every 50th `form_submit` sends `page_url` as a number;
    - late: one event in a thousand, among those over `LATE_DAYS` + 1 days old, received
      `LATE_DAYS` days after it happened;
    - out_of_range: one quiz attempt in two thousand events scores above its question count
      (dead-lettered `out_of_range` by the normaliser).
    Event faults are planted only on events of learners whose consent lets their events be
    stored (`stored`: the others are never seen, only counted); their ids go into
    `planted_ids`. Returns the planted count of each kind (days for silent and burst, events
    otherwise)."""
    end_day = params.end_ms - params.end_ms % DAY_MS     # start of the partial day
    silent_from = end_day - SILENT_DAYS * DAY_MS
    burst_day = end_day - 10 * DAY_MS
    new_from = end_day - 8 * DAY_MS
    kept = [e for e in events if not (e["event_type"] == SILENT_TYPE and _ms(e) >= silent_from)]
    events[:] = kept
    stamps = [_ms(e) for e in events]
    burst = [e for e, ts in zip(events, stamps, strict=True)
             if e["event_type"] == BURST_TYPE and burst_day <= ts < burst_day + DAY_MS]
    extra = 0
    for _round in range(BURST_FACTOR):
        for e in burst:
            extra += 1
            user = users[int(rng.integers(0, len(users)))]["user_id"]
            ts = burst_day + int(rng.integers(0, DAY_MS))
            copy = {**e, "event_id": f"sim-{run_id}-q{seq + extra:07d}", "user_id": user,
                    "timestamp": iso_from_ms(ts), "session_id": f"{user}-s{ts // 1_800_000}"}
            copy["properties"] = dict(e["properties"])
            events.append(copy)
    new_property = type_change = late = 0
    forms_seen = 0
    for e, ts in zip(events, stamps, strict=False):
        if e["user_id"] not in stored:
            continue
        if e["event_type"] == "course_interaction" and ts >= new_from:
            e["properties"][NEW_KEY] = "newsletter"
            new_property += 1
            planted_ids.add(e["event_id"])
        if e["event_type"] == "form_submit":
            forms_seen += 1
            if forms_seen % 50 == 0:
                e["properties"]["page_url"] = 404
                type_change += 1
                planted_ids.add(e["event_id"])
    late_cut = params.end_ms - (LATE_DAYS + 1) * DAY_MS
    old = [e for e, ts in zip(events, stamps, strict=False)
           if ts < late_cut and e["user_id"] in stored and e["event_id"] not in planted_ids]
    for e in old[::1000]:
        e["received_at"] = iso_from_ms(_ms(e) + LATE_DAYS * DAY_MS)
        late += 1
        planted_ids.add(e["event_id"])
    quizzes = [e for e in events if e["event_type"] == "quiz_attempt"
               and "total_questions" in e["properties"] and e["event_id"] not in planted_ids]
    out_of_range = 0
    for e in quizzes[:max(1, len(events) // 2000)]:
        e["properties"]["score"] = e["properties"]["total_questions"] + 2
        out_of_range += 1
        planted_ids.add(e["event_id"])
    return {"silent": {SILENT_TYPE: SILENT_DAYS}, "burst": {BURST_TYPE: 1 if burst else 0},
            "new_property": {f"course_interaction.{NEW_KEY}": new_property},
            "type_change": {"form_submit.page_url": type_change},
            "late": late, "out_of_range": {"properties.score": out_of_range}, "_ids": extra}


_TYPES = ("course_interaction", "learning_session", "quiz_attempt", "search", "button_click",
          "link_click", "form_submit")


def _type_mix(persona: str) -> np.ndarray:
    mix = {
        "committed": [0.30, 0.25, 0.15, 0.10, 0.10, 0.06, 0.04],
        "casual": [0.35, 0.15, 0.08, 0.17, 0.12, 0.09, 0.04],
        "crammer": [0.20, 0.20, 0.30, 0.10, 0.10, 0.06, 0.04],
        "dropout_prone": [0.35, 0.15, 0.20, 0.12, 0.10, 0.05, 0.03],
        "bot_like": [0.70, 0.02, 0.10, 0.02, 0.10, 0.04, 0.02],
    }[persona]
    return np.array(mix) / sum(mix)


def _properties(rng: np.random.Generator, etype: str, user: dict[str, Any], prefs: np.ndarray,
                by_category: dict[str, list[dict[str, Any]]], pop: dict[str, np.ndarray],
                persona: str) -> dict[str, Any]:
    category = CATEGORIES[int(rng.choice(len(CATEGORIES), p=prefs))]
    courses = by_category[category] or [c for cs in by_category.values() for c in cs]
    weights = pop[category] if by_category[category] else np.ones(len(courses))
    course = courses[int(rng.choice(len(courses), p=weights / weights.sum()))]
    if etype == "course_interaction":
        action = str(rng.choice(["view", "view", "view", "enroll", "start", "complete",
                                 "bookmark"]))
        return {"course_id": course["course_id"], "action": action,
                "duration": int(rng.integers(5, 600)), "course_category": category}
    if etype == "learning_session":
        duration = float(rng.gamma(3.0, 400.0 if persona != "casual" else 200.0))
        completion = float(np.clip(rng.beta(5, 2) if persona == "committed" else rng.beta(2, 2),
                                   0, 1))
        props: dict[str, Any] = {"course_id": course["course_id"],
                                 "content_type": str(rng.choice(CONTENT_TYPES))}
        # Mixed client units on purpose: the pipeline must normalise them.
        if rng.random() < 0.3:
            props["duration_ms"] = int(duration * 1000)
        else:
            props["duration"] = round(duration, 1)
        props["completion_rate"] = round(completion * 100, 1) if rng.random() < 0.3 else round(
            completion, 3)
        return props
    if etype == "quiz_attempt":
        total = int(rng.integers(5, 21))
        score = int(rng.binomial(total, user["skill"]))
        time_taken = float(rng.gamma(4.0, 15.0) * total / 10)
        if persona == "bot_like":
            time_taken = float(rng.uniform(0.5, 3.0))
        if rng.random() < 0.2:
            return {"course_id": course["course_id"], "questions_total": total,
                    "questions_correct": score, "time_taken": round(time_taken, 1),
                    "course_category": category}
        return {"course_id": course["course_id"], "total_questions": total, "score": score,
                "time_taken": round(time_taken, 1), "course_category": category}
    if etype == "search":
        words = rng.choice(SEARCH_WORDS, size=int(rng.integers(1, 3)), replace=False)
        return {"query": " ".join(str(w) for w in words), "results_count": int(rng.poisson(6)),
                "filters": {"category": category} if rng.random() < 0.3 else {}}
    element = f"{etype.split('_')[0]}-{int(rng.integers(0, 25))}"
    return {"element_id": element, "page_url": f"/courses/{course['course_id']}"}
