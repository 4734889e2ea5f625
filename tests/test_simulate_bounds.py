"""simulate-data refuses what it cannot do in bounded memory, and is all or nothing;
process-events takes its default batch size from the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import env_for, gradvy, status

from gradvy_console.config import Config
from gradvy_console.pipeline import simulate_data
from gradvy_console.store.sqlite import SqliteStore


@pytest.mark.parametrize(("args", "sentence"), [
    (["--users", "100000000"], "at most 5,000,000 events for 1,000,000 users"),
    (["--days", "100000000"], "over 3,650 days"),
    (["--simulate-count", "900000000"], "run it several times"),
    (["--end", "0001-01-01"], "--end must fall between the year 2000"),
    (["--users", "0"], "users to be at least 1"),
])
def test_sizes_it_cannot_do_are_one_sentence(tmp_path: Path, args: list[str],
                                             sentence: str) -> None:
    out = gradvy(["run", "simulate-data", *args], env_for(tmp_path / "d"), tmp_path)
    assert out.returncode == 2 and sentence in out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_a_run_that_fails_part_way_takes_its_events_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "store.db")
    real = store.put_documents

    def fails_on_the_run_record(collection: str, docs: list[dict[str, Any]]) -> None:
        if collection == "sim_runs":
            raise OSError("disk full")
        real(collection, docs)

    monkeypatch.setattr(store, "put_documents", fails_on_the_run_record)
    with pytest.raises(OSError):
        simulate_data(Config(data_dir=tmp_path), store, 25_000, 50, 10, seed=1)
    assert store.inbox_count() == 0


def test_process_events_defaults_to_the_configured_batch_size(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[ingest]\nbatch_size = 7\n")
    env = env_for(tmp_path / "d")
    env["GRADVY_CONFIG"] = str(config)
    assert gradvy(["run", "simulate-data", "--simulate-count", "70", "--seed", "2"], env,
                  tmp_path).returncode == 0
    out = gradvy(["run", "process-events", "--json"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    import json

    assert json.loads(out.stdout)["batches"] == 10
    assert status(env, tmp_path)["events"]["pending"] == 0
