"""Insight verbs: analysis, anomalies, segments, models, recommendations, evaluation."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import GradvyError
from .common import (
    JSON_OPTION,
    at_least,
    cli_config,
    echo_json,
    engine,
    human_time,
    logged,
    print_table,
    progress_bar,
    rich_table,
    run_app,
    say,
    store_only,
)


@run_app.command("analyze-users")
@logged("analyze_users")
def analyze_users_cmd(
    user_id: Annotated[str | None, typer.Option("--user-id", help="One user (default: users "
                                                "active in the last insights.active_days).")
                       ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every user, however long ago "
                                                          "active.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Behaviour analysis (learning patterns, engagement, risk, personalisation)."""
    from ..insights import analyze_users

    config = cli_config()
    store, live, _ing = engine(config)
    with progress_bar("analysing users", not json_out) as progress:
        summary = analyze_users(config, store, live, user_id, progress, all_users)
    if json_out:
        latest = live.get_json(f"analysis:{user_id}", summary["at_ms"]) if user_id else None
        echo_json({**summary, "analysis": latest} if user_id else summary)
        return
    if user_id:
        a = live.get_json(f"analysis:{user_id}", summary["at_ms"]) or {}
        lp, en, rk, pe = (a.get("learning_patterns", {}), a.get("engagement", {}),
                          a.get("risk", {}), a.get("personalisation", {}))
        prefs = ", ".join(f"{p['category']} {p['share']:.0%}" for p in
                          lp.get("content_preferences", []))
        hours = ", ".join(f"{h:02d}:00" for h in lp.get("peak_hours", [])) or "-"
        typer.echo(f"{user_id}: engagement {en.get('current')} ({en.get('trend_direction')}, "
                   f"trend {en.get('trend')}), consistency {lp.get('consistency')}, velocity "
                   f"{lp.get('velocity')}, peak hours {hours}, prefers {prefs or '-'}")
        factors = "; ".join(f"{f['label']} = {f['value']}" for f in rk.get("factors", []))
        why = f": {factors}" if factors else ""
        source = (f"model v{rk.get('model_version')}" if rk.get("source") == "model"
                  else "rule, no model yet")
        typer.echo(f"  dropout risk {rk.get('score')} ({source}){why}"
                   f"{'  -> intervention' if rk.get('intervention') else ''}; difficulty "
                   f"{pe.get('difficulty')}, content "
                   f"{', '.join(pe.get('top_content_types') or []) or '-'}")
        return
    typer.echo(f"Analysed {summary['analysed']:,} users (dropout risk from the "
               + (f"model v{summary['model_version']})." if summary["risk_source"] == "model"
                  else "rule: no model yet)."))


@run_app.command("check-anomalies")
@logged("check_anomalies")
def check_anomalies_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run the anomaly rules and the IsolationForest now; record and act on findings."""
    from ..insights import process_anomalies

    config = cli_config()
    store, live, _ing = engine(config)
    summary = process_anomalies(config, store, live)
    if json_out:
        echo_json(summary)
        return
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary["open_by_kind"].items())) or "none"
    typer.echo(f"Open anomalies: {kinds}; bot-like users excluded from training: "
               f"{summary['bot_like_users']}.")


@run_app.command("anomalies")
def anomalies_cmd(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recorded anomalies: kind, severity, evidence, status and the action taken."""
    from ..insights import list_anomalies

    if status not in (None, "open", "acknowledged", "resolved"):
        raise GradvyError("--status must be open, acknowledged or resolved.", exit_code=2)
    config = cli_config()
    store = store_only(config)
    found = list_anomalies(store, status, user_id)
    if json_out:
        echo_json(found)
        return
    if not found:
        typer.echo("No anomalies recorded" + (f" with status {status}." if status else "."))
        return
    table = rich_table(None, ["anomaly", "severity", "status", "evidence", "action"])
    for a in found:
        evidence = ", ".join(f"{k}={v}" for k, v in a["evidence"].items())
        action = a["action"]["type"]
        if action == "remedial_content":
            weak = ", ".join(w["category"] for w in a["action"]["weak_areas"]) or "-"
            action += f" (weak: {weak}; {', '.join(a['action']['courses'][:3])})"
        table.add_row(a["_id"], a["severity"], a["status"], evidence, action)
    print_table(table)


