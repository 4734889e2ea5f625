"""A damaged, truncated or lost store and a full disk are one sentence each, with a
documented exit code (3 damaged data, 4 full disk), naming the file; nothing accepted is lost
on a full disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
from helpers import env_for, gradvy, status


def _fresh(tmp_path: Path) -> dict[str, str]:
    env = env_for(tmp_path / "data")
    assert gradvy(["run", "simulate-data", "--simulate-count", "2000", "--seed", "4"], env,
                  tmp_path).returncode == 0
    assert gradvy(["run", "process-events"], env, tmp_path).returncode == 0
    return env


def _one_sentence(out: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    for word in words:
        assert word in out.stderr, out.stderr


def test_a_damaged_store_names_the_file(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    store = tmp_path / "data" / "store.db"
    store.write_bytes(b"this is not a database at all" * 100)
    _one_sentence(gradvy(["run", "status"], env, tmp_path), 3, str(store), "damaged")


def test_a_truncated_store_names_the_file(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    store = tmp_path / "data" / "store.db"
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        (tmp_path / "data" / f"store.db{suffix}").unlink(missing_ok=True)
    out = gradvy(["run", "status"], env, tmp_path)
    _one_sentence(out, 3, str(store), "damaged")


def test_an_empty_store_beside_its_queues_is_refused_not_started_over(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    store = tmp_path / "data" / "store.db"
    store.write_bytes(b"")
    out = gradvy(["run", "status"], env, tmp_path)
    _one_sentence(out, 3, str(store), "lost its contents")
    assert store.stat().st_size == 0     # not started over


def test_a_full_disk_is_one_sentence_and_loses_nothing_accepted(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    assert gradvy(["run", "consent", "u1", "--grant", "analytics,behavioral_analysis"], env,
                  tmp_path).returncode == 0
    lines = [orjson.dumps({"event_id": f"e{n}", "user_id": "u1", "event_type": "search",
                           "timestamp": "2025-12-31T10:00:00Z",
                           "properties": {"query": "x" * 400}}) for n in range(5000)]
    source = tmp_path / "events.ndjson"
    source.write_bytes(b"\n".join(lines))
    # SQLite's max_page_count gives a real "database or disk is full" without a small disk.
    code = ("import sys\nimport gradvy_console.store.sqlite as s\nreal = s.connect\n"
            "def small(path):\n    conn = real(path)\n"
            "    if path.name == 'store.db':\n"
            "        conn.execute('PRAGMA max_page_count = 300')\n    return conn\n"
            "s.connect = small\nsys.argv = ['gradvy', 'run', 'ingest', sys.argv[1]]\n"
            "from gradvy_console.cli import main\nmain()\n")
    out = subprocess.run([sys.executable, "-c", code, str(source)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    _one_sentence(out, 4, "is full", "nothing accepted was lost")
    stored_before = status(env, tmp_path)["events"]["processed"]
    assert 0 < stored_before < 5000
    # With room again, the same file completes it: every event stored exactly once.
    again = gradvy(["run", "ingest", str(source), "--json"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["processed"] + result["duplicates"] == 5000
    assert status(env, tmp_path)["events"]["processed"] == 5000


def test_doctor_finds_each_problem_and_says_what_to_do(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    out = gradvy(["run", "doctor"], {**env, "COLUMNS": "250"}, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "integrity of store.db " in out.stdout and "FAIL" not in out.stdout
    data = tmp_path / "data"
    (data / "queue.key").chmod(0o644)
    live = data / "live.db"
    live.write_bytes(live.read_bytes()[:4096] + b"\x00garbage" * 2000)
    out = gradvy(["run", "doctor", "--json"], env, tmp_path)
    assert out.returncode == 1
    failed = {f["check"]: f for f in json.loads(out.stdout) if not f["ok"]}
    assert set(failed) >= {"queue key", "permissions", "integrity of live.db"}, failed
    assert failed["queue key"]["fix"] == f"chmod 600 {data / 'queue.key'}"
    assert "chmod -R go-rwx" in failed["permissions"]["fix"]
    assert "backup" in failed["integrity of live.db"]["fix"]


def test_start_detach_reports_a_store_that_is_down_and_waits_for_its_consumers(
        tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    down = dict(env, GRADVY_MONGO_URL="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500")
    out = gradvy(["run", "start", "--detach"], down, tmp_path)
    _one_sentence(out, 2, "Cannot reach MongoDB at mongodb://127.0.0.1:1")
    assert not (tmp_path / "data" / "supervisor.pid").exists()
    out = gradvy(["run", "start", "--detach"], env, tmp_path)
    try:
        assert out.returncode == 0, out.stderr
        assert "7 consumers up" in out.stdout
        consumers = status(env, tmp_path)["consumers"]
        assert len({c["queue"] for c in consumers if c["alive"]}) == 7
    finally:
        assert gradvy(["run", "stop"], env, tmp_path).returncode == 0
