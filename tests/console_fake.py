"""A fake data source and operator for the console's tests: fixed data, a fixed clock, and a
record of every call."""

from __future__ import annotations

import threading
import time
from typing import Any

from gradvy_console.config import QUEUES, ConsoleSettings
from gradvy_console.console_source import (
    AlertRow,
    ConsumerRow,
    Counters,
    PoolRow,
    QueueHistory,
    QueueRow,
    Snapshot,
    SystemRow,
)
from gradvy_console.operator_actions import Outcome, Progress

NOW = 1_795_000_000_000            # 2026-11-18 09:46:40 UTC, the fixed clock
MIN = 60_000


def fake_snapshot(pool: bool = True, backend_error: str | None = None) -> Snapshot:
    if backend_error:
        return Snapshot(NOW, "Redis + MongoDB", "ops-host", backend_error=backend_error)
    queues = tuple(QueueRow(q, pending=(1500 if q == "realtime" else i), scheduled=0,
                            oldest_age_s=(12.5 if q == "realtime" else None),
                            processed_per_min=(420.0 if q == "realtime" else 0.2 * i),
                            failed_per_min=(1.4 if q == "analytics" else 0.0),
                            p95_s=(0.034 if q == "realtime" else None),
                            consumers=(0 if q == "reports" else 1))
                   for i, q in enumerate(QUEUES))
    consumers = tuple(ConsumerRow(q, "ops-host", 4100 + i,
                                  "crash_loop" if q == "reports" else "running",
                                  NOW - 3_600_000 - i * MIN, 12.0 if q == "realtime" else 0.5,
                                  (60 + i) * 2**20, 3 if q == "reports" else 0,
                                  "batch_process_events" if q == "realtime" else None, 1)
                      for i, q in enumerate(QUEUES))
    wave = (0, 10, 30, 60, 90, 70, 40, 20)
    return Snapshot(
        at_ms=NOW, deployment="embedded", host="ops-host",
        pool=PoolRow(4099, "ops-host", NOW - 2 * 3_600_000 - 5 * MIN) if pool else None,
        system=SystemRow(cpu_percent=41.5, memory_percent=63.0, disk_percent=91.2,
                         load=(1.2, 0.9, 0.7), cores=2, measured_ms=NOW - 3_000,
                         cpu_history=tuple(float(wave[i % 8]) for i in range(60)),
                         memory_history=tuple(60.0 + i % 5 for i in range(60)),
                         disk_history=(91.2,) * 60),
        queues=queues, consumers=consumers,
        alerts=(AlertRow("a1", "critical", "Disk at 91.2% (threshold 90%)", NOW - 5 * MIN,
                         False),
                AlertRow("a2", "warning", "Queue realtime: oldest waiting task 12.5 s",
                         NOW - MIN, True)),
        events_per_minute=(("course_interaction", tuple(i * 7 % 50 for i in range(60))),
                           ("search", tuple(i * 3 % 20 for i in range(60))),
                           ("quiz_attempt", tuple(i % 4 for i in range(60)))),
        counters=Counters(pending=1500, processed=123_456, dead_lettered=75, duplicates=22,
                          no_consent=287, users=2000),
        activity_hours=tuple(20 + 15 * (i % 12) for i in range(24)),
        activity_days=tuple(300 + 40 * (i % 7) for i in range(60)),
        queue_history=tuple(QueueHistory(q, tuple((i * 7) % 1600 if q == "realtime" else 0
                                                  for i in range(720)),
                                         tuple(12.5 if q == "realtime" else None
                                               for _ in range(720)))
                            for q in QUEUES),
    )


