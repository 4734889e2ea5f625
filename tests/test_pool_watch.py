"""A pool that stops reporting without stopping cleanly is alerted by any other pool or
console watching the same live state; one that stops on purpose is not."""

from __future__ import annotations

from pathlib import Path

from gradvy_console.config import Config
from gradvy_console.live.sqlite import SqliteLive
from gradvy_console.monitoring import watch_pools
from gradvy_console.store.sqlite import SqliteStore

T = 1_767_225_600_000


def _active(store: SqliteStore) -> set[str]:
    return {a["key"] for a in store.alerts(active_only=True)}


def test_a_silent_pool_is_alerted_and_cleared_when_it_reports_again(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    store, live = SqliteStore(tmp_path / "s.db"), SqliteLive(tmp_path / "l.db")
    a, b = {"id": "hostA:1", "host": "hostA"}, {"id": "hostB:2", "host": "hostB"}
    assert watch_pools(config, store, live, [a, b], T) == []
    assert watch_pools(config, store, live, [a], T + 10_000) == []       # not yet 15 s
    assert watch_pools(config, store, live, [a], T + 16_000) == ["hostB:2"]
    assert _active(store) == {"pool_silent:hostB:2"}
    [alert] = store.alerts(active_only=True)
    assert "hostB:2 on hostB stopped reporting 16 s ago" in alert["message"]
    watch_pools(config, store, live, [a], T + 30_000)                   # raised once only
    assert len(store.alerts(active_only=False)) == 1
    watch_pools(config, store, live, [a, b], T + 40_000)
    assert _active(store) == set()


def test_a_pool_stopped_on_purpose_is_not_silent(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    store, live = SqliteStore(tmp_path / "s.db"), SqliteLive(tmp_path / "l.db")
    pool = {"id": "hostA:1", "host": "hostA"}
    watch_pools(config, store, live, [pool], T)
    live.put_json("sup-stopped:hostA:1", {"at_ms": T}, ttl_s=86_400)
    assert watch_pools(config, store, live, [], T + 60_000) == []
    assert _active(store) == set()
