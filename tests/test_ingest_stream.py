"""`gradvy run ingest` streams: constant memory whatever the input's size, an oversized line
dead-lettered without being held whole, NDJSON and JSON arrays split alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import GRADVY, env_for, gradvy

from gradvy_console.ingest import read_event_source

STAMP = "2025-12-31T10:00:00Z"


def _event(n: int) -> dict[str, object]:
    return {"event_id": f"e{n}", "user_id": "u1", "event_type": "search", "timestamp": STAMP,
            "properties": {"query": f"q {n}, \"quoted\" [x] {{y}}"}}


@pytest.mark.parametrize("shape", ["ndjson", "array"])
def test_both_shapes_split_into_the_same_items(tmp_path: Path, shape: str) -> None:
    events = [_event(n) for n in range(500)]
    path = tmp_path / "in.json"
    if shape == "ndjson":
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\nnot json\n")
    else:
        path.write_bytes(orjson.dumps(events)[:-1] + b', "x", {"a": [1, {"b": "]"}]}]')
    items, bad = read_event_source(str(path))
    got = [v for _, v in items]
    assert got[:500] == events
    if shape == "ndjson":
        assert [r.reason for r in bad] == ["bad_json"] and "line 501" in bad[0].detail
    else:
        assert got[500:] == ["x", {"a": [1, {"b": "]"}]}] and bad == []


def test_an_oversized_line_is_too_large_and_its_neighbours_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    huge = b'{"user_id": "u1", "q": "' + b"x" * 3_000_000 + b'"}'
    path.write_bytes(orjson.dumps(_event(1)) + b"\n" + huge + b"\n" + orjson.dumps(_event(2)))
    items, bad = read_event_source(str(path))
    assert [v["event_id"] for _, v in items] == ["e1", "e2"]
    assert [r.reason for r in bad] == ["too_large"]
    assert f"line 2 is {len(huge)} bytes" in bad[0].detail and len(bad[0].payload) <= 512


def test_ingest_of_a_large_file_stays_under_a_fixed_memory_bound(tmp_path: Path) -> None:
    """60 MB in: a 40 MB line and 100,000 events. The old reader held the whole file, its
    split lines and every decoded event at once (912 MB peak for a 200 MB line)."""
    path = tmp_path / "big.ndjson"
    with path.open("wb") as sink:
        sink.write(b'{"user_id": "u1", "blob": "' + b"y" * 40_000_000 + b'"}\n')
        line = orjson.dumps(_event(0))
        for n in range(100_000):
            sink.write(line.replace(b'"e0"', f'"e{n}"'.encode()) + b"\n")
    env = env_for(tmp_path / "data")
    assert gradvy(["run", "consent", "u1", "--grant", "analytics,behavioral_analysis"], env,
                  tmp_path).returncode == 0
    code = ("import resource, sys\nsys.argv = ['gradvy', 'run', 'ingest', sys.argv[1], '--json']\n"
            "from gradvy_console.cli import main\ntry:\n    main()\nfinally:\n"
            "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")

    def peak_mib(source: Path) -> tuple[float, dict[str, object]]:
        out = subprocess.run([sys.executable, "-c", code, str(source)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        found: dict[str, object] = json.loads(out.stdout)
        return int(out.stderr.strip().splitlines()[-1]) / 1024, found

    tiny = tmp_path / "tiny.ndjson"
    tiny.write_bytes(orjson.dumps(_event(-1)) + b"\n")
    base, _ = peak_mib(tiny)          # the interpreter, the imports, one event
    peak, result = peak_mib(path)
    assert result["processed"] == 100_000 and result["reasons"] == {"too_large": 1}
    print(f"peak RSS {peak:.0f} MiB, {peak - base:.0f} MiB above one event's run")
    # Constant memory: 60 MB of input cost no more than a bounded working set (the old
    # reader needed several times the file: 200 MiB above this baseline and more).
    assert peak - base < 100, f"peak RSS {peak:.0f} MiB, {base:.0f} MiB for one event"


def test_closed_stdin_is_one_sentence(tmp_path: Path) -> None:
    out = subprocess.run(GRADVY + ["run", "ingest", "-"], env=env_for(tmp_path / "d"),
                         cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "accepted 0" in out.stdout   # empty input: nothing to do
    code = "import sys; sys.stdin.close(); from gradvy_console.cli import main; main()"
    out = subprocess.run([sys.executable, "-c", code, "run", "ingest", "-"],
                         env=env_for(tmp_path / "d"), cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "Standard input is closed" in out.stderr
    assert "Traceback" not in out.stderr
