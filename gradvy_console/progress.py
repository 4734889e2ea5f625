"""The progress callback every long verb takes: `progress(done, total)`. Front ends draw it
(a rich bar in the CLI, the console's progress bar); the engine only calls it."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """The default callback: report nothing."""
    return None
