"""The `gradvy` entry point: every verb module registers its commands on the shared Typer
apps (`common`); `main` turns every user mistake into one sentence and an exit code."""

from __future__ import annotations

import sys

import typer

from ..errors import GradvyError, lost_backend
from . import events, insights, ops, pool  # noqa: F401 - each registers its verbs
from .common import app


def main() -> None:
    """Entry point: every user mistake becomes one sentence and an exit code."""
    try:
        app()
    except GradvyError as exc:
        typer.echo(f"gradvy: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        sentence = lost_backend(exc)
        if sentence is None:
            raise
        typer.echo(f"gradvy: {sentence}", err=True)
        sys.exit(2)