@run_app.command("anomaly-ack")
@logged("ack_anomaly")
def anomaly_ack(anomaly_id: Annotated[str, typer.Argument(help="USER:KIND")],
                json_out: Annotated[bool, JSON_OPTION] = False) -> None:
    """Acknowledge an open anomaly."""
    from ..insights import acknowledge_anomaly

    config = cli_config()
    store = store_only(config)
    a = acknowledge_anomaly(store, anomaly_id)
    say(json_out, f"{a['_id']}: {a['status']}.", anomaly=a)


@run_app.command("update-segments")
@logged("update_segments")
def update_segments_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Rule segments and behavioural clusters; changes are kept as history."""
    from ..insights import update_segments

    config = cli_config()
    store, live, _ing = engine(config)
    run = update_segments(config, store, live)
    if json_out:
        echo_json(run)
        return
    sizes = ", ".join(f"{k} {v}" for k, v in sorted(run["rule_sizes"].items()))
    typer.echo(f"Segmented {run['users']} users ({run['changes']} changes): {sizes}.")
    if run["clusters"]:
        c = run["clusters"]
        typer.echo(f"Clusters: k={c['k']} (silhouette {c['silhouette']}): "
                   + "; ".join(f"{d} ({n})" for d, n in c["sizes"].items()))


@run_app.command("update-models")
@logged("update_models")
def update_models_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Train, evaluate and save new versions of the recommender and the dropout model."""
    from ..insights import update_models

    config = cli_config()
    store, live, _ing = engine(config)
    out = update_models(config, store, live)
    if json_out:
        echo_json(out)
        return
    r = out["recommender"]
    if r["version"] is None:
        typer.echo(f"recommender: not trained ({r['reason']})")
    else:
        e = r["evaluation"]
        typer.echo(f"recommender v{r['version']}: NDCG@10 {e['model']['ndcg']} (popular "
                   f"{e['popular']['ndcg']}) on {e['users']} users of a time split")
    d = out["dropout"]
    typer.echo(f"dropout model: v{d['version']}" if d["version"] else
               f"dropout model: not trained ({d['reason']})")
    if "refreshed_analyses" in out:
        typer.echo(f"analysed {out['refreshed_analyses']:,} learners again with this model"
                   + (f" and segmented {out['refreshed_segments']:,}"
                      if "refreshed_segments" in out else ""))
    if out.get("pruned_versions"):
        typer.echo(f"pruned {out['pruned_versions']} old model versions (keeping "
                   f"{config.retention.model_versions} of each)")


