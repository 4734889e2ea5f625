"""Privacy on the real engine, in-process: consent files and consent events, the audit finding
what is planted, retention, export, erasure resuming after kill -9, and erasure leaving every
other learner exactly as before (a property test)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import env_for, gradvy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradvy_console import runtime
from gradvy_console.analytics.events import Rejection
from gradvy_console.analytics.privacy import scrub_value, terms_for
from gradvy_console.clock import now_ms
from gradvy_console.config import load_config
from gradvy_console.errors import ConfigError
from gradvy_console.privacy import (
    cleanup,
    export_user,
    import_consent_file,
    request_erasure,
    run_erasures,
    survey,
)
from gradvy_console.tasks.compliance import audit_now, erase_now, trace_holders

DAY = 86_400_000


def engine(tmp_path: Path, **env: str) -> Any:
    config = load_config(env={"GRADVY_DATA_DIR": str(tmp_path / "data"), **env})
    runtime.activate(config)
    return config


def ev(user: str, i: int, ts: int, etype: str = "search", **props: Any) -> dict[str, Any]:
    return {"event_id": f"{user}-{i}", "user_id": user, "event_type": etype,
            "timestamp": ts_iso(ts), "properties": props or {"query": "python"}}


def ts_iso(ms: int) -> str:
    from gradvy_console.analytics.events import iso_from_ms

    return iso_from_ms(ms)


def grant(store: Any, user: str, at: int, *purposes: str) -> None:
    store.record_consent(user, {p: True for p in purposes or ("analytics",
                                                              "behavioral_analysis")},
                         method="form", version="1", legal_basis="consent", actor="t", at_ms=at)


# --- consent at scale ---------------------------------------------------------------------------

def test_consent_file_imports_idempotently_with_line_numbers(tmp_path: Path) -> None:
    config = engine(tmp_path)
    store = runtime.store()
    csv = tmp_path / "consent.csv"
    csv.write_text(
        "user_id,granted,revoked,method,notice_version,legal_basis,time\n"
        "u1,analytics;behavioral_analysis,,form,3,consent,2026-11-01T10:00:00Z\n"
        "u2,analytics,,form,3,consent,2026-11-01T10:00:00Z\n"
        "u3,nonsense,,form,3,consent,\n"
        ",analytics,,form,3,consent,\n"
        "u1,,behavioral_analysis,form,3,consent,2026-11-02T10:00:00Z\n"
        "u4,analytics,,form,3,,\n")
    first = import_consent_file(config, store, csv)
    assert (first.rows, first.accepted, first.added) == (6, 3, 4)
    assert first.rejected == [(4, "unknown purpose 'nonsense'"), (5, "user_id is missing"),
                              (7, "legal_basis is missing")]
    assert store.consent_for(["u1", "u2"]) == {"u1": {"analytics"}, "u2": {"analytics"}}
    second = import_consent_file(config, store, csv)
    assert second.added == 0 and len(store.consent_history("u1")) == 3
    nd = tmp_path / "consent.ndjson"
    nd.write_text(json.dumps({"user_id": "u5", "granted": ["analytics"], "method": "api",
                              "notice_version": "4", "legal_basis": "consent"}) + "\n{bad\n")
    third = import_consent_file(config, store, nd)
    assert third.added == 1 and third.rejected == [(2, "not a JSON object")]


def test_consent_file_on_the_cli(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    bad = tmp_path / "c.csv"
    bad.write_text("user_id,granted,method,notice_version,legal_basis\nu1,analytics,form,1,c\n"
                   "u2,zzz,form,1,c\n")
    out = gradvy(["run", "consent", "--file", str(bad)], env, tmp_path)
    assert out.returncode == 1 and "1 accepted" in out.stdout and "line 3: unknown purpose" \
        in out.stdout
    missing = gradvy(["run", "consent", "--file", str(tmp_path / "nope.csv")], env, tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    out = gradvy(["run", "consent", "--file", str(binary)], env, tmp_path)
    assert out.returncode == 2 and "not UTF-8" in out.stderr and "Traceback" not in out.stderr


def test_consent_events_change_storage_in_order(tmp_path: Path) -> None:
    engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    t = now_ms() - 10 * 60_000
    grant(store, "u1", t - DAY)
    batch = [ev("u1", 1, t),
             {"event_id": "c1", "user_id": "u1", "event_type": "consent",
              "timestamp": ts_iso(t + 1000),
              "properties": {"revoked": ["analytics"], "method": "banner",
                             "notice_version": "7", "legal_basis": "consent"}},
             ev("u1", 2, t + 2000), ev("u1", 3, t - 1000),
             {"event_id": "c2", "user_id": "u1", "event_type": "consent",
              "timestamp": ts_iso(t), "properties": {"granted": ["nope"]}}]
    result = ingestor.ingest([(None, e) for e in batch])
    # Events before the revocation are stored; the one after it is not; the bad one is a
    # dead letter with its reason.
    assert result.processed == 3 and result.no_consent == 1 and result.dead_lettered == 1
    assert result.reasons == {"bad_consent": 1}
    assert sorted(e["event_id"] for e in store.user_events("u1")) == ["u1-1", "u1-3"]
    assert store.consent_for(["u1"]) == {"u1": {"behavioral_analysis"}}
    last = store.consent_history("u1")[-1]
    assert (last["method"], last["version"], last["granted"]) == ("banner", "7", False)
    again = ingestor.ingest([(None, batch[1])])    # the same consent event: no new entry
    assert len(store.consent_history("u1")) == 3 and again.processed == 1
    later = ingestor.ingest([(None, ev("u1", 4, t + 5000))])
    assert later.no_consent == 1


# --- the audit ------------------------------------------------------------------------------

def test_audit_passes_clean_and_finds_what_is_planted(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADVY_PSEUDONYM_KEY", "k" * 32)
    engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    t = now_ms() - 3_600_000
    for user in ("u1", "u2"):
        grant(store, user, t - DAY)
        ingestor.ingest([(None, ev(user, i, t + i)) for i in range(5)])
    clean = audit_now()
    assert clean["status"] == "pass", [c for c in clean["checks"] if c["status"] != "pass"]
    # Plant: an event stored without consent at its time, a record past retention, a phone
    # number in a task argument.
    from gradvy_console.analytics.events import Event

    store.record_consent("u2", {"analytics": False}, method="form", version="1",
                         legal_basis="consent", actor="t", at_ms=t + 100)
    with store.transaction() as tx:
        tx.insert_events([Event("planted", "u2", "search", t + 200, None, {}, "h")], {})
        tx.add_dead_letters([Rejection("bad_json", "x", b"{", None, None)], [None],
                            t - 40 * DAY)
    store.add_task_runs([{"task_id": "t9", "task": "analyze_user_behavior",
                          "queue": "analytics", "status": "failed", "started_ms": t,
                          "ended_ms": t, "duration_s": 0.1, "error": "x", "args_summary": "",
                          "args_json": {"args": ["call me on +44 20 7946 0958"]}}])
    planted = audit_now()
    by = {c["check"]: c for c in planted["checks"]}
    assert planted["status"] == "fail"
    assert by["consent_at_event_time"]["status"] == "fail"
    assert by["consent_at_event_time"]["evidence"]["events_outside_consent"] == 1
    assert by["retention"]["status"] == "warn"
    assert by["retention"]["evidence"]["collections"]["dead_letters"]["expired"] == 1
    assert by["pii_scan"]["status"] == "fail"
    assert by["pii_scan"]["evidence"]["found"] == {"task_arguments": {"phone": 1}}
    assert "7946" not in json.dumps(planted)             # counts, never the values
    alerts = {a["key"] for a in store.alerts(active_only=True)}
    assert {"privacy_audit:consent_at_event_time", "privacy_audit:pii_scan"} <= alerts
    assert len(store.get_documents("audits")) == 2
    # Fixed (the learner without consent erased): their alert clears.
    store.erase_users(["u2"], terms_for(["u2"]), "erased")
    later = audit_now()
    by = {c["check"]: c for c in later["checks"]}
    assert by["consent_at_event_time"]["status"] == "pass"
    assert "privacy_audit:consent_at_event_time" not in {
        a["key"] for a in store.alerts(active_only=True)}


def test_audit_flags_files_readable_by_others_and_the_key_beside_the_data(tmp_path: Path
                                                                          ) -> None:
    config = engine(tmp_path)
    store = runtime.store()
    grant(store, "u1", 1)
    leak = config.data_dir / "exports" / "leak.json"
    leak.parent.mkdir(mode=0o700)
    leak.write_text("{}")
    os.chmod(leak, 0o644)
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["keys_and_files"]["status"] == "fail"
    assert by["keys_and_files"]["evidence"]["files_readable_by_others"] == 1
    os.chmod(leak, 0o600)
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["keys_and_files"]["status"] == "warn"      # the key file is in the data dir
    assert by["keys_and_files"]["evidence"]["key_in_data_dir"] is True


def test_audit_cleans_learners_who_revoked_analytics_and_went_quiet(tmp_path: Path) -> None:
    engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    old = now_ms() - 60 * DAY
    grant(store, "u1", old - DAY, "analytics", "behavioral_analysis", "personalization")
    ingestor.ingest([(None, ev("u1", 1, old))])
    store.put_documents("user_analysis", [{"_id": "u1:1", "user_id": "u1", "as_of_ms": old}])
    store.record_consent("u1", {"analytics": False, "behavioral_analysis": False,
                                "personalization": False}, method="form", version="1",
                         legal_basis="consent", actor="t", at_ms=old + 1)
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["revoked_inactive_cleaned"]["evidence"]["found"] == 1
    assert store.get_documents("user_analysis", user_id="u1") == []
    assert store.get_user("u1")["acc"] == {}        # type: ignore[index]
    assert store.consent_history("u1")              # the ledger stays


# --- retention -------------------------------------------------------------------------------

def test_cleanup_removes_what_is_past_retention_and_a_dry_run_nothing(tmp_path: Path) -> None:
    config = engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    now = now_ms()
    grant(store, "u1", now - 500 * DAY)
    ingestor.ingest([(None, ev("u1", i, now - (400 - i) * DAY + DAY // 2)) for i in range(100)])
    ingestor.ingest([(None, ev("u1", 1000 + i, now - 100 * DAY, "learning_session",
                               duration=60)) for i in range(3)])
    assert store.count_events() == 103
    dry = cleanup(config, store, dry_run=True)
    rows = {c.collection: c for c in dry.collections}
    assert rows["events"].expired == 35 and rows["events"].removed == 0   # older than 365 d
    assert rows["sessions"].expired == 3
    assert store.count_events() == 103
    done = cleanup(config, store)
    rows = {c.collection: c for c in done.collections}
    assert rows["events"].removed == 35 and rows["sessions"].removed == 3
    assert store.count_events() == 65
    assert all(r.within_policy for r in survey(config, store) if r.collection in
               ("events", "sessions"))
    assert done.bytes_freed is not None


def test_retention_values_must_be_positive_days(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[retention]\nevents = 0\n")
    os.chmod(cfg, 0o600)
    with pytest.raises(ConfigError, match="retention.events .* must be a positive number of "
                                          "days, not 0.0"):
        load_config(cfg)
    cfg.write_text("[retention]\nevents = \"a year\"\n")
    with pytest.raises(ConfigError, match="retention.events .* must be a number"):
        load_config(cfg)
    out = gradvy(["--config", str(cfg), "run", "cleanup"], env_for(tmp_path / "d"), tmp_path)
    assert out.returncode == 2 and "retention.events" in out.stderr
    assert "Traceback" not in out.stderr


# --- export ----------------------------------------------------------------------------------

def test_export_holds_everything_and_is_private(tmp_path: Path) -> None:
    config = engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    t = now_ms() - 60_000
    grant(store, "u1", t - DAY)
    ingestor.ingest([(None, ev("u1", i, t + i)) for i in range(3)])
    store.put_documents("anomalies", [{"_id": "a1", "user_id": "u1", "kind": "bot"}])
    report = export_user(config, store, runtime.live(), "u1")
    path = Path(report.path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["format"] == "gradvy-export/1" and doc["user_id"] == "u1"
    assert len(doc["events"]) == 3 and doc["profile"]["events"] == 3
    assert [h["purpose"] for h in doc["consent_history"]] == ["analytics",
                                                              "behavioral_analysis"]
    assert doc["anomalies"][0]["kind"] == "bot" and doc["live"]["keys"]
    assert doc["suppressed"] is False and doc["erasure_requests"] == []
    none = export_user(config, store, runtime.live(), "nobody")
    assert not none.known


# --- erasure: kill -9 half way, then the next run completes ----------------------------------

def test_erasure_killed_half_way_resumes_and_verifies(tmp_path: Path) -> None:
    engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    t = now_ms() - 60_000
    for user in ("u1", "u2"):
        grant(store, user, t - DAY)
        ingestor.ingest([(None, ev(user, i, t + i)) for i in range(50)])
    doc = request_erasure(runtime.get_config(), store, "u1", "ticket")
    runtime.close()
    # A run that stops after the store step (a holder that never returns), then kill -9.
    script = textwrap.dedent(f"""
        import time
        from gradvy_console import runtime
        from gradvy_console.config import load_config
        from gradvy_console.privacy import run_erasures
        runtime.activate(load_config())
        class Stuck:
            name = "stuck"
            def erase(self, user_ids, terms):
                print("erasing", flush=True)
                time.sleep(3600)
            def find(self, terms):
                return 0
        run_erasures(runtime.get_config(), runtime.store(), [Stuck()], ["{doc['_id']}"])
    """)
    env = env_for(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "erasing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    engine(tmp_path)
    store = runtime.store()
    state = store.get_documents("erasure_requests")[0]
    assert state["status"] == "running" and state["step"] == "stuck"
    results = erase_now([])            # the next run picks up every unfinished request
    assert [r["status"] for r in results] == ["verified"]
    assert store.user_events("u1") == [] and len(store.user_events("u2")) == 50
    assert "sealed" not in store.get_documents("erasure_requests")[0]


# --- erasure leaves every other learner exactly as before ------------------------------------

@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["alice1", "alice12", "bob-22", "bob-222", "u7",
                                           "alice1x"]),
                          st.integers(0, 50), st.sampled_from(["search", "quiz_attempt",
                                                               "learning_session"])),
                min_size=5, max_size=60),
       st.sampled_from(["alice1", "bob-22", "alice12", "u7"]))
def test_erasing_one_learner_leaves_every_other_as_before(
        tmp_path_factory: pytest.TempPathFactory, events: list[tuple[str, int, str]],
        victim: str) -> None:
    tmp_path = tmp_path_factory.mktemp("prop")
    config = engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    t = now_ms() - 3_600_000
    users = sorted({u for u, _i, _e in events} | {victim})
    for user in users:
        grant(store, user, t - DAY)
    payloads: list[tuple[str | None, Any]] = []
    for n, (user, i, etype) in enumerate(events):
        props: dict[str, Any] = {"query": f"about {victim}"} if etype == "search" else (
            {"score": 3, "total_questions": 5} if etype == "quiz_attempt" else {"duration": 60})
        payloads.append((None, {"event_id": f"e{n}", "user_id": user, "event_type": etype,
                                "timestamp": ts_iso(t + i * 1000), "properties": props}))
    ingestor.ingest(payloads)

    def picture(user: str) -> Any:
        return (store.user_events(user, 10_000), store.get_user(user),
                store.consent_history(user), store.consent_for([user]))
    others = [u for u in users if u != victim]
    before = {u: picture(u) for u in others}
    doc = request_erasure(config, store, victim)
    results = run_erasures(config, store, trace_holders(), [doc["_id"]])
    assert results[0].status == "verified", results[0]
    assert store.user_events(victim) == [] and store.get_user(victim) is None
    after = {u: picture(u) for u in others}
    # Others are exactly as before, but for where their own data named the victim (a search
    # for them): there the victim's id is replaced by the request's marker.
    marker = f"erased:{doc['subject']}"
    for u in others:
        expected, _n = scrub_value(json.loads(json.dumps(before[u], default=list)),
                                   terms_for([victim]), marker)
        assert json.loads(json.dumps(after[u], default=list)) == expected
    runtime.close()


def test_consent_past_its_max_age_is_revoked_by_the_audit(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[consent]\nmax_age_days = 30\n")
    os.chmod(cfg, 0o600)
    runtime.activate(load_config(cfg, env={"GRADVY_DATA_DIR": str(tmp_path / "data")}))
    store, ingestor = runtime.store(), runtime.ingestor()
    grant(store, "old", now_ms() - 40 * DAY)
    grant(store, "new", now_ms() - 10 * DAY)
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["consent_at_event_time"]["evidence"]["consents_expired_now"] == 2  # 2 purposes
    assert store.consent_for(["old", "new"]) == {"old": set(),
                                                  "new": {"analytics", "behavioral_analysis"}}
    assert store.consent_history("old")[-1]["method"] == "expired"
    result = ingestor.ingest([(None, ev("old", 1, now_ms() - 60_000)),
                              (None, ev("new", 1, now_ms() - 60_000))])
    assert result.no_consent == 1 and result.processed == 1


def test_audit_rechecks_erased_learners_by_key_and_lets_unsuppressed_ones_back(
        tmp_path: Path) -> None:
    from gradvy_console.privacy import unsuppress

    config = engine(tmp_path)
    store, ingestor = runtime.store(), runtime.ingestor()
    grant(store, "learner-1", now_ms() - DAY)
    ingestor.ingest([(None, ev("learner-1", 1, now_ms() - 60_000))])
    doc = request_erasure(config, store, "learner-1")
    assert erase_now([doc["_id"]])[0]["status"] == "verified"
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["erasure"]["status"] == "pass"
    # Data of the erased learner coming back behind the suppression's back is found by key.
    grant(store, "learner-1", now_ms())
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["erasure"]["status"] == "fail"
    assert by["erasure"]["evidence"]["erased_or_suppressed_ids_held"] == 1
    # Let in again on purpose: no longer a finding.
    assert unsuppress(config, store, "learner-1")
    by = {c["check"]: c for c in audit_now()["checks"]}
    assert by["erasure"]["status"] == "pass"
