"""The console's pure parts on hand-computed cases: formatting, and how the source shapes
what it read (no Textual needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gradvy_console.config import Config
from gradvy_console.console_source import consumer_rows, deployment_label, events_series
from gradvy_console.widgets.fmt import duration, size, spark, when

DAY = 86_400_000


def test_spark_scales_to_the_top_and_keeps_the_tail() -> None:
    assert spark([0, 50, 100], 3, top=100.0) == "▁▅█"       # 0 -> lowest, 50 -> 3.5 -> 4
    assert spark([1, 2, 3, 4], 2) == "▆█"                    # last two, scaled to their max
    assert spark([0, 0], 5) == "▁▁"
    assert spark([5], 0) == ""


def test_duration_size_and_when() -> None:
    assert [duration(x) for x in (None, 0.034, 42, 720, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] \
        == ["-", "34ms", "42s", "12m", "3h05m", "2d04h"]
    assert size(512) == "512 B" and size(3 * 2**20) == "3.0 MiB"
    now = 10 * DAY + 12 * 3_600_000
    assert when(now - 3_600_000, now) == "11:00:00"           # same day: time only
    assert when(now - DAY, now) == "01-10 12:00"              # another day: date and minute


def test_deployment_label() -> None:
    assert deployment_label(Config()) == "embedded"
    assert deployment_label(Config(redis_url="redis://x")) == "Redis + SQLite store"
    assert deployment_label(Config(redis_url="redis://x", mongo_url="m://")) == (
        "Redis + MongoDB")


def test_events_series_fills_missing_minutes_busiest_first() -> None:
    now = 100 * 60_000 + 5_000
    series = events_series({99: {"search": 2}, 100: {"search": 1, "quiz_attempt": 7}}, now, 3)
    assert series == (("quiz_attempt", (0, 0, 7)), ("search", (0, 2, 1)))


def test_consumer_rows_join_heartbeats_and_the_supervisor() -> None:
    beats = [{"queue": "ml", "host": "h", "pid": 7, "alive": True, "started_ms": 1,
              "cpu_percent": 3.0, "rss_bytes": 10, "current": "update_user_segments",
              "workers": 1},
             {"queue": "realtime", "host": "h", "pid": 5, "alive": False, "started_ms": 1}]
    pools = [{"host": "h", "consumers": [
        {"queue": "ml", "pid": 7, "state": "running", "restarts": 2},
        {"queue": "reports", "pid": 9, "state": "stopped", "restarts": 0}]}]
    rows = consumer_rows(beats, pools)
    assert [(r.queue, r.state, r.restarts) for r in rows] == [
        ("realtime", "dead", 0), ("ml", "running", 2), ("reports", "stopped", 0)]
    assert rows[1].current_task == "update_user_segments"


def test_the_key_bar_keeps_help_and_takes_keys_whole_by_priority() -> None:
    from gradvy_console.widgets.keybar import fit_keys

    items = [(1, 0, "g", "Start"), (1, 1, "k", "Stop"), (20, 1000, "1", "Dash"),
             (0, 3000, "?", "Help"), (3, 3001, "q", "Quit"), (4, 2000, "s", "Simulate")]
    # A key takes its characters and four cells: help 9, then the screen's own 10 and 9.
    assert fit_keys(items, 28) == [("g", "Start"), ("k", "Stop"), ("?", "Help")]
    assert fit_keys(items, 27) == [("g", "Start"), ("?", "Help")]
    # No gap filling: "s Simulate" does not fit at 45, so "2 T" (it would) stays out too.
    assert fit_keys([*items, (21, 1001, "2", "T")], 45) == [
        ("g", "Start"), ("k", "Stop"), ("?", "Help"), ("q", "Quit")]
    assert fit_keys(items, 200) == [("g", "Start"), ("k", "Stop"), ("1", "Dash"),
                                    ("s", "Simulate"), ("?", "Help"), ("q", "Quit")]
    assert fit_keys(items, 5) == [("?", "Help")]


def test_the_header_fits_one_line_at_any_width() -> None:
    from console_fake import fake_snapshot

    from gradvy_console.widgets.header import header_text

    snap = fake_snapshot()
    wide = header_text(snap, 200).plain
    assert wide.startswith("Gradvy Console") and "pool pid 4099" in wide and "UTC" in wide
    for width in (80, 60, 40):
        text = header_text(snap, width).plain
        assert "\\n" not in text and len(text) <= width, (width, text)
    assert "▲" in header_text(snap, 60).plain           # the alerts count stays


def test_an_outage_snapshot_shows_the_pool_this_hosts_processes_show(tmp_path: Path) -> None:
    """With live state unreachable, the pool comes from the data dir's pidfile (its lock held
    by a running supervisor) and the consumers from that process's children."""
    import socket
    import subprocess
    import sys

    import psutil

    from gradvy_console.config import Config
    from gradvy_console.console_source import PipelineSource
    from gradvy_console.widgets.header import header_text

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    supervisor = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, subprocess, sys, time
fd = os.open({str(data / 'supervisor.pid')!r}, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "worker",
                          "realtime", "--workers", "2"])
