"""`simulate-data`: simulated learners, courses and events; the events wait in the inbox."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ..analytics.simulator import SimParams, simulate
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..progress import Progress, no_progress
from ..store import DocumentStore


@dataclass
class SimulationReport:
    run_id: str
    events: int
    users: int
    courses: int
    faults: dict[str, int]
    pii_planted: int
    end_ms: int


def simulate_data(config: Config, store: DocumentStore, count: int, users: int, days: int,
                  seed: int, end_ms: int | None = None, progress: Progress = no_progress
                  ) -> SimulationReport:
    """Generate simulated learners and events; events wait in the inbox, as in the guide."""
    if count < 0 or users < 1 or days < 1:
        raise GradvyError("simulate-data needs a count of 0 or more, and at least one user "
                          "and one day.", exit_code=2)
    if end_ms is None:
        end_ms = (now_ms() // 60_000) * 60_000
    sim_cfg = config.simulator
    params = SimParams(count=count, users=users, days=days, seed=seed, end_ms=end_ms,
                       courses=sim_cfg.courses, fault_share=sim_cfg.fault_share,
                       pii_share=sim_cfg.pii_share, no_consent_share=sim_cfg.no_consent_share)
    sim = simulate(params)
    store.put_documents("courses", sim.courses)
    store.put_documents("sim_truth", sim.users)
    at = now_ms()
    for user_id, consent in sim.consents.items():
        current = store.consent_for([user_id]).get(user_id)
        wanted = {p for p, g in consent.items() if g}
        if current != wanted:
            store.record_consent(user_id, consent, method="simulator", version="sim-1",
                                 legal_basis="consent", actor="simulator", at_ms=at)
    step = 10_000
    progress(0, len(sim.events))
    for start in range(0, len(sim.events), step):
        chunk = sim.events[start:start + step]
        store.inbox_put([orjson.dumps(e) for e in chunk], at)
        progress(min(start + step, len(sim.events)), len(sim.events))
    store.put_documents("sim_runs", [{
        "_id": sim.run_id, "seed": seed, "count": count, "users": users, "days": days,
        "end_ms": end_ms, "faults": sim.faults, "pii_planted": sim.pii_planted, "at_ms": at}])
    return SimulationReport(sim.run_id, len(sim.events), len(sim.users), len(sim.courses),
                            sim.faults, sim.pii_planted, end_ms)
