"""`gradvy`: the headless front end (Typer). It formats and dispatches; the verbs live in
`pipeline` and the capabilities. `gradvy run VERB` for operator actions, `gradvy worker QUEUE`
for a consumer. One module per verb group: `events`, `ops`, `pool`, `insights`; `status_view`
renders `status` with Rich."""

from __future__ import annotations

from .app import main
from .common import app, run_app

__all__ = ["app", "main", "run_app"]
