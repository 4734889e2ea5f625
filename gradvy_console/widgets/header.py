"""The top line: deployment, host, pool uptime, clock, and a backend outage if any. It fits one
line at any width: the longer forms give way to shorter ones (never a wrap)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..console_source import Snapshot
from .fmt import age, clock


def header_text(snap: Snapshot | None, width: int, read_only: bool = False) -> Text:
    """The header for `width` cells: the first of its forms, longest first, that fits. A
    read-only console says so first, in every form."""
    mode = ("READ-ONLY ", "bold black on yellow") if read_only else ""
    if snap is None:
        return Text.assemble(mode, ("Gradvy Console", "bold"), "  ", ("connecting…", "dim"))
    critical = sum(1 for a in snap.alerts if a.severity == "critical")
    n = len(snap.alerts)
    alert_style = "bold red" if critical else "bold yellow"
    up = age(snap.pool.started_ms, snap.at_ms) if snap.pool is not None else None
    # To the minute: an idle console then has nothing to repaint between minutes (a ticking
    # second was most of its idle CPU). The outage line says when its figures are from.
    full_clock = f"{clock(snap.at_ms)[:-3]} UTC"
    short_clock = clock(snap.at_ms)[6:-3]
    forms = []
    for title, host, pool, when, alerts in (
            ("Gradvy Console", f" on {snap.host}",
             f"pool pid {snap.pool.pid} up {up}" if snap.pool else "pool not running",
             full_clock, f"▲ {n} alert{'s' if n != 1 else ''}"),
            ("Gradvy", f" on {snap.host}", f"pool up {up}" if snap.pool else "no pool",
             full_clock, f"▲ {n} alert{'s' if n != 1 else ''}"),
            ("Gradvy", f" on {snap.host}", f"pool up {up}" if snap.pool else "no pool",
             short_clock, f"▲{n}"),
            ("Gradvy", "", f"up {up}" if snap.pool else "no pool", short_clock, f"▲{n}")):
        text = Text.assemble(mode, (title, "bold"), "  ", (snap.deployment, "bold cyan"), host,
                             "  ")
        text.append(pool, style="" if snap.pool else "yellow")
        text.append(f"  {when}", style="dim")
        if n:  # visible on every screen, whatever the dashboard's scroll
            text.append(f"  {alerts}", style=alert_style)
        forms.append(text)
        if text.cell_len <= width:
            break
    text = forms[-1]
    text.truncate(max(1, width), overflow="ellipsis")
    if snap.backend_error:
        stale = (f"; the figures are as of {clock(snap.as_of_ms)[6:]}" if snap.as_of_ms
                 else "")
        if snap.pool_is_local:
            stale += "; pool and consumers as this host's processes show them"
        line = Text(f"OUTAGE {snap.backend_error} - retrying{stale}", style="bold red")
        line.truncate(max(1, width) * 2, overflow="ellipsis")
        text.append("\n")
        text.append_text(line)
    return text


class PipelineHeader(Static):
    """The top line. `show` is called with every snapshot; the header repaints only when its
    text changes (about once a minute when idle), and redoes the screen's layout only when
    its height does (an outage line comes or goes): a repaint a second, with a layout pass,
    was most of the idle console's CPU."""

    def __init__(self, *, read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only
        self.snapshot: Snapshot | None = None
        self._text = header_text(None, 80, read_only)

    def show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        text = header_text(snapshot, self.content_size.width or 80, self.read_only)
        if text.plain != self._text.plain:
            taller = text.plain.count("\n") != self._text.plain.count("\n")
            self._text = text
            self.refresh(layout=taller)

    def on_resize(self) -> None:
        """A new width can choose another of the header's forms."""
        self._text = header_text(self.snapshot, self.content_size.width or 80, self.read_only)
        self.refresh()

    def render(self) -> Text:
        return self._text
