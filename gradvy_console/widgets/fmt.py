"""Formatting for the console (pure functions: the same input, the same text)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text

BLOCKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "verified": "green",
                "failed": "bold red"}


def status_text(text: str) -> Text:
    """A check's or request's state, coloured; pass, warn and fail in capitals."""
    return Text(text.upper() if text in ("pass", "warn", "fail") else text,
                style=STATUS_STYLE.get(text, ""))


def spark(values: Sequence[float], width: int, top: float | None = None) -> str:
    """The last `width` values as block characters, scaled to `top` (default: their max).
    Zero is the lowest block so an idle series still shows as a line."""
    if width <= 0:
        return ""
    tail = list(values)[-width:]
    ceiling = top if top is not None else max(tail, default=0.0)
    if ceiling <= 0:
        return BLOCKS[0] * len(tail)
    steps = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(steps, round(v / ceiling * steps)))] for v in tail)


def duration(seconds: float | None) -> str:
    """A short human duration: 850ms, 42s, 12m, 3h05m, 2d04h."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"


def age(ms: int | None, now_ms: int) -> str:
    return "-" if not ms else duration(max(0, now_ms - ms) / 1000)


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return f"{n} B"


def clock(ms: int | None) -> str:
    return "-" if not ms else time.strftime("%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def count(n: int | float | None) -> str:
    if n is None:
        return "-"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.1f}"
    return f"{int(n):,}"


def when(ms: int | None, now_ms: int) -> str:
    """A time of day (UTC) when `ms` is on the same day as `now_ms`, else month-day and
    time to the minute; both 8-11 characters wide."""
    if not ms:
        return "-"
    if ms // 86_400_000 == now_ms // 86_400_000:
        return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))
    return time.strftime("%m-%d %H:%M", time.gmtime(ms / 1000))
