"""`process-events`: every pending event, through the realtime queue when a consumer runs (and
we wait for each batch), in this process when none does."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..clock import now_ms
from ..config import Config
from ..ingest import Ingestor, IngestResult, drain_inbox, drain_parallel
from ..live import LiveState
from ..monitoring import live_consumers
from ..progress import Progress, no_progress
from ..queues import TaskResult
from ..store import DocumentStore


@dataclass
class ProcessReport:
    mode: str  # "queue" or "in-process"
    result: IngestResult
    batches: int
    seconds: float
    batch_size: int = 0
    # Queue mode: what the pool processed meanwhile that was not ours (the every-minute
    # pending job takes rows too, and may get there first): outcome -> events.
    by_the_pool: dict[str, int] = field(default_factory=dict)


# Batch sizes chosen by measurement (bench/batch_size.py: 50,000 events in-process on 2
# cores, 6.3k events/s at 100, 12.3k at 1,000, 17.4k at 5,000, 18.8k at 20,000): large batches
# in-process; through the queue, large enough to be cheap and small enough that every realtime
# worker gets several, so they all work and progress moves.
AUTO_LOCAL = 10_000
AUTO_QUEUE = (1_000, 10_000)
OUTCOMES = ("processed", "duplicates", "no_consent", "dead_lettered")


def process_outcome(store: DocumentStore, report: ProcessReport) -> list[str]:
    """What a processing run did, in sentences (the CLI prints them, the console notifies
    them): the counts, what the pool took meanwhile, or, when nothing was pending, when the
    pool's every-minute pending job last ran (it takes what arrives first)."""
    r = report.result
    if r.total == 0 and not report.by_the_pool:
        job = next((t for t in store.task_runs(limit=200, queue="realtime")
                    if t["task"] == "process_pending_events" and t["status"] == "complete"),
                   None)
        when = (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job["ended_ms"] / 1000))
                if job else "")
        return ["Nothing was pending." + (
            f" The pool's pending job (every minute) last ran at {when} UTC and took what "
            "there was; 'gradvy run status' shows the totals." if job else "")]
    rate = (r.total / report.seconds) if report.seconds > 0 else 0.0
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(r.reasons.items())) or "none"
    suppressed = f", suppressed {r.suppressed:,}" if r.suppressed else ""
    lines = [f"Processed {r.processed:,}, duplicates {r.duplicates:,}, no consent "
             f"{r.no_consent:,}, dead-lettered {r.dead_lettered:,} ({reasons}){suppressed} in "
             f"{report.seconds:.2f} s ({rate:,.0f} events/s, {report.mode}, batches of "
             f"{report.batch_size:,})."]
    if report.by_the_pool:
        lines.append("Meanwhile the pool processed more that was pending (its every-minute "
                     "pending job took them first): " + ", ".join(
                         f"{k.replace('_', ' ')} {v:,}" for k, v in report.by_the_pool.items())
                     + ".")
    return lines


