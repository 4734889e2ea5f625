"""The data-quality verbs: the assessment now (`quality-check`), and planted against found on
simulated data (`quality-check --against-truth`)."""

from __future__ import annotations

from typing import Any

from ..analytics import quality as q
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..quality import load_state, out_of_range_fields, parse_since
from ..store import DocumentStore
from ..tasks.monitoring import assess_quality


def quality_check(since: str | None = None, keep: bool = True) -> dict[str, Any]:
    since_ms = None
    if since is not None:
        try:
            since_ms = parse_since(since, now_ms())
        except ValueError as exc:
            raise GradvyError(str(exc), exit_code=2) from None
    return assess_quality(keep=keep, since_ms=since_ms)


def _planted(store: DocumentStore) -> dict[str, Any]:
    """Every simulation run's planted quality faults, summed kind by kind."""
    total: dict[str, Any] = {}
    for run in store.get_documents("sim_runs"):
        for kind, planted in (run.get("quality_faults") or {}).items():
            if isinstance(planted, dict):
                into = total.setdefault(kind, {})
                for name, n in planted.items():
                    into[name] = into.get(name, 0) + int(n)
            else:
                total[kind] = total.get(kind, 0) + int(planted)
    return total


def against_truth(config: Config, store: DocumentStore, at_ms: int | None = None
                  ) -> dict[str, Any]:
    """Planted against found for each quality fault kind of the simulations in the store, and
    the volume anomalies found that were not planted (false alarms). Run after an assessment
    (it reads the aggregates the assessment keeps)."""
    planted = _planted(store)
    if not planted:
        raise GradvyError("No simulation with planted quality faults is in the store: run "
                          "'gradvy run simulate-data --quality-faults', process the events and "
                          "'gradvy run quality-check' first.", exit_code=2)
    state = load_state(store)
    at = now_ms() if at_ms is None else at_ms
    first = min((min(d) for d in state["daily"].values() if d), default=q.day_of(at))
    volume = q.volume_anomalies(state["daily"], first, q.day_of(at - q.DAY_MS))
    found: dict[str, Any] = {
        "silent": {}, "burst": {}, "new_property": {}, "type_change": {},
        "late": state["late_total"], "out_of_range": out_of_range_fields(store)}
    for flag in volume:
        if flag["kind"] in ("silent", "burst"):
            kind = found[flag["kind"]]
            kind[flag["event_type"]] = kind.get(flag["event_type"], 0) + 1
    for key in q.new_keys(state):
        found["new_property"][f"{key['event_type']}.{key['key']}"] = key["count"]
    for change in q.type_changes(state):
        found["type_change"][f"{change['event_type']}.{change['key']}"] = change["other"]
    rows = []
    for kind in sorted(set(planted) | set(found)):
        want, got = planted.get(kind, 0), found.get(kind, 0)
        if isinstance(want, dict) or isinstance(got, dict):
            want = want if isinstance(want, dict) else {}
            got = got if isinstance(got, dict) else {}
            for name in sorted(set(want) | set(got)):
                rows.append({"kind": kind, "what": name, "planted": want.get(name, 0),
                             "found": got.get(name, 0)})
        else:
            rows.append({"kind": kind, "what": "", "planted": want, "found": got})
    planted_volume = {(r["kind"], r["what"]) for r in rows
                      if r["kind"] in ("silent", "burst") and r["planted"]}
    false_alarms = [f for f in volume if (f["kind"], f["event_type"]) not in planted_volume]
    return {"rows": rows, "exact": all(r["planted"] == r["found"] for r in rows),
            "false_alarms": false_alarms}
