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
            "active_learners": len({u for d in days_of(first, last) for u in by_day.get(d, ())}),
            "last_30_days": [{"day": d.isoformat(), "dau": len(by_day.get(d, ()))}
                             for d in days_of(last - timedelta(days=29), last)]}


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
    return nearest_rank(values, 95)


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


def nearest_rank(values: list[float], pct: int) -> float | None:
    """The `pct`-th percentile by nearest rank; None with no value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-pct * len(ordered) // 100) - 1)]


def bin_of(value: float, edges: list[float]) -> int:
    """The bin [edges[i], edges[i+1]) holding `value`; the last bin is open above and the
    first takes anything below it."""
    i = len(edges) - 1
    while i > 0 and value < edges[i]:
        i -= 1
    return i


def histogram(values: Iterable[float], edges: list[float]) -> list[int]:
    """How many of `values` fall in each bin of `edges` (see `bin_of`)."""
    counts = [0] * len(edges)
    for value in values:
        counts[bin_of(value, edges)] += 1
    return counts


def binned(name: str, pairs: Iterable[tuple[float, str]], edges: list[float],
           cells: Suppressor) -> dict[str, Any]:
    """A distribution of (value, learner) pairs over the bins [edges[i], edges[i+1]) (the last
    bin is open above): how many values fall in each and about how many learners; a bin about
    fewer than `min_cell` learners is suppressed, and so are the median and p90 when the whole
    distribution is about so few."""
    counts = [0] * len(edges)
    who: list[set[str]] = [set() for _ in edges]
    values: list[float] = []
    for value, learner in pairs:
        values.append(value)
        i = bin_of(value, edges)
        counts[i] += 1
        who[i].add(learner)
    learners = len(set().union(*who))
    few = 0 < learners < cells.min_cell
    if few:
        cells.suppressed.append(f"{name}.quantiles")
    rows = []
    for i, lo in enumerate(edges):
        shown = cells.count(f"{name}.{lo:g}", len(who[i]))
        rows.append({"from": lo, "to": edges[i + 1] if i + 1 < len(edges) else None,
                     "count": counts[i] if shown is not None else None, "learners": shown})
    return {"values": len(values), "learners": learners,
            "median": None if few else nearest_rank(values, 50),
            "p90": None if few else nearest_rank(values, 90), "bins": rows}


def latest_per_learner(docs: Iterable[dict[str, Any]], key: str, until_ms: int
                       ) -> dict[str, dict[str, Any]]:
    """Each learner's newest document with `key` (a time in ms) before `until_ms`."""
    out: dict[str, dict[str, Any]] = {}
    for d in docs:
        at = d.get(key)
        if not isinstance(at, int) or at >= until_ms:
            continue
        old = out.get(d["user_id"])
        if old is None or at > old[key]:
            out[d["user_id"]] = d
    return out


def risk_and_interventions(analyses: list[dict[str, Any]], active: set[str], first_ms: int,
                           until_ms: int, as_of_ms: int, threshold: float, cells: Suppressor
                           ) -> dict[str, Any]:
    """From the stored analyses: the dropout-risk distribution of the period's active learners
    (each learner's newest analysis before `as_of_ms`, the report's making), how many are at
    risk (risk above `threshold`) by the risk's source (the model or the rule), and the
    learners an intervention was raised for in the period [first_ms, until_ms) (an analysis in
    the period that asked for one). The newest analysis is each learner's one risk, as the
    profile and the users screen show it (`insights.analysis.risk_of`)."""
    latest = {u: d for u, d in latest_per_learner(analyses, "as_of_ms", as_of_ms).items()
              if u in active}
    risks = [(float(d["risk"]["score"]), u) for u, d in latest.items()]
    at_risk: Counter[str] = Counter(_risk_source(d["risk"]) for d in latest.values()
                                    if d["risk"]["score"] > threshold)
    raised = {d["user_id"] for d in analyses
              if first_ms <= d.get("as_of_ms", -1) < until_ms and d["risk"].get("intervention")}
    return {"analysed": len(latest),
            "risk": binned("risk", risks, [0.0, 0.2, 0.4, 0.6, 0.8], cells),
            "at_risk": cells.count("at_risk", sum(at_risk.values())),
            "at_risk_by_source": {s: cells.count(f"at_risk.{s}", n)
                                  for s, n in sorted(at_risk.items())},
            "interventions": cells.count("interventions", len(raised))}