class FakeSource:
    def __init__(self, snapshot: Snapshot | None = None, delay_s: float = 0.0) -> None:
        self.current = snapshot or fake_snapshot()
        self.delay_s = delay_s
        self.calls: list[tuple[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.snapshots = 0
        self.log_follows = 0
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)  # a slow backend
            self.snapshots += 1
            return self.current
        finally:
            with self._lock:
                self.active -= 1

    def task_runs(self, failed_only: bool = False, queue: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
        self.calls.append(("task_runs", failed_only))
        runs = [
            {"task_id": "f0f0f0f0aaaa", "task": "analyze_user_behavior", "queue": "analytics",
             "status": "failed", "ended_ms": NOW - 2 * MIN, "duration_s": 1.2, "wait_s": 0.01,
             "error": "ValueError: user u9 has no events", "args_summary": "('u9',)"},
            {"task_id": "c0c0c0c0bbbb", "task": "batch_process_events", "queue": "realtime",
             "status": "complete", "ended_ms": NOW - MIN, "duration_s": 0.034, "wait_s": 0.002,
             "error": None, "args_summary": "(100 events)"},
        ]
        return [r for r in runs if not failed_only or r["status"] == "failed"]

    def dead_letters(self, limit: int = 200) -> list[dict[str, Any]]:
        return [{"id": "7", "reason": "missing_field", "detail": "user_id is required",
                 "payload": '{"event_type":"search","properties":{"query":"sql"}}',
                 "event_id": None, "user_id": None, "at_ms": NOW - 3 * MIN},
                {"id": "6", "reason": "bad_timestamp", "detail": "timestamp 'soon' is not ISO",
                 "payload": '{"user_id":"u1","timestamp":"soon"}', "event_id": None,
                 "user_id": "u1", "at_ms": NOW - 4 * MIN}]

    def schedule(self) -> list[dict[str, Any]]:
        return [{"job": "process_pending_events", "cron": "* * * * *", "queue": "realtime",
                 "last_run_ms": NOW - 40_000, "last_outcome": "complete", "last_error": None,
                 "next_run_ms": NOW + 20_000},
                {"job": "monitor_system_performance", "cron": "*/5 * * * *",
                 "queue": "monitoring", "last_run_ms": NOW - 4 * MIN, "last_outcome": "failed",
                 "last_error": "boom", "next_run_ms": NOW + MIN}]

    def alerts(self, active_only: bool = False) -> list[dict[str, Any]]:
        return [{"alert_id": "a1", "severity": "critical", "message": "Disk at 91.2%",
                 "raised_ms": NOW - 5 * MIN, "cleared_ms": None, "acknowledged_ms": None},
                {"alert_id": "a0", "severity": "warning", "message": "CPU at 85%",
                 "raised_ms": NOW - 50 * MIN, "cleared_ms": NOW - 40 * MIN,
                 "acknowledged_ms": NOW - 45 * MIN}]

    def find_users(self, prefix: str, limit: int = 20) -> list[dict[str, Any]]:
        self.calls.append(("find_users", prefix))
        known = [("u1", NOW - 5 * MIN), ("u12", NOW - 90 * MIN), ("u2", NOW - 3 * 86_400_000)]
        return [{"user_id": u, "last_ms": last} for u, last in known
                if u.startswith(prefix)][:limit]

    def user(self, user_id: str) -> dict[str, Any] | None:
        self.calls.append(("user", user_id))
        if user_id != "u1":
            return None
        return {"user_id": "u1",
                "profile": {"events": 42, "engagement_score": 0.61, "learning_velocity": 0.012,
                            "quiz_signal": 0.05, "enrolled_categories": ["data", "web"],
                            "peak_hours": [9, 20], "search": {"volume": 5,
                                                              "zero_result_rate": 0.2,
                                                              "top_terms": ["sql"]},
                            "quiz_average": 0.74, "counts_by_type": {"search": 5,
                                                                     "quiz_attempt": 4},
                            "first_seen": NOW - 86_400_000 * 3, "last_seen": NOW - MIN},
                "risk": {"score": 0.22, "source": "model", "model_version": 3,
                         "as_of_ms": NOW - MIN, "intervention": False, "factors": []},
                "consent": {"analytics": True, "behavioral_analysis": True},
                "consent_history": [{"purpose": "analytics", "granted": True,
                                     "at_ms": NOW - 86_400_000 * 3, "method": "signup"}],
                "live_today": {"last_ms": NOW - MIN, "counts": {"search": 2}},
                "recent_events": [{"event_type": "search", "ts": NOW - MIN,
                                   "properties": {"query": "sql", "results_count": 0}}],
                "analysis": {
                    "learning_patterns": {"velocity": 0.012, "peak_hours": [9, 20],
                                          "content_preferences": [{"category": "data",
                                                                   "share": 0.6}],
                                          "consistency": 0.75},
                    "engagement": {"current": 0.61, "trend": 0.25, "trend_direction": "rising",
                                   "peak_days": ["Tue", "Sun"]},
                    "risk": {"score": 0.22, "source": "model", "model_version": 3,
                             "intervention": False,
                             "factors": [{"factor": "recency_days",
                                          "label": "days since last activity", "value": 3.0,
                                          "contribution": 0.4}]},
                    "personalisation": {"top_content_types": ["video"], "difficulty": "keep"}},
                "segment": {"segment": "regular", "cluster": "c1: busy days, high quiz scores",
                            "reasons": ["engagement 0.61", "dropout risk 0.220 (model v3) at "
                                        "most 0.6", "open poor_performance anomaly (recent "
                                        "quiz average 0.31)"]},
                "segment_history": [{"new_segment": "new_user", "at_ms": NOW - 86_400_000},
                                    {"new_segment": "regular", "at_ms": NOW - MIN}],
                "recommendations": {"items": [
                    {"course_id": "c0007", "score": 0.91, "source": "content_based",
                     "reason": "Matches your interest in data (60% of your activity)"},
                    {"course_id": "c0003", "score": 0.55, "source": "collaborative",
                     "reason": "Learners who took c0001 also took this"}]},
                "anomalies": [{"kind": "poor_performance", "severity": "high",
                               "status": "open", "evidence": {"recent_quiz_average": 0.31}}]}

    def privacy(self) -> dict[str, Any]:
        checks = [
            ("consent_at_event_time", "pass", "critical",
             "every stored event had storage consent at its time"),
            ("consent_records_complete", "warn", "high",
             "12 learners have events but no consent record at all"),
            ("pii_scan", "fail", "high", "1 unmasked personal values: task_arguments (1 phone)"),
            ("retention", "pass", "medium", "every collection is within its retention"),
            ("erasure", "pass", "critical", "2 requests, all within the deadline"),
            ("keys_and_files", "warn", "medium", "the pseudonym key lives in the data dir")]
        return {
            "audit": {"at_ms": NOW - 3 * MIN, "status": "fail", "seconds": 2.4,
                      "checks": [{"check": c, "status": s, "severity": v, "summary": m,
                                  "evidence": {}} for c, s, v, m in checks]},
            "erasures": [
                {"_id": "er-0000000000002-b2c3d4", "status": "verified", "step": None,
                 "requested_ms": NOW - 30 * MIN, "verified_ms": NOW - 29 * MIN,
                 "removed": {"events": 1204, "users": 1}},
                {"_id": "er-0000000000001-a1b2c3", "status": "failed", "step": "verify",
                 "requested_ms": NOW - 90 * MIN, "verified_ms": None, "removed": {"events": 3}}],
            "retention": [
                {"collection": "events", "days": 365.0, "oldest_days": 60.2, "expired": 0},
                {"collection": "dead_letters", "days": 30.0, "oldest_days": 41.0,
                 "expired": 310},
                {"collection": "consent_history", "days": 2555.0, "oldest_days": None,
                 "expired": 0}]}

    def quality(self) -> dict[str, Any]:
        checks = [
            ("dead_letters", "pass", "12 of 9,840 events seen in the last day were "
             "dead-lettered", {"seen": 9840, "dead_lettered": 12}),
            ("volume", "fail", "silent: link_click on 2026-11-29, link_click on 2026-11-30",
             {"flagged": [{"event_type": "link_click", "day": "2026-11-30", "kind": "silent",
                           "actual": 0, "expected": 84.0}]}),
            ("schema", "warn", "form_submit.page_url is string and 70 times another kind",
             {"type_changes": [{"event_type": "form_submit", "key": "page_url",
                                "usual": "string", "other": 70}]}),
            ("timeliness", "pass", "79 late and 0 future-dated events since the start; none "
             "in the last day", {"late": 79}),
            ("consistency", "pass", "25 sampled profiles equal a recomputation from their "
             "stored events", {"sampled": 25, "checked": 25, "differ": 0})]
        latest = {"at_ms": NOW - 4 * MIN, "status": "fail", "score": 71, "no_data": False,
                  "scanned": 92_730, "seconds": 2.7,
                  "checks": [{"check": c, "status": st, "summary": m, "evidence": e}
                             for c, st, m, e in checks]}
        week = [80, 84, 90, 78, 86, 88, 83]
        return {"latest": latest,
                "volume": [{"event_type": "course_interaction", "days": [500 + 7 * i
                                                                         for i in range(21)],
                            "yesterday": 640, "expected": 588.0, "flag": ""},
                           {"event_type": "link_click", "days": week * 2 + week[:4] + [0] * 3,
                            "yesterday": 0, "expected": 84.0, "flag": "silent 2026-11-30"}],
                "dead_letters": {"future_timestamp": [3, 1, 0, 4, 2],
                                 "missing_field": [0, 0, 1, 0, 0]},
                "schema": [{"name": "course_interaction.referrer", "change": "new",
                            "count": 5093},
                           {"name": "form_submit.page_url", "change": "string + other",
                            "count": 70}]}

    def reports(self) -> list[dict[str, Any]]:
        head = {"active_learners": 1343, "events": 12681, "stickiness": 0.448, "at_risk": 57,
                "quality_score": 71, "no_data": False}
        return [{"_id": "week-2026-11-09", "period": "week", "start": "2026-11-09",
                 "end": "2026-11-15", "generated_ms": NOW - 3 * 3_600_000, "headline": head,
                 "files": ["/reports/week/2026-11-09/report.md"]},
                {"_id": "day-2026-11-16", "period": "day", "start": "2026-11-16",
                 "end": "2026-11-16", "generated_ms": NOW - 2 * 86_400_000,
                 "headline": {**head, "active_learners": 734, "events": 2004, "at_risk": None},
                 "files": []}]

    def report_text(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("report_text", doc["_id"]))
        if not doc["files"]:
            return {"markdown": None, "content": None}
        days = [f"2026-11-{d:02d}" for d in range(9, 16)]
        content = {
            "activity": {"last_30_days": [{"day": f"d{i}", "dau": 700 + (i * 37) % 90}
                                          for i in range(30)]},
            "events_per_type": {"course_interaction": {d: 500 + 10 * i
                                                       for i, d in enumerate(days)},
                                "link_click": {d: (90 if i < 5 else 0)
                                               for i, d in enumerate(days)}},
            "retention": [{"cohort": "2026-10-26", "size": 111, "weeks": [1.0, 0.865, 0.919]},
                          {"cohort": "2026-11-02", "size": 48, "weeks": [1.0, 0.917]},
                          {"cohort": "2026-11-09", "size": None, "weeks": [None]}]}
        markdown = ("# Weekly analytics report: 2026-11-09 to 2026-11-15\n\n"
                    "1,343 active learners and 12,681 events; stickiness 44.8%.\n\n"
                    "## Activity\n\n| day | dau |\n|---|---|\n| 2026-11-09 | 770 |\n")
        return {"markdown": markdown, "content": content}

    def cleanup_preview(self) -> dict[str, Any]:
        return {"collections": [{"collection": "dead_letters", "expired": 310}],
                "files_removed": {}}

    def insights(self) -> dict[str, Any]:
        return {
            "evaluation": {
                "at_ms": NOW - 5 * MIN, "met": {"ndcg_vs_popular": True, "anomalies": True,
                                                "dropout": True},
                "recommendations": {"model": {"ndcg": 0.457}, "popular": {"ndcg": 0.227},
                                    "ndcg_vs_popular": 2.013},
                "anomalies": {"precision": 1.0, "recall": 0.93, "auc": 1.0},
                "dropout": {"auc": 0.959, "rule_baseline_auc": 0.678, "brier": 0.055},
                "segments": {"k": 4, "silhouette": 0.257, "adjusted_rand_index": 0.649}},
            "segments": {"at_ms": NOW - 10 * MIN, "rule_sizes": {"regular": 1200,
                                                                  "at_risk": 300},
                         "clusters": {"sizes": {"busy days, high quiz scores": 900,
                                                "quiet days": 600}}},
            "distributions": {"edges": [0.0, 0.2, 0.4, 0.6, 0.8], "learners": 1500,
                              "analysed": 1480, "engagement": [300, 450, 400, 250, 100],
                              "risk": [800, 300, 180, 120, 80]},
            "models": [{"name": "recommender", "version": 3, "saved_ms": NOW - 20 * MIN},
                       {"name": "dropout", "version": 2, "saved_ms": NOW - 20 * MIN}],
            "anomalies": [{"_id": "u9:impossible_quiz_time", "user_id": "u9",
                           "kind": "impossible_quiz_time", "severity": "high",
                           "status": "open", "action": {"type": "alert_and_exclude_from_"
                                                                "training"}},
                          {"_id": "u1:poor_performance", "user_id": "u1",
                           "kind": "poor_performance", "severity": "high", "status": "open",
                           "action": {"type": "remedial_content",
                                      "weak_areas": [{"category": "math"}]}}]}

    def action_log(self, limit: int = 200) -> list[dict[str, Any]]:
        return [{"_id": "2", "who": "ops@ops-host", "action": "process", "params": {},
                 "started_ms": NOW - MIN, "ended_ms": NOW - MIN + 800, "ok": True,
                 "outcome": "Processed 1,000"},
                {"_id": "1", "who": "ops@ops-host", "action": "stop_queue",
                 "params": {"queue": "ml"}, "started_ms": NOW - 2 * MIN,
                 "ended_ms": NOW - 2 * MIN + 300, "ok": False, "outcome": "pool not running"}]

    def waiting(self, limit: int = 200) -> list[dict[str, Any]]:
        return [{"task_id": "a1a1a1a1-0000-4000-8000-000000000001",
                 "task": "analyze_user_behavior", "queue": "analytics", "where": "waiting",
                 "enqueued_ms": NOW - 30_000, "eta": None, "args_summary": "str"},
                {"task_id": "b2b2b2b2-0000-4000-8000-000000000002",
                 "task": "update_recommendation_models", "queue": "ml", "where": "scheduled",
                 "enqueued_ms": NOW - 60_000, "eta": "2026-11-18T10:00:00", "args_summary": ""}]

    def task_detail(self, task_id: str) -> dict[str, Any]:
        run = next(r for r in self.task_runs() if r["task_id"] == task_id)
        trace = ("Traceback (most recent call last):\n  File \"tasks/analytics.py\", line 40, "
                 "in analyze_user_behavior\n    raise ValueError(...)\nValueError: user u9 "
                 "has no events")
        return {**run, "args_json": '[["u9"], {}]',
                "traceback": trace if run["status"] == "failed" else None}

    def log_tail(self, queue: str, lines: int = 500) -> tuple[int, list[str]]:
        self.calls.append(("log_tail", queue))
        return 100, [f"2026-11-18 09:4{i}:00 INFO huey.consumer: {queue} line {i}"
                     for i in range(3)]

    def log_since(self, queue: str, offset: int) -> tuple[int, list[str]]:
        self.log_follows += 1
        if self.log_follows == 2:
            return offset + 50, [f"2026-11-18 09:46:00 INFO huey: {queue} a new line"]
        return offset, []



class FakeOperator:
    def __init__(self, fail: bool = False) -> None:
        self.performed: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def perform(self, action: str, params: dict[str, Any] | None = None,
                progress: Progress | None = None) -> Outcome:
        self.performed.append((action, dict(params or {})))
        if progress is not None:
            progress(1, 2)
            progress(2, 2)
        if self.fail:
            return Outcome(False, f"{action} failed: pool not running")
        return Outcome(True, f"{action} done")


def make_fake_app(source: Any = None, operator: Any = None,
                  manage_pool: bool = False, **settings: Any) -> Any:
    from gradvy_console.app import GradvyConsole

    values: dict[str, Any] = {"refresh_seconds": 0.2, "start_pool": True}
    values.update(settings)
    return GradvyConsole(source or FakeSource(), operator or FakeOperator(),
                         ConsoleSettings(**values), manage_pool=manage_pool)
