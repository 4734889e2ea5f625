"""The HTTP event collector (`gradvy serve`): events and consent changes from web and mobile
frontends, with a write key, an outcome per event and nothing answered 2xx ever lost; and the
Prometheus metrics of the pipeline (`/metrics`, `gradvy run metrics`)."""

from __future__ import annotations

from .app import build_app, create_app
from .keys import key_hash, new_key
from .metrics import render_pipeline
from .server import serve

__all__ = ["build_app", "create_app", "key_hash", "new_key", "render_pipeline", "serve"]
