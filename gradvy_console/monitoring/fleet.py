"""The fleet: every consumer any host reported through its heartbeat, alive or dead."""

from __future__ import annotations

from typing import Any

from ..clock import now_ms
from ..live import LiveState


def fleet(live: LiveState, stale_after_s: float, at_ms: int | None = None
          ) -> list[dict[str, Any]]:
    """Every consumer any host reported recently, marked alive or dead (last beat older than
    `stale_after_s`)."""
    now = at_ms if at_ms is not None else now_ms()
    beats = live.scan_json("hb:", now)
    out = []
    for beat in beats.values():
        beat = dict(beat)
        beat["alive"] = now - int(beat.get("last_beat_ms", 0)) <= stale_after_s * 1000
        out.append(beat)
    return sorted(out, key=lambda b: (b.get("queue", ""), b.get("host", ""), b.get("pid", 0)))


def live_consumers(live: LiveState, queue: str | None = None,
                   at_ms: int | None = None, stale_after_s: float = 15.0
                   ) -> list[dict[str, Any]]:
    """Consumers with a fresh heartbeat, optionally for one queue."""
    return [b for b in fleet(live, stale_after_s, at_ms)
            if b["alive"] and (queue is None or b.get("queue") == queue)]
