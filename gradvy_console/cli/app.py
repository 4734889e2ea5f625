"""The `gradvy` entry point: every verb module registers its commands on the shared Typer
apps (`common`); `main` turns every user mistake into one sentence and an exit code."""

from __future__ import annotations

import os
import sys

import typer

from ..errors import GradvyError, lost_backend, storage_failure
from . import (  # noqa: F401 - each registers its verbs
    admin,
    collector,
    events,
    insights,
    ops,
    pool,
    privacy,
    quality,
    queue_ops,
    reports,
)
from .common import app


def main() -> None:
    """Entry point: every user mistake becomes one sentence and an exit code."""
    # Everything this program writes holds personal data: private to its owner (0600 files,
    # 0700 directories), whatever the caller's umask.
    os.umask(0o077)
    try:
        app()
    except GradvyError as exc:
        typer.echo(f"gradvy: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        storage = storage_failure(exc, _data_dir())
        if storage is not None:
            typer.echo(f"gradvy: {storage}", err=True)
            sys.exit(storage.exit_code)
        sentence = lost_backend(exc)
        if sentence is None:
            raise
        typer.echo(f"gradvy: {sentence}", err=True)
        sys.exit(2)
    finally:
        _close_backends()


def _data_dir() -> str:
    """The data dir of the failed command, for its sentence."""
    active = sys.modules.get("gradvy_console.config.active")
    config = getattr(active, "_config", None) if active is not None else None
    return f"the data dir {config.data_dir}" if config is not None else "the data dir"


def _close_backends() -> None:
    """Checkpoint and close what the verb opened (SQLite write-ahead logs emptied)."""
    runtime = sys.modules.get("gradvy_console.runtime")
    if runtime is not None:
        try:
            runtime.close()
        except Exception:  # noqa: BLE001 - the verb's own outcome is what counts
            pass
