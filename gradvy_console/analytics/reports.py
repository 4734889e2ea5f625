"""Report figures: pure functions over stored events ({user_id, event_type, ts, properties}),
time and the reporting time zone passed in. Every figure about learners counts distinct
learners; a breakdown cell about fewer than `min_cell` learners is suppressed (None) and listed
in `suppressed`, and no output holds a learner id.

Definitions (PostHog's lenses, by local calendar day in the report's time zone):

- active on a day: at least one event that day. DAU, WAU (the 7 days ending that day), MAU
  (the 30 days ending that day); stickiness = mean DAU over the period / MAU on its last day.
- lifecycle of a day, for the learners active that day or the day before: *new* (first
  active ever that day), *returning* (active that day and the day before), *resurrecting*
  (active that day, not the day before, active some day before that), *dormant* (active the
  day before, not that day).
- retention: learners first seen in a week (Monday-based) form a cohort; cell k is the share
  of the cohort active in the k-th week after (week 0 is 100 % by definition).
- funnel per course and per category: learners who viewed, enrolled, started, completed
  (`course_interaction` actions), each step counting only learners who also did the one
  before; conversion = step / previous step.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

FUNNEL = ("view", "enroll", "start", "complete")


def local_day(ts_ms: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, tz=zone).date()


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class Suppressor:
    """Cells about fewer than `min_cell` learners become None; each is listed by name."""

    def __init__(self, min_cell: int) -> None:
        self.min_cell = min_cell
        self.suppressed: list[str] = []

    def count(self, name: str, learners: int) -> int | None:
        if 0 < learners < self.min_cell:
            self.suppressed.append(name)
            return None
        return learners

    def share(self, name: str, part: int, whole: int) -> float | None:
        if whole < self.min_cell or 0 < part < self.min_cell:
            if whole:
                self.suppressed.append(name)
            return None
        return round(part / whole, 4) if whole else None


def activity(days_active: dict[str, set[date]], first: date, last: date,
             cells: Suppressor) -> dict[str, Any]:
    """Daily, weekly and monthly active learners, stickiness and lifecycle per day.
    `days_active`: each learner's active local days (all history up to `last`)."""
    by_day: dict[date, set[str]] = defaultdict(set)
    first_day: dict[str, date] = {}
    for user, days in days_active.items():
        for d in days:
            by_day[d].add(user)
        if days:
            first_day[user] = min(days)
    rows: list[dict[str, Any]] = []
    dau: list[int] = []
    for d in days_of(first, last):
        week = set().union(*(by_day.get(d - timedelta(days=i), set()) for i in range(7)))
        month = set().union(*(by_day.get(d - timedelta(days=i), set()) for i in range(30)))
        today, yesterday = by_day.get(d, set()), by_day.get(d - timedelta(days=1), set())
        new = {u for u in today if first_day[u] == d}
        returning = today & yesterday
        resurrecting = today - yesterday - new
        dormant = yesterday - today
        dau.append(len(today))
        rows.append({"day": d.isoformat(), "dau": len(today), "wau": len(week),
                     "mau": len(month),
                     "new": cells.count(f"lifecycle.{d}.new", len(new)),
                     "returning": cells.count(f"lifecycle.{d}.returning", len(returning)),
                     "resurrecting": cells.count(f"lifecycle.{d}.resurrecting",
                                                 len(resurrecting)),
                     "dormant": cells.count(f"lifecycle.{d}.dormant", len(dormant))})
    mean_dau = sum(dau) / len(dau) if dau else 0.0
    mau = int(rows[-1]["mau"]) if rows else 0
    return {"days": rows, "stickiness": round(mean_dau / mau, 4) if mau else None,
            "active_learners": len({u for d in days_of(first, last) for u in by_day.get(d, ())})}


def events_per_type(events: Iterable[dict[str, Any]], zone: ZoneInfo) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events:
        out[e["event_type"]][local_day(e["ts"], zone).isoformat()] += 1
    return {t: dict(sorted(c.items())) for t, c in sorted(out.items())}


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def retention(days_active: dict[str, set[date]], last: date, weeks: int,
              cells: Suppressor) -> list[dict[str, Any]]:
    """Weekly cohorts of the last `weeks` weeks: size and the share active k weeks later."""
    newest = week_start(last)
    cohorts: dict[date, list[str]] = defaultdict(list)
    for user, days in days_active.items():
        if days:
            start = week_start(min(days))
            if newest - timedelta(weeks=weeks - 1) <= start <= newest:
                cohorts[start].append(user)
    rows = []
    for start in sorted(cohorts):
        members = cohorts[start]
        span = (newest - start).days // 7
        shares = []
        for k in range(span + 1):
            wk = start + timedelta(weeks=k)
            active = sum(1 for u in members
                         if any(wk <= d < wk + timedelta(days=7) for d in days_active[u]))
            shares.append(cells.share(f"retention.{start}.week{k}", active, len(members)))
        rows.append({"cohort": start.isoformat(), "size": cells.count(
            f"retention.{start}.size", len(members)), "weeks": shares})
    return rows


