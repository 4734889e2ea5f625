"""One user: profile, today's live counters, consent and its history, recent events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static

from ..widgets.fmt import clock, when
from .list_base import ListScreen


def render_report(report: dict[str, Any]) -> Group:
    p = report["profile"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("User", report["user_id"])
    if p.get("events"):
        head.add_row("Events", f"{p['events']:,} (first {clock(p.get('first_seen'))}, last "
                               f"{clock(p.get('last_seen'))})")
        head.add_row("Engagement", f"{p['engagement_score']:.3f}")
        head.add_row("Learning velocity", f"{p['learning_velocity']:.4f} completion/min")
        head.add_row("Dropout risk", risk_text(report.get("risk")))
        analysis = report.get("analysis") or {}
        prefs = analysis.get("learning_patterns", {}).get("content_preferences") or []
        head.add_row("Preferred content", ", ".join(f"{x['category']} {x['share']:.0%}"
                                                    for x in prefs) or "-")
        head.add_row("Enrolled in", ", ".join(p.get("enrolled_categories") or []) or "-")
        head.add_row("Peak hours (UTC)", ", ".join(f"{h:02d}h" for h in p.get("peak_hours", []))
                     or "-")
        search = p.get("search", {})
        head.add_row("Searches", f"{search.get('volume', 0)} (zero results "
                                 f"{search.get('zero_result_rate', 0):.0%}; top: "
                                 f"{', '.join(search.get('top_terms') or []) or '-'})")
        quiz = p.get("quiz_average")
        head.add_row("Quiz average", "-" if quiz is None else f"{quiz:.0%}")
        head.add_row("By type", ", ".join(f"{k} {v}" for k, v in
                                          sorted(p.get("counts_by_type", {}).items())))
    else:
        head.add_row("Profile", "no profiled events (no consent, or none processed yet)")
    today = report.get("live_today")
    head.add_row("Today (live)", "-" if not today else
                 ", ".join(f"{k} {v}" for k, v in sorted(today["counts"].items())))
    consent = report.get("consent") or {}
    head.add_row("Consent", ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in
                                      sorted(consent.items())) or "none recorded")
    history = Table("when", "purpose", "granted", "method", title="Consent history",
                    title_justify="left", expand=False)
    for h in report.get("consent_history", [])[-8:]:
        history.add_row(clock(h.get("at_ms")), h.get("purpose", ""),
                        "yes" if h.get("granted") else "no", h.get("method", ""))
    events = Table("when", "type", "detail", title="Recent events", title_justify="left")
    for e in report.get("recent_events", [])[:10]:
        props = e.get("properties") or {}
        detail = ", ".join(f"{k}={v}" for k, v in list(props.items())[:3])
        events.add_row(clock(e.get("ts")), e.get("event_type", ""), detail[:60])
    return Group(head, Text(""), *insight_blocks(report), history, Text(""), events)


def risk_label(risk: dict[str, Any]) -> str:
    """Where a dropout risk comes from: "model v3" or "rule"."""
    if risk.get("source") == "model":
        return f"model v{risk.get('model_version')}"
    return "rule (no model yet)"


def risk_text(risk: dict[str, Any] | None) -> Text:
    """The one dropout risk, coloured, with its source."""
    if not risk:
        return Text("- (not analysed: no behavioural-analysis consent)")
    score = float(risk["score"])
    return Text(f"{score:.3f} ({risk_label(risk)})", style="bold red" if score >= 0.7
                else "yellow" if score >= 0.4 else "green")


def insight_blocks(report: dict[str, Any]) -> list[Any]:
    """Analysis, segment history, recommendations with reasons and anomalies, where the
    insights have been computed for this user."""
    out: list[Any] = []
    a = report.get("analysis")
    if a:
        lp, en, rk, pe = (a["learning_patterns"], a["engagement"], a["risk"],
                          a["personalisation"])
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        prefs = ", ".join(f"{p['category']} {p['share']:.0%}" for p in
                          lp["content_preferences"]) or "-"
        grid.add_row("Analysis", f"consistency {lp['consistency']:.0%}, peak hours "
                     f"{', '.join(f'{h:02d}h' for h in lp['peak_hours']) or '-'}, prefers {prefs}")
        grid.add_row("Engagement trend", f"{en['trend_direction']} ({en['trend']:+.2f}/week), "
                     f"peak days {', '.join(en['peak_days']) or '-'}")
        factors = "; ".join(f"{f['label']} {f['value']}" for f in rk["factors"]) or "-"
        grid.add_row("Risk", Text(f"{rk['score']:.3f} ({risk_label(rk)}): {factors}"
                                  + ("  -> intervention" if rk["intervention"] else ""),
                                  style="bold red" if rk["intervention"] else ""))
        grid.add_row("Advice", f"difficulty {pe['difficulty']}; content "
                     f"{', '.join(pe['top_content_types']) or '-'}")
        out += [grid, Text("")]
    seg = report.get("segment")
    if seg:
        changes = " → ".join(str(h.get("new_segment")) for h in report.get("segment_history",
                                                                            []))
        why = "; ".join(seg.get("reasons") or [])
        out += [Text(f"Segment {seg['segment']}" + (f" ({why})" if why else "")
                     + f"; cluster {seg.get('cluster') or '-'} (history: {changes or '-'})"),
                Text("")]
    recs = report.get("recommendations")
    if recs and recs.get("items"):
        table = Table("course", "score", "source", "reason", title="Recommendations",
                      title_justify="left")
        for item in recs["items"][:10]:
            table.add_row(item["course_id"], f"{item['score']:.3f}", item["source"],
                          item["reason"])
        out += [table, Text("")]
    anomalies = report.get("anomalies") or []
    if anomalies:
        table = Table("anomaly", "severity", "status", "evidence", title="Anomalies",
                      title_justify="left")
        for an in anomalies:
            evidence = ", ".join(f"{k}={v}" for k, v in an["evidence"].items())
            table.add_row(an["kind"], an["severity"], an["status"], evidence[:70])
        out += [table, Text("")]
    return out


class UsersScreen(ListScreen):
    SCREEN_TITLE = ("Users: type an id or its start, pick one (Tab, Enter), Esc leaves the "
                    "field, / returns")
    BINDINGS = [Binding("slash", "lookup", "Look up", id="user.lookup")]
    FOCUS_FIRST = "#user-id"

    def __init__(self) -> None:
        super().__init__()
        self.user_id: str | None = None
        self._matches: list[str] = []

    def compose_list(self) -> Iterable[Widget]:
        yield Input(placeholder="user id or its start, e.g. sim-u0001", id="user-id")
        yield OptionList(id="user-matches")
        with VerticalScroll(id="user-report"):
            yield Static("", id="report")

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # Keys belong to the field on every visit: typing an id never fires a global key.
        self.query_one("#user-id", Input).focus()

    def action_leave_input(self) -> None:
        self.query_one("#user-report").focus()

    def action_lookup(self) -> None:
        self.query_one("#user-id", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._find(event.value.strip())

    @work(thread=True, exclusive=True, group="find-users")
    def _find(self, prefix: str) -> None:
        try:
            found = self.console.source.find_users(prefix, 20)
        except Exception:  # noqa: BLE001 - an outage shows in the header; the list stays
            return
        self.app.call_from_thread(self._show_matches, found)

    def _show_matches(self, found: list[dict[str, Any]]) -> None:
        now = self.now_ms()
        matches = self.query_one("#user-matches", OptionList)
        matches.clear_options()
        self._matches = [u["user_id"] for u in found]
        matches.add_options([f"{u['user_id']}  (active {when(u.get('last_ms'), now)})"
                             for u in found])
        if found:
            matches.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self._matches):
            field = self.query_one("#user-id", Input)
            field.value = self._matches[event.option_index]
            self._look_up(field.value)
            field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._look_up(event.value.strip())

    def _look_up(self, user_id: str) -> None:
        self.user_id = user_id or None
        self._loaded_at = 0.0
        self.reload()

    def load(self) -> Any:
        if not self.user_id:
            return None
        return {"user_id": self.user_id, "report": self.console.source.user(self.user_id)}

    def show_data(self, data: Any) -> None:
        report = self.query_one("#report", Static)
        if data is None:
            report.update("")
        elif data["report"] is None:
            report.update(Text(f"No user {data['user_id']!r} is known.", style="yellow"))
        else:
            report.update(render_report(data["report"]))
