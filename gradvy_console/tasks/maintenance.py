"""Maintenance queue: retention cleanup."""

from __future__ import annotations

from typing import Any

from .. import runtime
from ..privacy import cleanup
from ..queues import task


@task("maintenance", periodic="cleanup_old_analytics_data")
def cleanup_old_analytics_data(dry_run: bool = False) -> dict[str, Any]:
    """Delete what is past its `[retention]`, in short batches; returns what went per
    collection and the space freed."""
    return cleanup(runtime.get_config(), runtime.store(), dry_run).as_dict()
