"""What every verb module shares: the Typer apps (`gradvy`, `gradvy run`), the `--config`
option, opening the engine for a verb, JSON output and the progress bar. The runtime is
imported inside the helpers: `gradvy --help` starts without the engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer

from ..config import Config, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Gradvy analytics pipeline: workers, processing and operator verbs.")
run_app = typer.Typer(no_args_is_help=True, help="Operator verbs, headless (for scripts, cron).")
app.add_typer(run_app, name="run")

state: dict[str, Any] = {"config_path": None}


@app.callback()
def _root(config: Annotated[str | None, typer.Option(
        "--config", help="Config file (default: $GRADVY_CONFIG, then ./config.toml).")] = None
          ) -> None:
    state["config_path"] = config


def cli_config() -> Config:
    return load_config(state["config_path"])


def activate(config: Config) -> None:
    """Make `config` the process's configuration; backends open when first used."""
    from .. import runtime

    runtime.activate(config)


def engine(config: Config) -> tuple[Any, Any, Any]:
    from .. import runtime

    activate(config)
    return runtime.store(), runtime.live(), runtime.ingestor()


def store_only(config: Config) -> Any:
    """The document store alone, for verbs that touch nothing else (no live-state
    connection is opened for them)."""
    from .. import runtime

    activate(config)
    return runtime.store()


def rich_table(title: str | None, columns: list[str]) -> Any:
    """A plain Rich table for a verb's list: no box, bold header, long cells folded."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, pad_edge=False,
                  header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def echo_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
                     .decode() + "\n")


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a `progress(done, total)` callback."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task_id = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total or None)

        yield update


