from __future__ import annotations

from pathlib import Path

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
                    "insights"):
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
