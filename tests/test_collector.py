"""The HTTP collector as a frontend meets it: a real `gradvy serve` process on a free port and a
real HTTP client (httpx). Every status code, gzip, NDJSON, per-event results, rate limit,
back-pressure, CORS, keys; kill -9 right after a 200 loses nothing; /metrics agrees with
`gradvy run status --json`."""

from __future__ import annotations

import base64
import fcntl
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from collector_server import KEY_SLOW, KEY_WEB, ORIGIN, Collector, free_port, key_entry
from helpers import GRADVY, env_for, wait_for
from prometheus_client.parser import text_string_to_metric_families


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


NOW = datetime.now(UTC)


def event(i: int, user: str = "web-u1", **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{user}-e{i}", "user_id": user, "event_type": "course_interaction",
            "timestamp": iso(NOW - timedelta(minutes=5)),
            "properties": {"course_id": f"c{i % 7}", "action": "view"}, **extra}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    collector = Collector(tmp_path_factory.mktemp("collector"))
    yield collector
    collector.stop()


def stored(data: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data / "store.db", timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def grant(server: Collector, *users: str) -> None:
    rows = [{"user_id": u, "granted": ["analytics", "behavioral_analysis"], "method": "banner",
             "notice_version": "3", "legal_basis": "consent"} for u in users]
    answer = server.post("/v1/consent", rows)
    assert answer.status_code == 200, answer.text


# --- operators' routes -----------------------------------------------------------------------
def test_health_readiness_and_the_openapi_document(server: Collector) -> None:
    health = server.http.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = server.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready",
                            "checks": {"store": "ok", "queues": "ok", "live": "ok"}}
    doc = server.http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.0")
    assert {"/v1/events", "/v1/consent", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])


# --- keys ------------------------------------------------------------------------------------
def test_a_missing_key_is_401_and_a_wrong_one_403_and_neither_reaches_the_store(
        server: Collector) -> None:
    before = server.gradvy("run", "status", "--json")
    missing = server.post("/v1/events", event(1), key=None)
    assert missing.status_code == 401 and missing.json()["error"] == "missing_key"
    wrong = server.post("/v1/events", event(1), key="gk_not_a_key_of_ours_at_all")
    assert wrong.status_code == 403 and wrong.json()["error"] == "unknown_key"
    empty = server.post("/v1/events", event(1), key=None, headers={"X-Write-Key": ""})
    assert empty.status_code in (401, 403)
    after = server.gradvy("run", "status", "--json")
    assert json.loads(before.stdout)["events"] == json.loads(after.stdout)["events"]


def test_the_key_is_taken_from_bearer_basic_header_or_query(server: Collector) -> None:
    basic = base64.b64encode(f"{KEY_WEB}:".encode()).decode()
    for i, headers in enumerate(({"Authorization": f"Bearer {KEY_WEB}"},
                                 {"Authorization": f"Basic {basic}"},
                                 {"X-Write-Key": KEY_WEB})):
        answer = server.http.post("/v1/events", content=orjson.dumps(event(100 + i, "keys")),
                                  headers={"Content-Type": "application/json", **headers})
        assert answer.status_code == 200, answer.text
    beacon = server.http.post(f"/v1/events?key={KEY_WEB}", content=orjson.dumps(
        event(110, "keys")), headers={"Content-Type": "text/plain"})
    assert beacon.status_code == 200 and beacon.json()["accepted"] == 1


