"""The operator's records: `actions` (the action log), `dead-letters` (what was refused, with
its reason) and `replay` (a dead letter, or every one of a reason, back to the pending inbox)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import GradvyError
from .common import (
    at_least,
    cli_config,
    echo_json,
    human_time,
    logged,
    print_table,
    rich_table,
    run_app,
    store_only,
)


def _brief(params: dict[str, Any]) -> str:
    """The arguments in a few words: set values only, long ones (subject keys) shortened."""
    def short(v: Any) -> str:
        text = ",".join(map(str, v)) if isinstance(v, list) else str(v)
        return text if len(text) <= 14 else text[:13] + "…"
    return " ".join(f"{k}={short(v)}" for k, v in params.items() if v not in (False, "", [], {}))


@run_app.command("actions")
def actions_cmd(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. forget).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The action log: every operator action from the console and the CLI, newest first (who,
    host, how, what, arguments without personal data, when, how long, the outcome)."""
    from ..pipeline.actions import action_log

    at_least("--limit", limit)
    found = action_log(store_only(cli_config()), limit, action)
    if json_out:
        echo_json(found)
        return
    if not found:
        typer.echo("No action recorded" + (f" for {action}." if action else "."))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("started UTC", no_wrap=True)
    table.add_column("by", no_wrap=True, max_width=10, overflow="ellipsis")
    table.add_column("action", max_width=22, overflow="fold")
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("outcome", overflow="fold")
    for a in found:
        took = "-" if a.get("duration_ms") is None else f"{a['duration_ms'] / 1000:,.1f}s"
        outcome = str(a.get("outcome", ""))
        outcome = outcome if len(outcome) <= 120 else outcome[:119] + "…"
        if a.get("ok") is False:
            outcome = f"FAILED: {outcome}"
        what = a["action"] + (f" {_brief(a['params'])}" if a.get("params") else "")
        user = str(a.get("who", "?")).split("@")[0]
        table.add_row(human_time(a.get("started_ms"))[5:], f"{user} {a.get('via', 'console')}",
                      what, took, outcome)
    print_table(table)


@run_app.command("dead-letters")
def dead_letters_cmd(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (with the payloads).")
                        ] = False,
) -> None:
    """Dead letters, newest first: id, when, reason, detail (the payload with --json); replay
    one with 'gradvy run replay ID'."""
    from ..ingest import known_reason

    at_least("--limit", limit)
    store = store_only(cli_config())
    found = store.dead_letters(limit=limit, reason=known_reason(reason))
    if json_out:
        echo_json(found)
        return
    if not found:
        typer.echo("No dead letter" + (f" with reason {reason}." if reason else "."))
        return
    total = store.count_dead_letters()
    table = rich_table(f"{len(found):,} of {total:,} dead letters, newest first",
                       ["id", "when (UTC)", "reason", "detail"])
    for d in found:
        table.add_row(d["id"], human_time(d.get("at_ms")), d["reason"], d.get("detail") or "")
    print_table(table)


@run_app.command("replay")
@logged("replay_dead_letter")
def replay_cmd(
    dead_letter_id: Annotated[str | None, typer.Argument(
        help="A dead letter's id (from 'gradvy run dead-letters').")] = None,
    all_of: Annotated[bool, typer.Option("--all", help="Every dead letter (of --reason).")
                      ] = False,
    code: Annotated[str | None, typer.Option("--reason", help="With --all: only this reason.")
                    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Put a dead letter's original payload back in the pending inbox (the next processing
    run ingests it again; still invalid, it is dead-lettered again)."""
    from ..ingest import replay_dead_letter, replay_dead_letters

    if (dead_letter_id is None) == (not all_of):
        raise GradvyError("Give a dead letter's id, or --all (with --reason R for one "
                          "reason).", exit_code=2)
    if code is not None and not all_of:
        raise GradvyError("--reason goes with --all.", exit_code=2)
    store = store_only(cli_config())
    replayed = ([replay_dead_letter(store, dead_letter_id)["id"]] if dead_letter_id is not None
                else replay_dead_letters(store, code))
    if json_out:
        echo_json({"replayed": len(replayed), "ids": replayed})
        return
    what = f"dead letter {replayed[0]}" if dead_letter_id else \
        f"{len(replayed):,} dead letters" + (f" ({code})" if code else "")
    typer.echo(f"Replayed {what}: pending again; 'gradvy run process-events' ingests "
               "them." if replayed else "No dead letter to replay.")