def _risk_source(risk: dict[str, Any]) -> str:
    """A risk's source as reports name it: "model v3" (with its version) or "rule_baseline"."""
    source = str(risk.get("source", "?"))
    version = risk.get("model_version")
    return f"{source} v{version}" if version is not None else source


def anomalies_by_kind(anomalies: Iterable[dict[str, Any]], first_ms: int, until_ms: int,
                      cells: Suppressor) -> list[dict[str, Any]]:
    """Per kind, the learners an anomaly was first raised for in the period and the learners
    with one open (not resolved) now."""
    raised: dict[str, set[str]] = defaultdict(set)
    open_now: dict[str, set[str]] = defaultdict(set)
    for a in anomalies:
        kind = str(a.get("kind", "?"))
        if first_ms <= a.get("first_seen_ms", -1) < until_ms:
            raised[kind].add(a["user_id"])
        if a.get("status") != "resolved":
            open_now[kind].add(a["user_id"])
    return [{"kind": k, "raised": cells.count(f"anomalies.{k}.raised", len(raised[k])),
             "open": cells.count(f"anomalies.{k}.open", len(open_now[k]))}
            for k in sorted(set(raised) | set(open_now))]


def segment_moves(current: Iterable[dict[str, Any]], history: Iterable[dict[str, Any]],
                  since_ms: int, cells: Suppressor) -> dict[str, Any]:
    """Rule segment sizes now, and the learners whose segment now differs from the one they had
    at `since_ms` (the previous report), with the moves between segments."""
    now = {d["user_id"]: d.get("segment") for d in current}
    before: dict[str, tuple[int, Any]] = {}
    for h in history:
        at = h.get("at_ms", 0)
        if at <= since_ms and (h["user_id"] not in before or at > before[h["user_id"]][0]):
            before[h["user_id"]] = (at, h.get("new_segment"))
    moves: Counter[str] = Counter(
        f"{before[u][1]} -> {seg}" for u, seg in now.items()
        if u in before and before[u][1] is not None and before[u][1] != seg)
    sizes: Counter[str] = Counter(str(s) for s in now.values())
    return {"sizes": {s: cells.count(f"segments.{s}", n) for s, n in sorted(sizes.items())},
            "moved": cells.count("segments.moved", sum(moves.values())),
            "moves": {m: cells.count(f"segments.move.{m}", n)
                      for m, n in sorted(moves.items(), key=lambda mn: (-mn[1], mn[0]))}}


def coverage(recommendations: Iterable[dict[str, Any]], catalogue: int) -> dict[str, Any]:
    """Catalogue coverage: the share of the catalogue's courses in at least one learner's
    stored recommendations."""
    courses: set[str] = set()
    learners = 0
    for doc in recommendations:
        learners += 1
        courses.update(str(i["course_id"]) for i in doc.get("items", []) if "course_id" in i)
    return {"learners": learners, "courses_recommended": len(courses), "catalogue": catalogue,
            "coverage": round(len(courses) / catalogue, 4) if catalogue else None}


SESSION_MINUTES = [0.0, 5.0, 15.0, 30.0, 60.0, 120.0]


def session_lengths(events: Iterable[dict[str, Any]], cells: Suppressor) -> dict[str, Any]:
    """The learning sessions' lengths in minutes (`duration`, stored in seconds)."""
    pairs = []
    for e in events:
        if e["event_type"] == "learning_session":
            duration = (e.get("properties") or {}).get("duration")
            if isinstance(duration, int | float) and duration >= 0:
                pairs.append((duration / 60, e["user_id"]))
    return binned("session_minutes", pairs, SESSION_MINUTES, cells)