print("ready", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert supervisor.stdout is not None and supervisor.stdout.readline() == "ready\n"
        with socket.socket() as s:          # a port nothing listens on: Redis is down
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = Config(data_dir=data, redis_url=f"redis://127.0.0.1:{port}/0")
        snap = PipelineSource(config).snapshot()
        assert snap.backend_error is not None and snap.pool_is_local
        assert snap.pool is not None and snap.pool.pid == supervisor.pid
        assert [(c.queue, c.state, c.workers) for c in snap.consumers] == [
            ("realtime", "running", 2)]
        assert "as this host's processes show them" in header_text(snap, 200).plain
    finally:
        for child in psutil.Process(supervisor.pid).children():
            child.kill()
        supervisor.kill()
        supervisor.wait()


def test_activity_is_counted_by_event_time_and_today_stays_current() -> None:
    """Hours over the last 24 and days over the last 60 come from the store's counts by event
    time; today's day is the sum of today's hours, even between reads of the days."""
    from gradvy_console.console_source import DAY_MS, HOUR_MS, PipelineSource

    at = 100 * DAY_MS + 5 * HOUR_MS + 123            # 05:00 on day 100
    events = {at - 2 * HOUR_MS: 3, at - 7 * HOUR_MS: 4, at - 3 * DAY_MS: 9, at - 90 * DAY_MS: 1}

    class Store:
        def event_counts(self, since_ms: int, bucket_ms: int) -> dict[int, int]:
            out: dict[int, int] = {}
            for ts, n in events.items():
                if ts >= since_ms:
                    out[ts // bucket_ms * bucket_ms] = out.get(ts // bucket_ms * bucket_ms, 0) + n
            return out

    source = PipelineSource(Config())
    hours, days = source._activity(Store(), at)
    assert len(hours) == 24 and len(days) == 60
    assert hours[-3] == 3 and hours[-8] == 4 and sum(hours) == 7
    # Day 100 holds 03:00 (3); 22:00 of day 99 is the 4; day 97 holds 9; day 10 is too old.
    assert days[-1] == 3 and days[-2] == 4 and days[-4] == 9 and sum(days) == 16
    events[at - 100] = 5                             # five new events this hour
    source._hours_at = -1e9                          # the hours are read again, the days not
    hours, days = source._activity(Store(), at)
    assert hours[-1] == 5 and days[-1] == 8
    # An import reaching back weeks: once the store's processed count moves, the days are read
    # again with the hours, not ten minutes later.
    events[at - 20 * DAY_MS] = 6
    source._hours_at = -1e9
    assert source._activity(Store(), at)[1][-21] == 0          # the count has not moved
    source._hours_at = -1e9
    assert source._activity(Store(), at, processed=6)[1][-21] == 6


def test_queue_history_and_its_chart() -> None:
    from gradvy_console.console_source import queue_history
    from gradvy_console.widgets.activity_chart import activity_text
    from gradvy_console.widgets.queue_history_chart import queue_history_text

    samples: list[dict[str, Any]] = [
        {"at_ms": 1}, {"queues": {"realtime": [5, 2.0], "ml": [0, None]}},
        {"queues": {"realtime": [9, 14.0], "ml": [0, None]}}]
    history = {h.name: h for h in queue_history(samples)}
    assert history["realtime"].depths == (0, 5, 9)
    assert history["realtime"].oldest_ages == (None, 2.0, 14.0)
    text = queue_history_text(tuple(history.values()), 80).plain
    assert "realtime" in text and "now       9 peak 9 oldest 14s" in text
    assert "empty all hour: analytics, ml, reports" in text
    chart = activity_text((0,) * 23 + (7,), (1,) * 60, 80).plain
    assert "by hour, 24 h" in chart and "7 peak 7/h" in chart and "60 peak 1/d" in chart
    # 60 days in 40 cells: two days a cell (30 cells), the total and peak over all 60.
    assert chart.splitlines()[1].count("█") == 30
    assert activity_text((), (), 80).plain == "No stored events in the last 60 days."


def test_histogram_and_the_insights_bars() -> None:
    from gradvy_console.analytics.reports import bin_of, histogram
    from gradvy_console.screens.insights import bars

    edges = [0.0, 0.2, 0.4, 0.6, 0.8]
    # 0.2 opens the second bin; 1.0 and above fall in the last; below 0 in the first.
    assert [bin_of(v, edges) for v in (0.0, 0.19, 0.2, 0.79, 0.8, 1.0, 3.0, -1.0)] == [
        0, 0, 1, 3, 4, 4, 4, 0]
    assert histogram([0.1, 0.1, 0.5, 0.95, 0.2], edges) == [2, 1, 1, 0, 1]
    assert histogram([], edges) == [0, 0, 0, 0, 0]
    chart = bars("risk", [("low", 8), ("high", 2), ("none", 0)]).plain.splitlines()
    assert chart == ["risk", "low  ████████████ 8", "high ███          2",
                     "none              0"]


def test_processed_per_minute_reads_the_window_once_then_two_minutes() -> None:
    from gradvy_console.console_source import PipelineSource

    asked: list[int] = []
    counts = {100: {"search": 3}, 130: {"quiz_attempt": 1}, 158: {"search": 2}}

    class Live:
        def events_per_minute(self, now_ms: int, minutes: int = 60
                              ) -> dict[int, dict[str, int]]:
            asked.append(minutes)
            current = now_ms // 60_000
            return {m: dict(c) for m, c in counts.items() if current - minutes < m <= current}

    source = PipelineSource(Config())
    assert source._per_minute(Live(), 159 * 60_000) == {
        100: {"search": 3}, 130: {"quiz_attempt": 1}, 158: {"search": 2}}
    counts[158] = {"search": 5}                  # the last minute still counting
    counts[159] = {"search": 1}
    counts[120] = {"search": 9}                  # an old minute is final: not read again
    assert source._per_minute(Live(), 159 * 60_000 + 30_000) == {
        100: {"search": 3}, 130: {"quiz_attempt": 1}, 158: {"search": 5}, 159: {"search": 1}}
    assert asked == [60, 2]
    # An hour later the old minutes have left the window.
    assert 100 not in source._per_minute(Live(), 161 * 60_000)
