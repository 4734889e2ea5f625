"""What every verb module shares: the Typer apps (`gradvy`, `gradvy run`), the `--config`
option, opening the engine for a verb, JSON output and the progress bar. The runtime is
imported inside the helpers: `gradvy --help` starts without the engine."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import orjson
import typer

from ..config import Config, load_config

app = typer.Typer(no_args_is_help=True,
                  help="Gradvy analytics pipeline: workers, processing and operator verbs.")
run_app = typer.Typer(no_args_is_help=True, help="Operator verbs, headless (for scripts, cron).")
app.add_typer(run_app, name="run")

state: dict[str, Any] = {"config_path": None}


def _version(shown: bool) -> None:
    if shown:
        from .. import __version__

        typer.echo(f"gradvy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(config: Annotated[str | None, typer.Option(
        "--config", help="Config file (default: $GRADVY_CONFIG, then ./config.toml).")] = None,
          version: Annotated[bool, typer.Option(
              "--version", callback=_version, is_eager=True,
              help="Print the version and exit.")] = False) -> None:
    state["config_path"] = config


def cli_config() -> Config:
    """The verb's configuration, loaded once per process."""
    loaded = state.get("config")
    if loaded is None or state.get("config_of") != state["config_path"]:
        loaded = state["config"] = load_config(state["config_path"])
        state["config_of"] = state["config_path"]
    return loaded


def activate(config: Config) -> None:
    """Make `config` the process's configuration; backends open when first used."""
    from .. import runtime
    from ..config.active import is_active

    if not is_active(config):
        runtime.activate(config)


class _FirstLine:
    """stdout as it was, remembering the first line a verb printed (its outcome)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.text = ""

    def write(self, data: str) -> int:
        if "\n" not in self.text and len(self.text) < 400:
            self.text += data[:400]
        return int(self.inner.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


F = TypeVar("F", bound=Callable[..., Any])


def logged(action: str) -> Callable[[F], F]:
    """Record the verb in the action log, as the console records its actions: who, host,
    `via: cli`, the arguments without personal data, when, how long, the outcome (the first
    line the verb printed, or its error sentence)."""
    def wrap(verb: F) -> F:
        @functools.wraps(verb)
        def run(*args: Any, **kwargs: Any) -> Any:
            if os.environ.get("GRADVY_ACTION_LOGGED"):
                return verb(*args, **kwargs)       # a child whose parent logs the action
            from .. import runtime
            from ..errors import GradvyError
            from ..pipeline.actions import ActionRecord

            config = cli_config()
            activate(config)
            params = {k: v for k, v in kwargs.items() if k != "json_out"}
            record = ActionRecord(config, runtime.store, action, params, via="cli")
            out = _FirstLine(sys.stdout)
            sys.stdout = out
            try:
                result = verb(*args, **kwargs)
            except GradvyError as exc:
                record.finish(False, str(exc))
                raise
            except (typer.Exit, SystemExit) as exc:
                code = getattr(exc, "exit_code", getattr(exc, "code", 1)) or 0
                record.finish(code == 0, out.text.strip().splitlines()[0] if out.text.strip()
                              else f"exit {code}")
                raise
            except BaseException as exc:
                record.finish(False, f"{type(exc).__name__}: {exc}")
                raise
            finally:
                sys.stdout = out.inner
            first = out.text.strip().splitlines()[0] if out.text.strip() else ""
            record.finish(True, "JSON printed" if kwargs.get("json_out") else first)
            return result
        return run  # type: ignore[return-value]
    return wrap


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


# Epoch milliseconds from 2000 to 2100: a `_ms` value in this range is a time, not a duration.
_EPOCH_MS = (946_684_800_000, 4_102_444_800_000)


def with_times(data: Any) -> Any:
    """JSON's time convention: beside every `X_ms` time (epoch milliseconds) an `X` holding
    the same time as ISO 8601 UTC (unless `X` is there already)."""
    if isinstance(data, dict):
        out = {k: with_times(v) for k, v in data.items()}
        for key, value in data.items():
            if (isinstance(key, str) and key.endswith("_ms") and isinstance(value, int)
                    and not isinstance(value, bool)
                    and _EPOCH_MS[0] <= value <= _EPOCH_MS[1] and key[:-3] not in data):
                out[key[:-3]] = iso_time(value)
        return out
    if isinstance(data, list | tuple):
        return [with_times(v) for v in data]
    return data


def echo_json(data: Any) -> None:
    """A verb's JSON on stdout (times as `X_ms` and ISO `X`, see `with_times`)."""
    sys.stdout.write(orjson.dumps(with_times(data),
                                  option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                                  default=str).decode() + "\n")


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




# --- the verbs' conventions (README "The CLI's conventions") ----------------------------------
def iso_time(ms: int | None) -> str | None:
    """A time for JSON: ISO 8601 in UTC (the `_ms` integer goes beside it)."""
    from ..analytics.events import iso_from_ms

    return None if ms is None else iso_from_ms(ms)


def human_time(ms: int | None) -> str:
    """A time for people: UTC, to the second."""
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def at_least(name: str, value: int, low: int = 1) -> int:
    """Refuse a count below `low` (one sentence, exit 2)."""
    if value < low:
        from ..errors import GradvyError

        raise GradvyError(f"{name} must be at least {low:,} (got {value:,}).", exit_code=2)
    return value


def cli_console() -> Any:
    """A Rich console on stdout, as wide as the terminal; piped, as wide as COLUMNS says
    (80 without it)."""
    from rich.console import Console

    width = None
    if not sys.stdout.isatty():
        try:
            width = max(40, int(os.environ.get("COLUMNS") or 80))
        except ValueError:
            width = 80
    return Console(width=width)


def print_table(table: Any) -> None:
    """A Rich table on stdout (see `cli_console`)."""
    cli_console().print(table)


JSON_OPTION = typer.Option("--json", help="Print JSON.")


def say(json_out: bool, message: str, **data: Any) -> None:
    """An action verb's outcome: its sentence, or with --json {"message": ..., **data}."""
    if json_out:
        echo_json({"message": message, **data})
    else:
        typer.echo(message)


def known_queue(queue: str | None) -> str | None:
    """Refuse a queue that is not one (one sentence, exit 2); None (all queues) passes."""
    from ..config import known_queue as check

    return None if queue is None else check(queue)
