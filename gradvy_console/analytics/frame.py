"""Stored events as columns (numpy arrays), the input of every insight computation.

One pass over the events builds integer-coded columns; everything after that is vectorised.
Units are the normalised ones (seconds, completion 0-1, quiz ratio 0-1). No I/O here: the
caller passes an iterable of event dicts as the store returns them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

EVENT_TYPES = ("course_interaction", "learning_session", "quiz_attempt", "search",
               "button_click", "link_click", "form_submit")
OTHER_TYPE = len(EVENT_TYPES)
ACTIONS = ("", "view", "enroll", "start", "complete", "bookmark")
ACTION_CODE = {a: i for i, a in enumerate(ACTIONS)}
DAY_MS = 86_400_000
COURSE_PAGE = "/courses/"       # a page URL that names a course: /courses/ID


@dataclass
class EventFrame:
    users: list[str]              # user index -> user id
    courses: list[str]            # course index -> course id
    categories: list[str]         # category index -> name
    user: np.ndarray              # int32 per event
    etype: np.ndarray             # int8, index into EVENT_TYPES (OTHER_TYPE for the rest)
    ts: np.ndarray                # int64 epoch ms
    course: np.ndarray            # int32, -1 when none
    category: np.ndarray          # int16, -1 when none
    action: np.ndarray            # int8, index into ACTIONS (0: none)
    ratio: np.ndarray             # float32: quiz score ratio or session completion, NaN if none
    seconds: np.ndarray           # float32: session duration or quiz time taken, NaN if none
    questions: np.ndarray         # int16: quiz questions, 0 if none
    results: np.ndarray           # int32: search results_count, -1 if none
    course_category: dict[int, int]  # course index -> category index, where known

    @property
    def n_users(self) -> int:
        return len(self.users)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def select(self, mask: np.ndarray) -> EventFrame:
        """The events where `mask` holds (same user, course and category indexes)."""
        return EventFrame(self.users, self.courses, self.categories, self.user[mask],
                          self.etype[mask], self.ts[mask], self.course[mask],
                          self.category[mask], self.action[mask], self.ratio[mask],
                          self.seconds[mask], self.questions[mask], self.results[mask],
                          self.course_category)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def build_frame(events: Iterable[dict[str, Any]],
                catalogue: Iterable[dict[str, Any]] = ()) -> EventFrame:
    """Columns from event dicts {user_id, event_type, ts, properties}. `catalogue` (course
    documents with course_id and category) fills in categories events do not carry."""
    type_code = {t: i for i, t in enumerate(EVENT_TYPES)}
    user_ix: dict[str, int] = {}
    course_ix: dict[str, int] = {}
    cat_ix: dict[str, int] = {}
    course_category: dict[int, int] = {}
    for doc in catalogue:
        cid, cat = doc.get("course_id"), doc.get("category")
        if isinstance(cid, str) and isinstance(cat, str):
            c = course_ix.setdefault(cid, len(course_ix))
            course_category[c] = cat_ix.setdefault(cat, len(cat_ix))
    cols: dict[str, list[Any]] = {k: [] for k in ("user", "etype", "ts", "course", "category",
                                                  "action", "ratio", "seconds", "questions",
                                                  "results")}
    nan = float("nan")
    for e in events:
        props = e.get("properties") or {}
        et = type_code.get(e["event_type"], OTHER_TYPE)
        cid = props.get("course_id")
        if cid is None and et >= 4:      # a click on a course's page names the course
            url = props.get("page_url")
            if isinstance(url, str) and url.startswith(COURSE_PAGE):
                cid = url[len(COURSE_PAGE):].split("/", 1)[0].split("?", 1)[0] or None
        c = course_ix.setdefault(cid, len(course_ix)) if isinstance(cid, str) else -1
        cat = props.get("course_category")
        if cat is None and et == 3:      # a search filtered to a category names it
            filters = props.get("filters")
            cat = filters.get("category") if isinstance(filters, dict) else None
        k = cat_ix.setdefault(cat, len(cat_ix)) if isinstance(cat, str) else -1
        if c >= 0 and k >= 0:
            course_category.setdefault(c, k)
        ratio = seconds = nan
        questions = 0
        results = -1
        if et == 2:  # quiz_attempt
            total = _num(props.get("total_questions"))
            score = _num(props.get("score"))
            if total and score is not None:
                ratio, questions = score / total, int(total)
            seconds = _num(props.get("time_taken")) or nan
        elif et == 1:  # learning_session
            completion = _num(props.get("completion_rate"))
            ratio = completion if completion is not None else nan
            duration = _num(props.get("duration"))
            if duration is None and _num(props.get("duration_ms")) is not None:
                duration = float(props["duration_ms"]) / 1000
            seconds = duration if duration is not None else nan
        elif et == 3:  # search
            count = _num(props.get("results_count"))
            results = int(count) if count is not None else -1
        cols["user"].append(user_ix.setdefault(e["user_id"], len(user_ix)))
        cols["etype"].append(et)
        cols["ts"].append(e["ts"])
        cols["course"].append(c)
        cols["category"].append(k)
        cols["action"].append(ACTION_CODE.get(props.get("action", ""), 0) if et == 0 else 0)
        cols["ratio"].append(ratio if ratio is not None else nan)
        cols["seconds"].append(seconds)
        cols["questions"].append(questions)
        cols["results"].append(results)
    return EventFrame(
        users=list(user_ix), courses=list(course_ix), categories=list(cat_ix),
        user=np.asarray(cols["user"], dtype=np.int32),
        etype=np.asarray(cols["etype"], dtype=np.int8),
        ts=np.asarray(cols["ts"], dtype=np.int64),
        course=np.asarray(cols["course"], dtype=np.int32),
        category=np.asarray(cols["category"], dtype=np.int16),
        action=np.asarray(cols["action"], dtype=np.int8),
        ratio=np.asarray(cols["ratio"], dtype=np.float32),
        seconds=np.asarray(cols["seconds"], dtype=np.float32),
        questions=np.asarray(cols["questions"], dtype=np.int16),
        results=np.asarray(cols["results"], dtype=np.int32),
        course_category=course_category,
    )
