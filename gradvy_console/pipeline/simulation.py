"""`simulate-data`: simulated learners, courses and events; the events wait in the inbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..analytics.simulator import SimParams, realistic_count, simulate
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..progress import Progress, no_progress
from ..store import DocumentStore


def _take_back(store: DocumentStore, receipts: list[str]) -> None:
    """Remove a failed run's events from the inbox (best effort: the store may be what
    failed; then they are simply processed, as any accepted event)."""
    try:
        for start in range(0, len(receipts), 10_000):
            with store.transaction() as tx:
                tx.take_receipts(receipts[start:start + 10_000])
    except Exception:  # noqa: BLE001 - never hide the error that brought us here
        pass


@dataclass
class SimulationReport:
    run_id: str
    events: int
    users: int
    courses: int
    faults: dict[str, int]
    pii_planted: int
    end_ms: int
    quality_faults: dict[str, Any] = field(default_factory=dict)
    id_prefix: str = "sim"


# One run is generated in memory, then written: these bound what it may hold (about 2 GB at
# the largest). More data: run it several times (each run's learners are its own).
MAX_EVENTS = 5_000_000
MAX_USERS = 1_000_000
MAX_DAYS = 3_650
_YEAR_2000_MS = 946_684_800_000
_YEAR_3000_MS = 32_503_680_000_000


def simulate_data(config: Config, store: DocumentStore, count: int | None, users: int,
                  days: int, seed: int, end_ms: int | None = None,
                  progress: Progress = no_progress, quality_faults: bool = False,
                  merge: bool = False) -> SimulationReport:
    """Generate simulated learners and events; events wait in the inbox, as in the guide.
    Without a count, the population's realistic activity over the days. Each run's learners
    have their own ids (sim-u..., then sim2-u..., sim3-u...) unless `merge`: then they are
    sim-u... again, the same learners as the first run's. All or nothing: if writing fails
    part-way, the events already written are taken back."""
    for name, value in (("the event count", count), ("users", users), ("days", days)):
        if value is not None and value < 1:
            raise GradvyError(f"simulate-data needs {name} to be at least 1 (got {value:,}).",
                              exit_code=2)
    if count is None:
        count = realistic_count(users, days)
    if count > MAX_EVENTS or users > MAX_USERS or days > MAX_DAYS:
        raise GradvyError(f"simulate-data makes at most {MAX_EVENTS:,} events for "
                          f"{MAX_USERS:,} users over {MAX_DAYS:,} days in one run (it is built "
                          "in memory); run it several times for more.", exit_code=2)
    if end_ms is None:
        end_ms = (now_ms() // 60_000) * 60_000
    if not _YEAR_2000_MS + days * 86_400_000 <= end_ms <= _YEAR_3000_MS:
        raise GradvyError("--end must fall between the year 2000 (plus the days simulated) "
                          "and the year 3000.", exit_code=2)
    sim_cfg = config.simulator
    runs = len(store.get_documents("sim_runs"))
    prefix = "sim" if merge or runs == 0 else f"sim{runs + 1}"
    params = SimParams(count=count, users=users, days=days, seed=seed, end_ms=end_ms,
                       id_prefix=prefix,
                       courses=sim_cfg.courses, fault_share=sim_cfg.fault_share,
                       pii_share=sim_cfg.pii_share, no_consent_share=sim_cfg.no_consent_share,
                       quality_faults=quality_faults)
    sim = simulate(params)
    # Encoded before anything is written: a value that cannot be stored fails here, not
    # half-way.
    payloads = [orjson.dumps(e) for e in sim.events]
    run_doc = orjson.loads(orjson.dumps({
        "_id": sim.run_id, "seed": seed, "count": count, "users": users, "days": days,
        "id_prefix": prefix,
        "end_ms": end_ms, "faults": sim.faults, "pii_planted": sim.pii_planted,
        "quality_faults": sim.quality_faults},
        option=orjson.OPT_SERIALIZE_NUMPY))
    store.put_documents("courses", sim.courses)
    store.put_documents("sim_truth", sim.users)
    at = now_ms()
    # Simulated learners consented when they joined: at the start of the simulated period
    # (the audit checks every stored event against the consent in force at its time).
    joined = end_ms - days * 86_400_000 - 60_000
    for user_id, consent in sim.consents.items():
        current = store.consent_for([user_id]).get(user_id)
        wanted = {p for p, g in consent.items() if g}
        if current != wanted:
            store.record_consent(user_id, consent, method="simulator", version="sim-1",
                                 legal_basis="consent", actor="simulator", at_ms=joined)
    step = 10_000
    progress(0, len(payloads))
    written: list[str] = []
    try:
        for start in range(0, len(payloads), step):
            written += store.inbox_put(payloads[start:start + step], at)
            progress(min(start + step, len(payloads)), len(payloads))
        store.put_documents("sim_runs", [{**run_doc, "at_ms": at}])
    except BaseException:
        _take_back(store, written)
        raise
    return SimulationReport(sim.run_id, len(sim.events), len(sim.users), len(sim.courses),
                            sim.faults, sim.pii_planted, end_ms, sim.quality_faults, prefix)
