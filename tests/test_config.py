from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gradvy_console.config import Config, load_config
from gradvy_console.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config == Config()
    assert config.queues["realtime"].workers == 2
    assert config.tasks["process_analytics_event"].retries == 3
    assert config.tasks["process_analytics_event"].priority == 9


def test_documented_config_toml_equals_defaults() -> None:
    """config.toml at the root documents every setting with its default: keep it true."""
    config = load_config(ROOT / "config.toml", env={})
    assert config.with_overrides(source=Config().source) == Config()


def test_every_setting_is_documented() -> None:
    text = (ROOT / "config.toml").read_text()
    import dataclasses

    defaults = Config()
    for section in ("ingest", "consent", "scoring", "live", "simulator", "alerts", "console",
                    "insights", "logs"):
        for f in dataclasses.fields(getattr(defaults, section)):
            if f.name == "keys":
                assert "[console.keys]" in text
                continue
            assert f"{f.name} =" in text, f"{section}.{f.name} is not in config.toml"


def test_precedence_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[general]\ndata_dir = "from-cwd"\n')
    other = tmp_path / "other.toml"
    other.write_text('[general]\ndata_dir = "from-env"\n')
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[general]\ndata_dir = "from-flag"\n[ingest]\nbatch_size = 7\n')
    assert load_config(env={}).data_dir == Path("from-cwd")
    assert load_config(env={"GRADVY_CONFIG": str(other)}).data_dir == Path("from-env")
    config = load_config(explicit, env={"GRADVY_CONFIG": str(other)})
    assert config.data_dir == Path("from-flag") and config.ingest.batch_size == 7
    env = {"GRADVY_DATA_DIR": "/d", "GRADVY_REDIS_URL": "redis://x", "GRADVY_MONGO_URL": "m://"}
    config = load_config(explicit, env=env)
    assert (config.data_dir, config.redis_url, config.mongo_url) == (Path("/d"), "redis://x",
                                                                      "m://")


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("[ingest]\nbatch_sise = 3\n", "Unknown setting 'ingest.batch_sise'"),
        ("[ingest]\nbatch_size = 'big'\n", "ingest.batch_size"),
        ("[queues.fast]\nworkers = 2\n", "Unknown queue 'queues.fast'"),
        ("[queues.realtime]\nworker_type = 'fiber'\n", "worker_type"),
        ("[tasks.process_analytics_event]\nqueue = 'nowhere'\n", "unknown queue 'nowhere'"),
        ("nonsense = 1\n", "Unknown setting 'nonsense'"),
        ("[general\n", "is not valid TOML"),
        ("[console.keys]\n'action.fly' = 'f'\n", "Unknown key binding 'console.keys.action.fly'"),
        ("[console]\ntheme = 'pink'\n", "console.theme"),
        ("[console]\nquit_default = 'maybe'\n", "console.quit_default"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def _write(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "c.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("text", "sentence"), [
    ("[ingest]\nmax_payload_bytes = -1\n", "ingest.max_payload_bytes in .* must be at least 1"),
    ("[ingest]\ninbox_lease_seconds = 0\n", "ingest.inbox_lease_seconds in .* must be above 0"),
    ("[simulator]\nfault_share = 1.5\n", "simulator.fault_share .* between 0 and 1"),
    ("[alerts]\ncpu_warning = 250\n", "alerts.cpu_warning .* at most 100"),
    ("[tasks.proces_analytics_event]\nretries = 1\n", "Unknown task 'tasks.proces_analytics"),
    ("[tasks.batch_process_events]\nretry_delay = -5\n", "must not be negative"),
    ("[backends]\nsocket_timeout_seconds = 0\n", "socket_timeout_seconds .* above 0"),
    ("[ingest]\npii_in_identifiers = \"keep\"\n", "pseudonymise' or 'reject'"),
])
def test_values_are_range_checked_and_task_names_known(tmp_path: Path, text: str,
                                                       sentence: str) -> None:
    with pytest.raises(ConfigError, match=sentence):
        load_config(_write(tmp_path, text), env={})


def test_a_config_file_others_can_write_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "[ingest]\nbatch_size = 100\n", 0o666)
    with pytest.raises(ConfigError, match="can be written by other users; .*chmod go-w"):
        load_config(path, env={})


def test_a_config_file_that_is_not_utf8_is_one_sentence(tmp_path: Path) -> None:
    path = _write(tmp_path, b"[ingest]\n# caf\xe9\nbatch_size = 100\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path, env={})


def test_a_data_dir_that_is_a_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="from GRADVY_DATA_DIR\\) is a file"):
        load_config(None, env={"GRADVY_DATA_DIR": str(tmp_path / "file")})


def test_every_task_the_product_defines_is_known_to_the_config() -> None:
    import gradvy_console.tasks  # noqa: F401 - registers the tasks
    from gradvy_console.config.settings import TASK_NAMES
    from gradvy_console.queues import registered_tasks

    assert set(registered_tasks()) == set(TASK_NAMES)


def test_credentials_are_redacted_from_every_sentence() -> None:
    from gradvy_console.errors import GradvyError, redact

    assert redact("rediss://:s3cret@h:6380/0") == "rediss://:***@h:6380/0"
    assert redact("mongodb://gradvy:p%40ss@m:27017/?tls=true") == (
        "mongodb://gradvy:***@m:27017/?tls=true")
    assert redact("redis://h:6379/0 and https://example.org/a") == (
        "redis://h:6379/0 and https://example.org/a")
    assert "s3cret" not in str(GradvyError("Cannot reach redis://u:s3cret@h/0"))


def test_processes_racing_to_make_a_key_all_read_the_same_whole_key(tmp_path: Path) -> None:
    """Processes that start at once in a fresh data dir (a pool and a status call did in CI)
    each read the key: never an empty or short one, and all the same one."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(30):
        config = Config(data_dir=tmp_path / f"data{attempt}")
        start = context.Barrier(6)
        answers = context.Queue()
        racers = [context.Process(target=_read_key_after, args=(config, start, answers))
                  for _ in range(6)]
        for racer in racers:
            racer.start()
        keys = [answers.get(timeout=30) for _ in racers]
        for racer in racers:
            racer.join(timeout=30)
        assert len(set(keys)) == 1, keys
        assert len(keys[0]) == 64, keys[0]


def _read_key_after(config: Config, start: Any, answers: Any) -> None:
    from gradvy_console.config.keys import queue_key
    start.wait()
    try:
        answers.put(queue_key(config, env={}).decode())
    except ConfigError as exc:
        answers.put(str(exc))