# --- bodies ----------------------------------------------------------------------------------
def test_content_types_encodings_and_unreadable_bodies(server: Collector) -> None:
    html = server.post("/v1/events", content=b"<p>", headers={"Content-Type": "text/html"})
    assert html.status_code == 415 and "Content-Type" in html.json()["message"]
    none = server.http.post("/v1/events", content=b"{}",
                            headers={"Authorization": f"Bearer {KEY_WEB}"})
    assert none.status_code == 415
    brotli = server.post("/v1/events", content=b"x", headers={"Content-Encoding": "br"})
    assert brotli.status_code == 415
    for content in (b"", b"   ", b"not json at all", b"{\"user_id\": "):
        answer = server.post("/v1/events", content=content)
        assert answer.status_code == 400, (content, answer.text)
        assert answer.json()["message"].endswith(".")
    broken = server.post("/v1/events", content=b"\x1f\x8b\x08garbage",
                         headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and broken.json()["error"] == "bad_gzip"


def test_gzip_and_ndjson_with_a_bad_line(server: Collector) -> None:
    lines = [orjson.dumps(event(i, "ndjson")) for i in range(3)]
    body = b"\n".join([lines[0], b"{not json", lines[1], b"", lines[2]]) + b"\n"
    answer = server.post("/v1/events", content=gzip.compress(body),
                         headers={"Content-Type": "application/x-ndjson",
                                  "Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert [r["outcome"] for r in data["results"]] == ["accepted", "rejected", "accepted",
                                                       "accepted"]
    assert data["results"][1]["reason"] == "bad_json"
    assert (data["accepted"], data["rejected"]) == (3, 1)


def test_limits_on_events_and_bytes_and_a_gzip_bomb(server: Collector) -> None:
    many = server.post("/v1/events", [event(i, "many") for i in range(51)])
    assert many.status_code == 413 and many.json()["error"] == "too_many_events"
    big = server.post("/v1/events", content=b"[" + b" " * 20_001 + b"]")
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    assert len(bomb) < 20_000
    answer = server.post("/v1/events", content=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert server.http.get("/healthz").status_code == 200


# --- per-event outcomes ----------------------------------------------------------------------
def test_every_event_gets_its_outcome_and_rejections_are_dead_letters(
        server: Collector) -> None:
    before = json.loads(server.gradvy("run", "status", "--json").stdout)["events"]
    good = event(1, "mixed")
    batch = [
        good,
        {"event_id": "mixed-nouser", "event_type": "search", "timestamp": iso(NOW)},
        event(2, "mixed", timestamp=iso(NOW + timedelta(days=3))),
        dict(good),                                            # the same event again
        {**event(1, "mixed"), "properties": {"course_id": "other"}},   # same id, other content
        {"event_id": "mixed-quiz", "user_id": "mixed", "event_type": "quiz_attempt",
         "timestamp": iso(NOW), "properties": {"score": 9, "total_questions": 5}},
        "not an object",
    ]
    answer = server.post("/v1/events", {"batch": batch})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    outcomes = [(r["index"], r["outcome"], r.get("reason")) for r in data["results"]]
    assert outcomes == [(0, "accepted", None), (1, "rejected", "missing_field"),
                        (2, "rejected", "future_timestamp"), (3, "duplicate", None),
                        (4, "rejected", "id_collision"), (5, "rejected", "out_of_range"),
                        (6, "rejected", "not_object")]
    assert data["results"][0]["event_id"] == "mixed-e1"
    assert (data["accepted"], data["duplicate"], data["rejected"]) == (1, 1, 5)
    after = json.loads(server.gradvy("run", "status", "--json").stdout)["events"]
    assert after["dead_lettered"] - before["dead_lettered"] == 5
    for reason in ("missing_field", "future_timestamp", "id_collision", "out_of_range",
                   "not_object"):
        assert after["rejected"].get(reason, 0) - before["rejected"].get(reason, 0) == 1
    letters = dict(stored(server.data, "SELECT event_id, reason FROM dead_letters WHERE "
                          "event_id LIKE 'mixed-%'"))
    assert letters == {"mixed-nouser": "missing_field", "mixed-e2": "future_timestamp",
                       "mixed-e1": "id_collision", "mixed-quiz": "out_of_range"}


def test_events_nested_past_every_limit_are_rejected_never_a_500(server: Collector) -> None:
    def nested(n: int) -> bytes:
        return (b'{"user_id": "deep", "event_type": "search", "timestamp": "2026-12-01T10:00:00Z",'
                b' "properties": {"q": ' + b"[" * n + b"]" * n + b"}}")
    for n in (40, 300):       # past [ingest] max_depth; past what JSON encoders take
        answer = server.post("/v1/events", content=b"[" + nested(n) + b"]")
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["reason"] == "too_deep"
    whole = server.post("/v1/events", content=nested(5000))
    assert whole.status_code == 400 and whole.json()["error"] == "too_deep"


def test_an_event_without_an_id_gets_the_id_its_content_derives(server: Collector) -> None:
    raw = {"user_id": "noid", "event_type": "search", "timestamp": iso(NOW),
           "properties": {"query": "python"}}
    first = server.post("/v1/events", raw).json()["results"][0]
    again = server.post("/v1/events", raw).json()["results"][0]
    assert first["outcome"] == "accepted" and first["event_id"].startswith("d-")
    assert again == {**first, "outcome": "duplicate"}


def test_an_event_already_stored_is_a_duplicate_and_an_erased_learner_suppressed(
        server: Collector, tmp_path: Path) -> None:
    grant(server, "stored-u", "erased-u")
    file = tmp_path / "events.ndjson"
    file.write_bytes(orjson.dumps(event(1, "stored-u")) + b"\n")
    assert server.gradvy("run", "ingest", str(file)).returncode == 0
    assert server.gradvy("run", "process-events").returncode == 0
    dup = server.post("/v1/events", event(1, "stored-u")).json()
    assert dup["results"][0]["outcome"] == "duplicate"
    forget = server.gradvy("run", "forget", "erased-u", "--reason", "test")
    assert forget.returncode == 0, forget.stderr
    letters_before = json.loads(server.gradvy("run", "status", "--json").stdout)["events"]
    gone = server.post("/v1/events", [event(5, "erased-u"), event(6, "erased-u")]).json()
    assert [r["outcome"] for r in gone["results"]] == ["suppressed", "suppressed"]
    after = json.loads(server.gradvy("run", "status", "--json").stdout)["events"]
    assert after["dead_lettered"] == letters_before["dead_lettered"]
    assert not stored(server.data, "SELECT 1 FROM inbox WHERE payload LIKE ?", "%erased-u%")


def test_sent_at_corrects_the_clients_clock_and_the_key_name_is_the_source(
        server: Collector) -> None:
    grant(server, "skewed")
    ahead = NOW + timedelta(hours=2)           # the client's clock is two hours fast
    body = {"batch": [event(1, "skewed", timestamp=iso(ahead - timedelta(seconds=30)))],
            "sent_at": iso(ahead)}
    sent = time.time()
    answer = server.post("/v1/events", body).json()
    assert answer["results"][0]["outcome"] == "accepted", answer
    assert server.gradvy("run", "process-events").returncode == 0
    ((ts, source),) = stored(server.data, "SELECT ts, source FROM events WHERE event_id = ?",
                             "skewed-e1")
    # timestamp = received_at - (sent_at - timestamp) = received_at - 30 s
    assert abs(ts / 1000 - (sent - 30)) < 5
    assert source == "web"


# --- rate, back-pressure, busy store ----------------------------------------------------------
def test_a_key_over_its_rate_gets_429_with_retry_after(server: Collector) -> None:
    first = server.post("/v1/events", [event(i, "slow") for i in range(3)], key=KEY_SLOW)
    assert first.status_code == 200 and first.json()["accepted"] == 3
    over = server.post("/v1/events", [event(i, "slow") for i in range(3, 6)], key=KEY_SLOW)
    assert over.status_code == 429 and over.json()["error"] == "rate_limited"
    assert int(over.headers["Retry-After"]) >= 1
    time.sleep(1.6)                  # 2 events/s: three tokens are back after 1.5 s
    again = server.post("/v1/events", [event(i, "slow") for i in range(3, 6)], key=KEY_SLOW)
    assert again.status_code == 200


def test_back_pressure_and_a_busy_store_answer_503_with_retry_after(tmp_path: Path) -> None:
    tight = Collector(tmp_path, "max_backlog = 5\ncommit_timeout_seconds = 1\n"
                                "retry_after_seconds = 7\n")
    try:
        lock = open(tight.data / "store.db.lock", "a+")
        fcntl.flock(lock, fcntl.LOCK_EX)     # another writer holds the store
        try:
            started = time.monotonic()
            busy = tight.post("/v1/events", event(1, "busy"))
            assert busy.status_code == 503 and busy.json()["error"] == "store_busy"
            assert busy.headers["Retry-After"] == "7"
            assert time.monotonic() - started < 5
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
        # The commit that waited went through once the store was free: the retry is a
        # duplicate, never a second copy.
        retry = wait_for(lambda: (r := tight.post("/v1/events", event(1, "busy"))).status_code
                         == 200 and r, 10, "the store to be free again")
        assert retry.json()["results"][0]["outcome"] == "duplicate"
        fill = tight.post("/v1/events", [event(i, "busy") for i in range(2, 6)])
        assert fill.json()["accepted"] == 4           # five events wait in the inbox now
        full = wait_for(lambda: (r := tight.post("/v1/events", event(9, "busy"))).status_code
                        == 503 and r, 10, "the backlog to be seen")
        assert full.json()["error"] == "backlog" and full.headers["Retry-After"] == "7"
    finally:
        tight.stop()


# --- CORS ------------------------------------------------------------------------------------
def test_cors_preflight_and_origins(server: Collector) -> None:
    ok = server.http.options("/v1/events", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "authorization" in ok.headers["Access-Control-Allow-Headers"].lower()
    stranger = server.http.options("/v1/events", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert stranger.status_code == 403
    assert "Access-Control-Allow-Origin" not in stranger.headers
    allowed = server.post("/v1/events", event(1, "cors"), headers={"Origin": ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    refused = server.post("/v1/events", event(2, "cors"),
                          headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["error"] == "origin_not_allowed"
    slow_from_browser = server.post("/v1/events", event(3, "cors"), key=KEY_SLOW,
                                    headers={"Origin": ORIGIN})
    assert slow_from_browser.status_code == 403


# --- consent ---------------------------------------------------------------------------------
def test_bulk_consent_goes_to_the_ledger_idempotently(server: Collector) -> None:
    rows = [{"user_id": "c-u1", "granted": ["analytics"], "method": "banner",
             "notice_version": "3", "legal_basis": "consent", "time": "2026-11-01T10:00:00Z"},
            {"user_id": "c-u2", "granted": "analytics;personalization", "method": "app",
             "notice_version": "3", "legal_basis": "consent", "time": "2026-11-01T10:00:00Z"},
            {"user_id": "c-u3", "granted": ["telepathy"], "method": "app",
             "notice_version": "3", "legal_basis": "consent"}]
    first = server.post("/v1/consent", rows).json()
    assert (first["rows"], first["accepted"], first["added"]) == (3, 2, 3)
    assert first["rejected"] == [{"index": 2, "reason": "unknown purpose 'telepathy'"}]
    again = server.post("/v1/consent", rows).json()
    assert (again["accepted"], again["added"]) == (2, 0)
    actors = {a for (a,) in stored(server.data, "SELECT DISTINCT actor FROM consent_history "
                                                "WHERE user_id LIKE 'c-u%'")}
    assert actors == {"collector:web"}


# --- durability ------------------------------------------------------------------------------
def test_kill_9_right_after_a_200_loses_none_of_its_events(tmp_path: Path) -> None:
    victim = Collector(tmp_path)
    users = [f"k9-u{i}" for i in range(5)]
    try:
        grant(victim, *users)
        batch = [event(i, users[i % 5]) for i in range(50)]
        answer = victim.post("/v1/events", batch)
        victim.proc.send_signal(signal.SIGKILL)      # at once, before anything else runs
        assert answer.status_code == 200 and answer.json()["accepted"] == 50
    finally:
        victim.stop(signal.SIGKILL)
    assert victim.proc.returncode == -signal.SIGKILL
    out = victim.gradvy("run", "process-events")
    assert out.returncode == 0, out.stderr
    ids = {i for (i,) in stored(victim.data, "SELECT event_id FROM events")}
    assert ids == {e["event_id"] for e in batch}


# --- metrics ---------------------------------------------------------------------------------
def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_parse_and_agree_with_status(server: Collector) -> None:
    server.post("/v1/events", [event(i, "metrics") for i in range(4)] + [{"user_id": "x"}])
    # The collector hands receipts to the realtime queue at most every 50 ms: wait until the
    # queue depth it shows holds still, so /metrics and status read the same queues.
    def depth() -> float:
        return _samples(server.http.get("/metrics").text)[
            ("gradvy_queue_depth", (("queue", "realtime"),))]
    last = depth()
    for _ in range(50):
        time.sleep(0.2)
        now = depth()
        if now == last:
            break
        last = now
    scraped = server.http.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    status = json.loads(server.gradvy("run", "status", "--json").stdout)
    textfile = server.gradvy("run", "metrics")
    assert textfile.returncode == 0
    for text in (scraped.text, textfile.stdout):
        m = _samples(text)
        events = status["events"]
        assert m[("gradvy_events_total", (("outcome", "dead_lettered"),))] == \
            events["dead_lettered"]
        assert m[("gradvy_events_total", (("outcome", "processed"),))] == events["processed"]
        assert m[("gradvy_events_total", (("outcome", "suppressed"),))] == events["suppressed"]
        assert m[("gradvy_inbox_events", ())] == events["pending"]
        for reason, n in events["rejected"].items():
            assert m[("gradvy_dead_letters_total", (("reason", reason),))] == n
        for queue, q in status["queues"].items():
            assert m[("gradvy_queue_depth", (("queue", queue),))] == (q["pending"] or 0)
            assert m[("gradvy_queue_consumers", (("queue", queue),))] == q["consumers"]
        assert m[("gradvy_collector_accepted_events_total", ())] == events["collector_accepted"]
        assert m[("gradvy_users", ())] == status["users"]["total"]
    m = _samples(scraped.text)
    assert m[("gradvy_collector_requests_total", (("route", "events"), ("status", "200")))] >= 1
    assert m[("gradvy_collector_request_duration_seconds_count", (("route", "events"),))] >= 1
    assert m[("gradvy_collector_events_total", (("outcome", "rejected"), ("type", "none")))] >= 1
    assert m[("gradvy_collector_processes", ())] == 1     # this server's heartbeat
    target = server.tmp / "gradvy.prom"
    written = server.gradvy("run", "metrics", "--output", str(target))
    assert written.returncode == 0 and target.read_text().startswith("# HELP")


def test_two_server_processes_share_the_port_and_sum_their_metrics(tmp_path: Path) -> None:
    pair = Collector(tmp_path, workers=2)
    try:
        for i in range(20):
            assert pair.post("/v1/events", event(i, "pair")).json()["accepted"] == 1
        collectors = wait_for(lambda: len(c := [x for x in json.loads(pair.gradvy(
            "run", "status", "--json").stdout)["consumers"] if x["queue"] == "collector"
            and x["alive"]]) == 2 and c, 20, "two heartbeats")
        assert len({c["pid"] for c in collectors}) == 2
        for _scrape in range(3):      # whichever process answers, the figures are the sum
            m = _samples(pair.http.get("/metrics").text)
            assert m[("gradvy_collector_requests_total",
                      (("route", "events"), ("status", "200")))] == 20
            assert m[("gradvy_collector_processes", ())] == 2
    finally:
        pair.stop()


def test_the_port_in_use_is_one_sentence(server: Collector) -> None:
    out = server.gradvy("serve", "--port", str(server.port))
    assert out.returncode == 1
    assert out.stderr.strip() == (f"gradvy: Port {server.port} on 127.0.0.1 is in use by "
                                  "another program; choose another with --port (or "
                                  "[collector] port).")
    assert "Traceback" not in out.stderr


# --- under the worker pool -------------------------------------------------------------------
def test_the_pool_runs_the_collector_restarts_it_and_its_events_are_processed(
        tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f"[collector]\nenabled = true\nport = {port}\n\n"
                      + key_entry("web", KEY_WEB, 100000))
    env = env_for(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GRADVY, "--config", str(config), *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    def collectors() -> list[dict[str, Any]]:
        out = run("run", "status", "--json")
        return [c for c in json.loads(out.stdout)["consumers"]
                if c["queue"] == "collector" and c["alive"]]

    started = run("run", "start", "--detach")
    assert started.returncode == 0, started.stderr
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                        headers={"Authorization": f"Bearer {KEY_WEB}"})
    try:
        (first,) = wait_for(collectors, 30, "the collector's heartbeat")
        assert first["worker_type"] == "http" and first["supervisor"]
        users = ["pool-u1", "pool-u2"]
        consent = http.post("/v1/consent", json=[
            {"user_id": u, "granted": ["analytics"], "method": "banner", "notice_version": "1",
             "legal_basis": "consent"} for u in users])
        assert consent.status_code == 200
        answer = http.post("/v1/events", json=[event(i, users[i % 2]) for i in range(20)])
        assert answer.status_code == 200 and answer.json()["accepted"] == 20
        # The realtime consumer takes the batch message: the events are stored.
        wait_for(lambda: json.loads(run("run", "status", "--json").stdout)["events"]
                 ["processed"] >= 20, 30, "the realtime queue to process them")
        os.kill(first["pid"], signal.SIGKILL)
        (second,) = wait_for(lambda: [c for c in collectors() if c["pid"] != first["pid"]],
                             30, "the restarted collector")
        assert wait_for(lambda: _healthy(http), 30, "the restarted collector to answer")
        assert second["pid"] != first["pid"]
    finally:
        http.close()
        stopped = run("run", "stop")
    assert stopped.returncode == 0, stopped.stderr


def _healthy(http: httpx.Client) -> bool:
    try:
        return bool(http.get("/healthz").status_code == 200)
    except httpx.TransportError:
        return False


_FAILING_STORE = """
import sqlite3, sys
from pathlib import Path
import uvicorn
from gradvy_console.collector.app import build_app
from gradvy_console.config import load_config

app = build_app(load_config(sys.argv[1]))
store = app.state.collector.store
flag = Path(sys.argv[3])
real_now, real_tx = store.transaction_now, store.transaction

def failing(real):
    def call(*args, **kwargs):
        if flag.exists():
            raise sqlite3.OperationalError("disk I/O error")
        return real(*args, **kwargs)
    return call

store.transaction_now = failing(real_now)
store.transaction = failing(real_tx)
store.inbox_upper_bound = failing(store.inbox_upper_bound)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def test_a_store_that_fails_mid_run_is_503_and_readiness_says_so(tmp_path: Path) -> None:
    """A real server process whose store starts failing (the disk, say): writes are refused
    with 503 and Retry-After, nothing is answered accepted, and it recovers by itself."""
    (tmp_path / "template").mkdir()
    template = Collector(tmp_path / "template")
    template.stop()
    port = free_port()
    flag = tmp_path / "fail"
    script = tmp_path / "failing_store.py"
    script.write_text(_FAILING_STORE)
    env = {**template.env, "GRADVY_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, str(script), str(template.config), str(port),
                             str(flag)], env=env, cwd=tmp_path)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                        headers={"Authorization": f"Bearer {KEY_WEB}",
                                 "Content-Type": "application/json"})
    try:
        assert wait_for(lambda: _healthy(http), 30, "the server")
        assert http.post("/v1/events", content=orjson.dumps(event(1, "disk"))).status_code == 200
        flag.touch()
        failed = http.post("/v1/events", content=orjson.dumps(event(2, "disk")))
        assert failed.status_code == 503 and failed.json()["error"] == "store_unreachable"
        assert int(failed.headers["Retry-After"]) >= 1
        # Within a second the store watch sees it too: refused at the door, not ready.
        wait_for(lambda: http.get("/readyz").status_code == 503, 10, "not ready")
        flag.unlink()
        ok = wait_for(lambda: (r := http.post("/v1/events", content=orjson.dumps(
            event(2, "disk")))).status_code == 200 and r, 10, "recovery")
        assert ok.json()["results"][0]["outcome"] == "accepted"
    finally:
        http.close()
        proc.terminate()
        proc.wait(30)