def auto_batch_size(pending: int, workers: int, use_queue: bool) -> int:
    """The batch size process-events uses when it is not given one."""
    if not use_queue:
        return AUTO_LOCAL
    low, high = AUTO_QUEUE
    return max(low, min(high, -(-pending // max(1, 4 * workers))))


def process_pending(config: Config, store: DocumentStore, live: LiveState, ingestor: Ingestor,
                    batch_size: int | None = None, progress: Progress = no_progress,
                    use_queue: bool | None = None) -> ProcessReport:
    """Process every pending event. With a live realtime consumer, batches of receipts go
    through the realtime queue and we wait for them; with none, they run in this process.
    Without a batch size, one is chosen (`auto_batch_size`)."""
    started = time.monotonic()
    if use_queue is None:
        use_queue = bool(live_consumers(live, "realtime"))
    if not batch_size:
        workers = sum(int(c.get("workers") or 1) for c in live_consumers(live, "realtime"))
        batch_size = auto_batch_size(store.inbox_count(), workers, use_queue)
    if not use_queue:
        # No realtime consumer: no task can be on its way for a leased row, so take them all.
        processes = config.ingest.local_processes
        if processes > 1 and store.inbox_count() >= processes * batch_size:
            result = drain_parallel(config, store, processes, batch_size, progress)
            result.add(drain_inbox(store, ingestor, config, batch_size=batch_size,
                                   ignore_leases=True))
        else:
            result = drain_inbox(store, ingestor, config, batch_size=batch_size,
                                 progress=progress, ignore_leases=True)
        batches = -(-(result.total + result.skipped) // max(batch_size, 1))
        return ProcessReport("in-process", result, batches, time.monotonic() - started,
                             batch_size)

    from ..tasks import batch_process_events

    before = store.counters()
    total = store.inbox_count()
    lease_ms = int(config.ingest.inbox_lease_seconds * 1000)
    result = IngestResult()
    pending: list[tuple[TaskResult, list[str]]] = []   # in flight, with receipts
    batches = 0
    lost = 0
    progress(0, total)
    stale_s = config.live.heartbeat_ttl_seconds
    started_with = {(c["host"], c["pid"]) for c in live_consumers(live, "realtime",
                                                                 stale_after_s=stale_s)}
    last_check = 0.0

    def consumer_lost() -> bool:
        """A realtime consumer we started with is gone: batches it held died with it (Huey
        has no late acknowledgement), so stop waiting for results and drain instead."""
        alive = {(c["host"], c["pid"]) for c in live_consumers(live, "realtime",
                                                              stale_after_s=stale_s)}
        return not alive or not started_with <= alive

    def collect(handle: TaskResult) -> None:
        """Wait for one batch; give up on it when a consumer was lost (its inbox rows are
        still there and are drained below)."""
        nonlocal lost, last_check
        deadline = time.monotonic() + config.ingest.result_timeout_seconds
        while not handle.ready():
            now = time.monotonic()
            if lost or now > deadline:
                lost += 1
                return
            if now - last_check > 0.5:
                last_check = now
                if consumer_lost():
                    lost += 1
                    return
            time.sleep(0.02)
        result.add(IngestResult.from_dict(handle.get(timeout=1)))
        progress(result.total + result.skipped, total)

    unsent: list[str] = []               # claimed, not yet enqueued
    try:
        while True:
            claimed = store.inbox_claim(batch_size, lease_ms, now_ms())
            if not claimed:
                break
            unsent = [r for r, _ in claimed]
            pending.append((batch_process_events.apply_async(kwargs={"receipts": unsent}),
                            unsent))
            unsent = []
            batches += 1
            # Keep a bounded window in flight, so progress is real and memory stays flat.
            while len(pending) > 64:
                collect(pending[0][0])
                pending.pop(0)
        while pending:
            collect(pending[0][0])
            pending.pop(0)
    except BaseException:
        # Redis went away, or the operator pressed Ctrl-C: the rows of the batches we are
        # no longer waiting for are offered again now rather than when their lease ends
        # (a consumer still running one of them takes its rows atomically: no double count).
        _release(store, unsent + [r for _, receipts in pending for r in receipts])
        raise
    if lost:
        # A consumer died with our batches (Huey has no late acknowledgement): their rows are
        # still in the inbox under our lease. Take them here; taking is atomic with ingesting,
        # so a batch a consumer did finish is never processed twice.
        result.add(drain_inbox(store, ingestor, config, batch_size=batch_size,
                               ignore_leases=True))
    else:
        result.add(drain_inbox(store, ingestor, config, batch_size=batch_size))
    _wait_for_others(store, config.ingest.result_timeout_seconds)
    after = store.counters()
    others = {k: max(0, after.get(k, 0) - before.get(k, 0) - getattr(result, k))
              for k in OUTCOMES}
    return ProcessReport("queue", result, batches, time.monotonic() - started, batch_size,
                         {k: v for k, v in others.items() if v})


def _wait_for_others(store: DocumentStore, timeout_s: float) -> None:
    """Rows someone else leased (the pool's pending job, which may have got there first):
    wait while they go down, so the report can say what became of them; give up when they
    stop moving for 5 s."""
    deadline = time.monotonic() + timeout_s
    last, moved = store.inbox_count(), time.monotonic()
    while last and time.monotonic() < deadline and time.monotonic() - moved < 5:
        time.sleep(0.2)
        now = store.inbox_count()
        if now < last:
            last, moved = now, time.monotonic()


def _release(store: DocumentStore, receipts: list[str]) -> None:
    """Best effort: the store may be what failed; the leases then simply run out."""
    try:
        store.inbox_release(receipts)
    except Exception:  # noqa: BLE001 - never hide the error that brought us here
        pass
