"""Insights: the latest evaluation against the ground truth, segments, model versions and
open anomalies; the insight actions run from here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from ..widgets.fmt import when
from ..widgets.panel_table import PanelTable
from .list_base import ListScreen


class AnomaliesTable(PanelTable):
    COLUMNS = (("user", 12), ("kind", 28), ("sev", 6), ("status", 12), ("action", None))


BAR_W = 12


def bars(title: str, rows: list[tuple[str, int]]) -> Text:
    """A small horizontal bar chart: a title, then a label, a bar scaled to the largest
    count and the count, a row each."""
    top = max((n for _l, n in rows), default=0)
    label_w = max((len(label) for label, _n in rows), default=0)
    text = Text(title, style="bold")
    for label, n in rows:
        cells = round(n / top * BAR_W) if top else 0
        text.append(f"\n{label:<{label_w}} ")
        text.append("█" * cells + " " * (BAR_W - cells), style="cyan")
        text.append(f" {n:,}")
    return text


def distribution_charts(data: dict[str, Any]) -> Table | None:
    """Engagement and dropout-risk distributions and the rule segments' sizes, side by side."""
    dist = data.get("distributions")
    segments = (data.get("segments") or {}).get("rule_sizes") or {}
    if not dist and not segments:
        return None
    table = Table.grid(padding=(0, 3))
    cells: list[Text] = []
    if dist:
        edges = dist["edges"]
        labels = [f"{lo:.1f}-{edges[i + 1]:.1f}" if i + 1 < len(edges) else f"{lo:.1f}-1.0"
                  for i, lo in enumerate(edges)]
        cells.append(bars(f"engagement, {dist['learners']:,} learners",
                          list(zip(labels, dist["engagement"], strict=True))))
        cells.append(bars(f"dropout risk, {dist['analysed']:,} analysed",
                          list(zip(labels, dist["risk"], strict=True))))
    if segments:
        cells.append(bars("rule segments", sorted(segments.items(), key=lambda s: -s[1])))
    for _ in cells:
        table.add_column()
    table.add_row(*cells)
    return table


def render_summary(data: dict[str, Any], now: int) -> Group:
    parts: list[Any] = []
    e = data.get("evaluation")
    if e:
        rec, an, seg, dr = e["recommendations"], e["anomalies"], e["segments"], e["dropout"]
        table = Table("evaluated " + when(e["at_ms"], now), "result", "target", box=None,
                      title_justify="left")
        met = e.get("met", {})

        def mark(ok: bool) -> Text:
            return Text("met", style="green") if ok else Text("NOT met", style="bold red")

        table.add_row("recommendations NDCG@10", f"{rec['model']['ndcg']} vs popular "
                      f"{rec['popular']['ndcg']} ({rec['ndcg_vs_popular']}x)",
                      mark(met.get("ndcg_vs_popular", False)))
        table.add_row("anomalies", f"precision {an['precision']}, recall {an['recall']}, "
                      f"AUC {an['auc']}", mark(met.get("anomalies", False)))
        table.add_row("dropout", f"AUC {dr['auc']} (rule {dr['rule_baseline_auc']}), Brier "
                      f"{dr['brier']}", mark(met.get("dropout", False)))
        table.add_row("segments", f"k {seg.get('k')}, silhouette {seg.get('silhouette')}, "
                      f"ARI {seg.get('adjusted_rand_index')}", "")
        parts.append(table)
    else:
        parts.append(Text("Not evaluated yet (e runs the evaluation on simulated data).",
                          style="dim"))
    s = data.get("segments")
    if s:
        sizes = ", ".join(f"{k} {v}" for k, v in sorted(s["rule_sizes"].items()))
        clusters = "; ".join(f"{d} ({n})" for d, n in (s.get("clusters") or {}).get(
            "sizes", {}).items())
        parts.append(Text(f"Segments {when(s['at_ms'], now)}: {sizes}. Clusters: "
                          f"{clusters or '-'}"))
    charts = distribution_charts(data)
    if charts is not None:
        parts.append(charts)
    models = data.get("models") or []
    if models:
        parts.append(Text("Models: " + ", ".join(
            f"{m['name']} v{m['version']} ({when(m['saved_ms'], now)})" for m in models[:4])))
    return Group(*parts)


class InsightsScreen(ListScreen):
    SCREEN_TITLE = "Insights: evaluation, segments, models, open anomalies"
    FILTER = "filter anomalies: learner, kind, severity, status or action"
    BINDINGS = [
        Binding("a", "insight('analyze_users')", "Analyze", id="insights.analyze"),
        Binding("c", "insight('check_anomalies')", "Anomalies", id="insights.anomalies"),
        Binding("u", "insight('update_segments')", "Segments", id="insights.segments"),
        Binding("t", "insight('update_models')", "Models", id="insights.models"),
        Binding("e", "insight('evaluate')", "Evaluate", id="insights.evaluate"),
        Binding("k", "acknowledge", "Ack anomaly", id="anomaly.acknowledge"),
    ]

    def compose_list(self) -> Iterable[Widget]:
        yield Static("", id="summary", classes="detail")
        yield AnomaliesTable(id="anomalies")

    def load(self) -> Any:
        return self.console.source.insights()

    def show_data(self, data: Any) -> None:
        now = self.now_ms()
        self.query_one("#summary", Static).update(render_summary(data, now))
        rows = []
        for a in data.get("anomalies", []):
            action = a["action"]["type"]
            if action == "remedial_content":
                weak = ", ".join(w["category"] for w in a["action"]["weak_areas"])
                action += f": {weak or '-'}"
            if not self.matches(a["user_id"], a["kind"], a["severity"], a["status"], action):
                continue
            rows.append((a["_id"], (a["user_id"], a["kind"], a["severity"], a["status"],
                                    action)))
        self.query_one(AnomaliesTable).fill(rows)

    def action_insight(self, action: str) -> None:
        from ..operator_actions import ACTIONS

        self.operate(action, ACTIONS[action].title)

    def action_acknowledge(self) -> None:
        key = self.query_one(AnomaliesTable).selected_key()
        if key is None:
            self.notify("Select an anomaly to acknowledge.", severity="warning")
            return
        self.operate("ack_anomaly", f"Acknowledge {key}", anomaly_id=key)