def funnels(events: Iterable[dict[str, Any]], cells: Suppressor, top: int = 10
            ) -> dict[str, Any]:
    """Per category and for the top courses (by learners who viewed): learners at each step."""
    steps: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in events:
        if e["event_type"] != "course_interaction":
            continue
        props = e.get("properties") or {}
        action = props.get("action")
        if action not in FUNNEL:
            continue
        user = e["user_id"]
        if isinstance(props.get("course_id"), str):
            steps[("course", props["course_id"])][action].add(user)
        category = props.get("course_category")
        if isinstance(category, str):
            steps[("category", category)][action].add(user)

    def row(kind: str, name: str) -> dict[str, Any]:
        did = steps[(kind, name)]
        chain: set[str] | None = None
        counts = []
        for step in FUNNEL:
            chain = did[step] if chain is None else chain & did[step]
            counts.append(len(chain))
        out: dict[str, Any] = {kind: name}
        for step, n in zip(FUNNEL, counts, strict=True):
            out[step] = cells.count(f"funnel.{kind}.{name}.{step}", n)
        for i in range(1, len(FUNNEL)):
            out[f"{FUNNEL[i]}_rate"] = cells.share(f"funnel.{kind}.{name}.{FUNNEL[i]}_rate",
                                                   counts[i], counts[i - 1])
        return out
    categories = sorted(n for k, n in steps if k == "category")
    courses = sorted((n for k, n in steps if k == "course"),
                     key=lambda n: (-len(steps[("course", n)]["view"]), n))[:top]
    return {"categories": [row("category", c) for c in categories],
            "top_courses": [row("course", c) for c in courses]}


def quizzes(events: Iterable[dict[str, Any]], cells: Suppressor) -> list[dict[str, Any]]:
    per: dict[str, list[float]] = defaultdict(list)
    learners: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["event_type"] != "quiz_attempt":
            continue
        props = e.get("properties") or {}
        total, score = props.get("total_questions"), props.get("score")
        category = props.get("course_category") or "unknown"
        if isinstance(total, int | float) and isinstance(score, int | float) and total > 0:
            per[category].append(score / total)
            learners[category].add(e["user_id"])
    out = []
    for category in sorted(per):
        n = cells.count(f"quiz.{category}", len(learners[category]))
        out.append({"category": category, "learners": n,
                    "attempts": len(per[category]) if n is not None else None,
                    "mean_score_ratio": round(sum(per[category]) / len(per[category]), 4)
                    if n is not None else None})
    return out


def searches(events: Iterable[dict[str, Any]], k: int, top: int = 10) -> dict[str, Any]:
    """Top queries searched by at least `k` learners (queries are stored PII-masked), and the
    share of searches with no result."""
    who: dict[str, set[str]] = defaultdict(set)
    total = empty = 0
    for e in events:
        if e["event_type"] != "search":
            continue
        props = e.get("properties") or {}
        total += 1
        if props.get("results_count") == 0:
            empty += 1
        query = props.get("query")
        if isinstance(query, str) and query.strip():
            who[query.strip().lower()].add(e["user_id"])
    ranked = sorted(((q, len(u)) for q, u in who.items() if len(u) >= k),
                    key=lambda qn: (-qn[1], qn[0]))[:top]
    return {"searches": total, "no_result_share": round(empty / total, 4) if total else None,
            "top_queries": [{"query": q, "learners": n} for q, n in ranked]}


def p95(values: list[float]) -> float | None:
    """The 95th percentile by nearest rank (the smallest value with at least 95 % of the values
    at or below it); None with no value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def queue_health(runs: Iterable[dict[str, Any]], alerts: Iterable[dict[str, Any]],
                 first_ms: int, until_ms: int) -> dict[str, Any]:
    """Per queue, the task runs that ended in [first_ms, until_ms): how many, how many failed,
    and the p95 of their wait in the queue; and the alerts raised in the period, by kind."""
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"runs": 0, "failed": 0, "waits": []})
    for run in runs:
        if not first_ms <= run.get("ended_ms", 0) < until_ms:
            continue
        row = per[run.get("queue", "?")]
        row["runs"] += 1
        row["failed"] += run.get("status") == "failed"
        if isinstance(run.get("wait_s"), int | float):
            row["waits"].append(float(run["wait_s"]))
    queues = {q: {"runs": v["runs"], "failed": v["failed"], "wait_p95_s": p95(v["waits"])}
              for q, v in sorted(per.items())}
    raised: Counter[str] = Counter(a.get("kind", "?") for a in alerts
                                   if first_ms <= a.get("raised_ms", 0) < until_ms)
    return {"queues": queues, "alerts_raised": dict(sorted(raised.items()))}
