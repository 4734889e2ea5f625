"""Privacy: the latest audit and its findings, erasure requests, retention per collection; run
the audit, forget a learner (the id typed twice), export a learner, clean up (a dry run
first)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from ..widgets.fmt import status_text, when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen
from .modals import ConfirmModal, TextModal


class FindingsTable(PanelTable):
    COLUMNS = (("check", 24), ("result", 6), ("severity", 8), ("finding", None))


class ErasuresTable(PanelTable):
    COLUMNS = (("request", 24), ("status", 10), ("requested", 11), ("verified", 11),
               ("removed", None))


class RetentionTable(PanelTable):
    COLUMNS = (("collection", 16), ("keep", 8), ("oldest", 9), ("past policy", None))


class PrivacyScreen(ListScreen):
    SCREEN_TITLE = "Privacy: the audit, erasure requests, retention"
    FOCUS_FIRST = "FindingsTable"
    BINDINGS = [
        Binding("a", "audit", "Audit", id="privacy.audit"),
        Binding("f", "forget", "Forget", id="privacy.forget"),
        Binding("e", "export", "Export", id="privacy.export"),
        Binding("c", "cleanup", "Cleanup", id="privacy.cleanup"),
    ]

    def compose_list(self) -> Iterable[Widget]:
        yield Static("", id="audit-summary", classes="detail")
        yield FindingsTable(id="findings")
        yield Static("Erasure requests (subject keys, never ids)", classes="section")
        yield ErasuresTable(id="erasures")
        yield Static("Retention: the oldest record of each collection against its policy",
                     classes="section")
        yield RetentionTable(id="retention")

    def load(self) -> Any:
        return self.console.source.privacy()

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        audit = data.get("audit")
        summary = self.query_one("#audit-summary", Static)
        findings = []
        if audit is None:
            summary.update(Text("No audit yet: a runs it (it also runs daily at 00:00).",
                                style="dim"))
        else:
            line = Text("Audit ")
            line.append_text(status_text(audit["status"]))
            line.append(f" {when(audit['at_ms'], now)}, {audit['seconds']:.1f} s")
            summary.update(line)
            findings = [(c["check"], (c["check"], status_text(c["status"]), c["severity"],
                                      c["summary"])) for c in audit["checks"]]
        self.query_one(FindingsTable).fill(findings)
        rows = []
        for r in data.get("erasures", []):
            removed = sum((r.get("removed") or {}).values())
            status = r["status"] + (f" ({r['step']})" if r.get("step") else "")
            rows.append((r["_id"], (r["_id"], status_text(status), when(r["requested_ms"], now),
                                    when(r.get("verified_ms"), now) if r.get("verified_ms")
                                    else "-", f"{removed:,} records")))
        self.query_one(ErasuresTable).fill(rows)
        retention = []
        for c in data.get("retention", []):
            oldest = "-" if c["oldest_days"] is None else f"{c['oldest_days']:,.0f} d"
            past = Text(f"{c['expired']:,} records", style="yellow") if c["expired"] else \
                Text("none", style="dim")
            retention.append((c["collection"], (c["collection"], f"{c['days']:,.0f} d", oldest,
                                                past)))
        self.query_one(RetentionTable).fill(retention)

    def action_audit(self) -> None:
        self.operate("run_audit", "Privacy audit")

    def action_forget(self) -> None:
        if self.console.refused_read_only():
            return
        def typed(user_id: str | None) -> None:
            if user_id is None:
                return

            def confirmed(again: str | None) -> None:
                if again is not None:
                    self.operate("forget", "Forget a learner", user_id=user_id,
                                 reason="operator request (console)")
            self.app.push_screen(TextModal(f"Erase {user_id} everywhere? Cannot be undone.",
                                           user_id, "Type the id again to confirm; Esc "
                                                    "cancels"), confirmed)
        self.app.push_screen(TextModal("Forget which learner? (their id)"), typed)

    def action_export(self) -> None:
        if self.console.refused_read_only():
            return
        def typed(user_id: str | None) -> None:
            if user_id is not None:
                self.operate("export_user", "Export a learner", user_id=user_id)
        self.app.push_screen(TextModal("Export which learner? (their id)"), typed)

    def action_cleanup(self) -> None:
        if self.console.refused_read_only():
            return
        self._preview_cleanup()

    @work(thread=True, exclusive=True, group="cleanup-preview", exit_on_error=False)
    def _preview_cleanup(self) -> None:
        try:
            preview = self.console.source.cleanup_preview()
        except Exception as exc:  # noqa: BLE001 - an outage is shown, never fatal
            self.app.call_from_thread(self.notify, f"Cannot preview the cleanup: {exc}",
                                      severity="error")
            return
        self.app.call_from_thread(self._ask_cleanup, preview)

    def _ask_cleanup(self, preview: dict[str, Any]) -> None:
        going = [(c["collection"], c["expired"]) for c in preview["collections"] if c["expired"]]
        files = sum(preview["files_removed"].values())
        if not going and not files:
            self.notify("Nothing is past its retention.")
            return
        what = ", ".join(f"{name} {n:,}" for name, n in going)
        if files:
            what += f"{', ' if what else ''}{files:,} files"

        def decided(yes: bool | None) -> None:
            if yes:
                self.operate("cleanup", "Retention cleanup")
        self.app.push_screen(ConfirmModal(f"Remove what is past its retention: {what}?"),
                             decided)
