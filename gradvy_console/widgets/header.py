"""The top line: deployment, host, pool uptime, clock, and a backend outage if any."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ..console_source import Snapshot
from .fmt import age, clock


class PipelineHeader(Static):
    snapshot: reactive[Snapshot | None] = reactive(None, layout=True)
    """The latest snapshot (None until the first poll ends)."""

    def render(self) -> Text:
        snap = self.snapshot
        text = Text.assemble(("Gradvy Console", "bold"), "  ")
        if snap is None:
            return text + Text("connecting…", style="dim")
        text.append(snap.deployment, style="bold cyan")
        text.append(f" on {snap.host}  ")
        if snap.pool is not None:
            text.append(f"pool pid {snap.pool.pid} up {age(snap.pool.started_ms, snap.at_ms)}")
        else:
            text.append("pool not running", style="yellow")
        text.append(f"  {clock(snap.at_ms)} UTC", style="dim")
        if snap.alerts:  # visible on every screen, whatever the dashboard's scroll
            critical = sum(1 for a in snap.alerts if a.severity == "critical")
            n = len(snap.alerts)
            text.append(f"  ▲ {n} alert{'s' if n != 1 else ''}",
                        style="bold red" if critical else "bold yellow")
        if snap.backend_error:
            text.append(f"\n{snap.backend_error} - retrying", style="bold red")
        return text