@run_app.command("models")
def models_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The kept model versions and their cards: training size, date, parameters, evaluation,
    features."""
    from ..insights.models import model_cards

    config = cli_config()
    store = store_only(config)
    cards = model_cards(config, store)
    if json_out:
        echo_json(cards)
        return
    if not cards:
        typer.echo("No models yet: 'gradvy run update-models' trains them (the dropout risk "
                   "comes from the rule until then).")
        return
    for c in cards:
        t, e, p = c.get("training") or {}, c.get("evaluation") or {}, c.get("params") or {}
        head = f"{c['name']} v{c['version']}{'  (current)' if c['current'] else ''}"
        typer.echo(f"{head}, saved {human_time(c.get('saved_ms'))}")
        if c["name"] == "recommender":
            typer.echo(f"  trained on {t.get('users', '-'):,} learners, {t.get('courses', '-')} "
                       f"courses, {t.get('events', 0):,} events")
            m, pop = e.get("model") or {}, e.get("popular") or {}
            typer.echo(f"  evaluation (time split, {e.get('users', '-')} learners): NDCG@10 "
                       f"{m.get('ndcg')} vs popular {pop.get('ndcg')}")
        else:
            typer.echo(f"  trained on {t.get('users', 0):,} learners with a known outcome "
                       f"({t.get('dropped_out', 0):,} dropped out, horizon "
                       f"{t.get('horizon_days')} days)")
            typer.echo("  evaluation: " + (f"AUC {e['auc']} on {e['held_out_users']} held-out "
                                           "learners" if e else "-"))
        typer.echo("  parameters: " + (", ".join(f"{k}={v}" for k, v in p.items()) or "-"))
        typer.echo("  features: " + (", ".join(c.get("features") or []) or "-"))


@run_app.command("recommend")
def recommend_cmd(
    user_id: Annotated[str, typer.Option("--user-id", help="The learner.")],
    limit: Annotated[int, typer.Option(help="How many courses.")] = 10,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Courses for one user, each with score, source and reason."""
    from ..insights import recommend_for

    at_least("--limit", limit)
    config = cli_config()
    store, live, _ing = engine(config)
    result = recommend_for(config, store, live, user_id, limit)
    if json_out:
        echo_json(result)
        return
    kind = "personalised" if result["personalised"] else "popular (no history or no consent)"
    risk = result.get("risk")
    said = "" if not risk else (f"; dropout risk {risk['score']:.3f} (" + (
        f"model v{risk['model_version']}" if risk["source"] == "model" else "rule") + ")")
    table = rich_table(f"{user_id}: {kind}, model v{result['model_version']}{said}",
                       ["", "course", "score", "source", "reason"])
    for i, item in enumerate(result["items"], 1):
        table.add_row(str(i), item["course_id"], f"{item['score']:.3f}", item["source"],
                      item["reason"])
    print_table(table)


@run_app.command("evaluate")
@logged("evaluate")
def evaluate_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Score every insight against the simulator's ground truth (held-out split)."""
    from ..insights import evaluate

    config = cli_config()
    store = store_only(config)
    with progress_bar("evaluating", not json_out) as progress:
        r = evaluate(config, store, progress)
    if json_out:
        echo_json(r)
        return
    typer.echo(format_evaluation(r))


def format_evaluation(r: dict[str, Any]) -> str:
    rec, an, seg, dr = r["recommendations"], r["anomalies"], r["segments"], r["dropout"]
    ok = {True: "met", False: "NOT met"}
    lines = [
        f"Evaluation on {r['users']} simulated users, {r['events']:,} events (run {r['sim_run']})",
        f"recommendations  P@10 {rec['model']['precision']}  R@10 {rec['model']['recall']}  "
        f"NDCG@10 {rec['model']['ndcg']}  | popular: P@10 {rec['popular']['precision']}  "
        f"R@10 {rec['popular']['recall']}  NDCG@10 {rec['popular']['ndcg']}  "
        f"({rec['ndcg_vs_popular']}x; target 2x: {ok[r['met']['ndcg_vs_popular']]}; the "
        f"simulator's own odds reach {rec.get('ceiling_vs_popular', '-')}x, the best estimate "
        f"from a learner's events {rec.get('informed_vs_popular', '-')}x)",
        f"anomalies        precision {an['precision']}  recall {an['recall']}  AUC {an['auc']}  "
        f"({an['flagged']} flagged, {an['planted']} planted; target recall 0.9 at precision "
        f"0.8: {ok[r['met']['anomalies']]})",
        f"segments         k {seg.get('k')}  silhouette {seg.get('silhouette')}  ARI vs "
        f"personas {seg.get('adjusted_rand_index')}",
        f"dropout          AUC {dr['auc']}  Brier {dr['brier']}  rule baseline AUC "
        f"{dr['rule_baseline_auc']}  ({dr['test_users']} held-out users; target AUC 0.85 and "
        f"above the baseline: {ok[r['met']['dropout']]})",
    ]
    return "\n".join(lines)
