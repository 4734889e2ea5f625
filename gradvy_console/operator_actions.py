"""Operator actions, as the console runs them (no Textual, no Rich).

Each action calls the same service function as its `gradvy run` verb and is written to the
action log (who, what, when, outcome) before and after it runs, so an action that crashes the
console still shows as started. `Operator.perform` blocks: the console calls it from a thread
worker and passes a `progress(done, total)` callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import Config, known_queue
from .errors import GradvyError

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


@dataclass(frozen=True)
class ActionSpec:
    action: str
    title: str
    help: str


ACTIONS: dict[str, ActionSpec] = {a.action: a for a in (
    ActionSpec("simulate", "Simulate data", "Make simulated learners and events (pending)"),
    ActionSpec("process", "Process pending events", "Ingest every pending event"),
    ActionSpec("self_test", "Run the self-test", "End to end through a real queue and store"),
    ActionSpec("monitor", "Run monitoring now", "Measure the system and update alerts"),
    ActionSpec("start_queue", "Start a queue's consumer", "Start a stopped consumer"),
    ActionSpec("stop_queue", "Stop a queue's consumer", "Stop it gracefully; it stays stopped"),
    ActionSpec("restart_queue", "Restart a queue's consumer", "Graceful stop, then start"),
    ActionSpec("scale_queue", "Scale a queue", "Change a consumer's worker count"),
    ActionSpec("pause_queue", "Pause a queue", "Its consumers take nothing; tasks wait"),
    ActionSpec("resume_queue", "Resume a queue", "Its consumers take what waits"),
    ActionSpec("purge_queue", "Purge a queue", "Delete its waiting tasks (scheduled stay)"),
    ActionSpec("revoke_task", "Revoke a waiting task", "Delete it before a consumer takes it"),
    ActionSpec("ack_alert", "Acknowledge an alert", "Mark an active alert as seen"),
    ActionSpec("retry_task", "Retry a failed task", "Re-enqueue it with its arguments"),
    ActionSpec("replay_dead_letter", "Replay a dead letter", "Back to the pending inbox"),
    ActionSpec("replay_dead_letters", "Replay dead letters of a reason",
               "Every one of that reason back to the pending inbox"),
    ActionSpec("trigger_job", "Trigger a periodic job", "Enqueue it now"),
    ActionSpec("analyze_users", "Analyze users", "Behaviour analysis of recently active users"),
    ActionSpec("check_anomalies", "Check anomalies", "Rules and IsolationForest; act on them"),
    ActionSpec("update_segments", "Update segments", "Rule segments and behavioural clusters"),
    ActionSpec("update_models", "Update models", "Retrain the recommender and dropout model"),
    ActionSpec("evaluate", "Evaluate insights", "Score them against the simulator's truth"),
    ActionSpec("ack_anomaly", "Acknowledge an anomaly", "Mark an open anomaly as seen"),
    ActionSpec("start_pool", "Start the worker pool", "One supervised consumer per queue"),
    ActionSpec("stop_pool", "Stop the worker pool", "Every consumer, gracefully"),
    ActionSpec("run_audit", "Run the privacy audit", "Every privacy check, with evidence"),
    ActionSpec("assess_quality", "Assess data quality",
               "Volume, freshness, schema drift, timeliness, references; a score"),
    ActionSpec("generate_report", "Generate a report",
               "A day's, week's or month's analytics report: files and history"),
    ActionSpec("forget", "Forget a learner", "Erase everywhere, verify, suppress (Art. 17)"),
    ActionSpec("export_user", "Export a learner's data", "One JSON document (Art. 15, 20)"),
    ActionSpec("cleanup", "Retention cleanup", "Delete what is past its retention"),
)}


READ_ONLY = ("The console is read-only (--read-only or [console] read_only): it shows "
             "everything and performs nothing.")


def _queue(params: dict[str, Any]) -> str:
    return known_queue(str(params.get("queue", "")))


class Operator:
    def __init__(self, config: Config, config_path: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        from .pipeline.actions import who

        self.who = who()

    def _engine(self) -> tuple[Any, Any, Any]:
        from . import runtime

        if runtime.get_config() is not self.config:
            runtime.activate(self.config)
        return runtime.store(), runtime.live(), runtime.ingestor()

    def perform(self, action: str, params: dict[str, Any] | None = None,
                progress: Progress | None = None) -> Outcome:
        """Run one action; never raises for an operator mistake or a backend outage: the
        outcome says what happened, and the action log keeps it."""
        from .pipeline.actions import ActionRecord

        if self.config.console.read_only:
            # Refused before anything is opened or logged: a read-only console writes nothing.
            return Outcome(False, READ_ONLY)
        params = dict(params or {})
        progress = progress or (lambda done, total: None)
        record = ActionRecord(self.config, lambda: self._engine()[0], action, params,
                              via="console", actor=self.who)
        try:
            run = getattr(self, f"_do_{action}", None)
            if run is None:
                raise GradvyError(f"Unknown action '{action}'.", exit_code=2)
            outcome = Outcome(True, run(params, progress))
        except GradvyError as exc:
            outcome = Outcome(False, str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the operator, never a crash
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        record.finish(outcome.ok, outcome.message)
        return outcome

    # --- the actions ----------------------------------------------------------------------
    def _do_simulate(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import simulate_data

        store, _live, _ing = self._engine()
        sim = self.config.simulator
        count = int(params["count"]) if "count" in params else (sim.count or None)
        users = int(params["users"]) if "users" in params else sim.users
        days = int(params["days"]) if "days" in params else sim.days
        report = simulate_data(self.config, store, count, users, days,
                               int(params.get("seed", 0)), None, progress)
        return (f"Simulated {report.events:,} events for {report.users:,} learners "
                f"({report.id_prefix}-u...) over {days} days; they are pending.")

    def _do_process(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import live_consumers, process_outcome, process_pending

        store, live, ingestor = self._engine()
        use_queue = bool(live_consumers(live, "realtime",
                                        stale_after_s=self.config.live.heartbeat_ttl_seconds))
        report = process_pending(self.config, store, live, ingestor,
                                 params.get("batch_size") or self.config.ingest.batch_size
                                 or None, progress, use_queue)
        return " ".join(process_outcome(store, report))

    def _do_self_test(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import self_test

        store, live, ingestor = self._engine()
        checks = self_test(self.config, store, live, ingestor,
                           wait_s=float(params.get("wait_s", 20.0)))
        failed = [c for c in checks if not c.ok]
        if failed:
            raise GradvyError("Self-test failed: " + "; ".join(f"{c.name}: {c.detail}"
                                                               for c in failed), exit_code=1)
        return f"Self-test passed ({len(checks)} checks)."

    def _do_monitor(self, params: dict[str, Any], progress: Progress) -> str:
        from .monitoring import HISTORY_5M, tick
        from .pipeline import current_queue_metrics

        store, live, _ing = self._engine()
        now = int(time.time() * 1000)
        snap = tick(self.config, store, live, HISTORY_5M,
                    current_queue_metrics(self.config, store, live, now), now)
        cpu = "n/a" if snap["cpu_percent"] is None else f"{snap['cpu_percent']}%"
        changed = len(snap["alerts_changed"])
        return (f"CPU {cpu}, memory {snap['memory_percent']}%, disk {snap['disk_percent']}%; "
                f"{changed} alert change{'s' if changed != 1 else ''}.")

    def _pool(self, command: dict[str, Any]) -> dict[str, Any]:
        from .pool.control import send_command

        self._engine()
        consumer: dict[str, Any] = send_command(self.config, command, timeout=90)["consumer"]
        return consumer

    def _do_start_queue(self, params: dict[str, Any], progress: Progress) -> str:
        queue = _queue(params)
        c = self._pool({"cmd": "start", "queue": queue})
        return f"{queue}: running (pid {c['pid']})."

    def _do_stop_queue(self, params: dict[str, Any], progress: Progress) -> str:
        queue = _queue(params)
        self._pool({"cmd": "stop", "queue": queue})
        return f"{queue}: stopped."

    def _do_restart_queue(self, params: dict[str, Any], progress: Progress) -> str:
        queue = _queue(params)
        c = self._pool({"cmd": "restart", "queue": queue})
        return f"{queue}: restarted (pid {c['pid']})."

    def _do_scale_queue(self, params: dict[str, Any], progress: Progress) -> str:
        queue = _queue(params)
        workers = int(params.get("workers", 0))
        if not 1 <= workers <= 64:
            raise GradvyError("Workers must be between 1 and 64.", exit_code=2)
        c = self._pool({"cmd": "scale", "queue": queue, "workers": workers})
        return f"{queue}: {c['workers']} {c['worker_type']} workers (pid {c['pid']})."

    def _do_pause_queue(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import set_paused

        queue = _queue(params)
        self._engine()
        was = set_paused(queue, True)
        return f"{queue} was paused already." if was else (
            f"Paused {queue}: its consumers take nothing; what is enqueued waits.")

    def _do_resume_queue(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import set_paused

        queue = _queue(params)
        self._engine()
        was = set_paused(queue, False)
        return f"Resumed {queue}." if was else f"{queue} was not paused."

    def _do_purge_queue(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import purge_queue

        queue = _queue(params)
        self._engine()
        n = purge_queue(queue)
        return f"Purged {n:,} waiting task{'s' if n != 1 else ''} from {queue}."

    def _do_revoke_task(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import revoke_task

        self._engine()
        task = revoke_task(str(params.get("task_id", "")))
        return f"Revoked {task.task} {task.task_id[:8]} ({task.where} on {task.queue})."

    def _do_ack_alert(self, params: dict[str, Any], progress: Progress) -> str:
        from .monitoring import acknowledge

        store, _live, _ing = self._engine()
        alert = acknowledge(store, str(params.get("alert_id", "")))
        if alert is None:
            raise GradvyError(f"No alert {params.get('alert_id')}.", exit_code=1)
        return f"Acknowledged: {alert['message']}"

    def _do_retry_task(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import retry_task

        store, _live, _ing = self._engine()
        name, new_id = retry_task(store, str(params.get("task_id", "")))
        return f"Re-enqueued {name} as task {new_id[:8]}."

    def _do_replay_dead_letter(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import replay_dead_letter

        store, _live, _ing = self._engine()
        letter = replay_dead_letter(store, str(params.get("id", "")))
        return (f"Dead letter {letter['id']} ({letter['reason']}) is pending again; "
                "process events to ingest it.")

    def _do_replay_dead_letters(self, params: dict[str, Any], progress: Progress) -> str:
        from .ingest import replay_dead_letters

        store, _live, _ing = self._engine()
        reason = str(params.get("reason", ""))
        n = len(replay_dead_letters(store, reason))
        return (f"Replayed {n:,} {reason} dead letter{'s' if n != 1 else ''}: pending again; "
                "process events to ingest them.")

    def _do_trigger_job(self, params: dict[str, Any], progress: Progress) -> str:
        from . import tasks  # noqa: F401 - registers the jobs
        from .config import JOBS
        from .queues import registered_tasks

        self._engine()
        job = str(params.get("job", ""))
        if job not in JOBS:
            raise GradvyError(f"Unknown job '{job}'.", exit_code=2)
        handle = registered_tasks()[job].apply_async()
        return f"Triggered {job} on {handle.queue} (task {handle.id[:8]})."

    def _do_analyze_users(self, params: dict[str, Any], progress: Progress) -> str:
        from .insights import analyze_users

        store, live, _ing = self._engine()
        out = analyze_users(self.config, store, live, params.get("user_id"), progress,
                            bool(params.get("all")))
        source = (f"model v{out['model_version']}" if out["risk_source"] == "model"
                  else "rule: no model yet")
        return f"Analysed {out['analysed']:,} users (dropout risk from the {source})."

    def _do_check_anomalies(self, params: dict[str, Any], progress: Progress) -> str:
        from .insights import process_anomalies

        store, live, _ing = self._engine()
        out = process_anomalies(self.config, store, live)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(out["open_by_kind"].items()))
        return f"Open anomalies: {kinds or 'none'}."

    def _do_update_segments(self, params: dict[str, Any], progress: Progress) -> str:
        from .insights import update_segments

        store, live, _ing = self._engine()
        run = update_segments(self.config, store, live)
        k = run["clusters"]["k"] if run["clusters"] else "-"
        return f"Segmented {run['users']:,} users ({run['changes']:,} changes), {k} clusters."

    def _do_update_models(self, params: dict[str, Any], progress: Progress) -> str:
        from .insights import update_models

        store, live, _ing = self._engine()
        out = update_models(self.config, store, live)
        rec, drop = out["recommender"], out["dropout"]
        return (f"Recommender v{rec['version'] or '-'}, dropout model "
                f"v{drop['version'] or '- (rule baseline)'}.")

    def _do_evaluate(self, params: dict[str, Any], progress: Progress) -> str:
        from .insights import evaluate

        store, _live, _ing = self._engine()
        r = evaluate(self.config, store, progress)
        return (f"NDCG@10 {r['recommendations']['ndcg_vs_popular']}x popular, anomalies "
                f"P {r['anomalies']['precision']} R {r['anomalies']['recall']}, dropout AUC "
                f"{r['dropout']['auc']} (rule {r['dropout']['rule_baseline_auc']}).")

    def _do_ack_anomaly(self, params: dict[str, Any], progress: Progress) -> str:
        from .insights import acknowledge_anomaly

        store, _live, _ing = self._engine()
        a = acknowledge_anomaly(store, str(params.get("anomaly_id", "")))
        return f"{a['_id']}: {a['status']}."

    def _do_start_pool(self, params: dict[str, Any], progress: Progress) -> str:
        from .pool.control import running_pid, start_detached

        pid = running_pid(self.config)
        if pid is not None:
            return f"Attached to the running worker pool (pid {pid})."
        pid = start_detached(self.config, self.config_path)
        return f"Started the worker pool (pid {pid})."

    def _do_stop_pool(self, params: dict[str, Any], progress: Progress) -> str:
        from .pool.control import stop_running

        pid = stop_running(self.config, timeout=float(params.get("timeout", 120.0)))
        return f"Stopped the worker pool (pid {pid})."

    def _do_run_audit(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import audit

        self._engine()
        report = audit()
        worst = [c["check"] for c in report["checks"] if c["status"] == report["status"]]
        detail = f" ({', '.join(worst)})" if report["status"] != "pass" else ""
        return f"Privacy audit: {report['status']}{detail} in {report['seconds']:.1f} s."

    def _do_assess_quality(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import quality_check

        self._engine()
        report = quality_check()
        if report["no_data"]:
            return "Data quality: no data yet."
        worst = [c["check"] for c in report["checks"] if c["status"] == report["status"]]
        detail = f" ({', '.join(worst)})" if report["status"] != "pass" else ""
        return (f"Data quality: score {report['score']}/100, {report['status']}{detail} in "
                f"{report['seconds']:.1f} s.")

    def _do_generate_report(self, params: dict[str, Any], progress: Progress) -> str:
        from .reports import generate

        store, _live, _ing = self._engine()
        report = generate(self.config, store, str(params.get("period", "day")),
                          params.get("date") or None, progress=progress)
        head = report.headline()
        return (f"{report.period.capitalize()} report {report.start} to {report.end}: "
                f"{head['active_learners']:,} active learners, {head['events']:,} events, "
                f"{len(report.files)} files ({report.seconds:.1f} s).")

    def _do_forget(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import forget

        store, live, _ing = self._engine()
        user_id = str(params.get("user_id", "")).strip()
        _where, results = forget(self.config, store, live, [user_id],
                                 str(params.get("reason", "")))
        r = results[0]
        if r["status"] != "verified":
            raise GradvyError(f"Erasure {r['request_id']} {r['status']} at step "
                              f"{r['failed_step']}; forget again resumes it.")
        held = (f"{sum(r['removed'].values()):,} records removed" if r["had_data"]
                else "no data was held")
        return f"Erasure {r['request_id']} verified: {held}; future events suppressed."

    def _do_export_user(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import export_learner

        store, live, _ing = self._engine()
        report = export_learner(self.config, store, live, str(params.get("user_id", "")), None)
        if not report.known:
            return f"Nothing is held about that learner (empty export {report.path})."
        return f"Exported {report.events:,} events and the rest to {report.path} (0600)."

    def _do_cleanup(self, params: dict[str, Any], progress: Progress) -> str:
        from .pipeline import retention_cleanup

        store, _live, _ing = self._engine()
        dry = bool(params.get("dry_run"))
        report = retention_cleanup(self.config, store, dry)
        n = sum(c.expired if dry else c.removed for c in report.collections)
        files = sum(report.files_removed.values())
        verb = "Would remove" if dry else "Removed"
        return f"{verb} {n:,} records and {files:,} files past their retention."
