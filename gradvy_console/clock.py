"""The one clock: wall time in epoch milliseconds (UTC). Pure code takes time as a parameter;
the parts that do I/O read it here."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Now, in milliseconds since the epoch."""
    return int(time.time() * 1000)
