"""The collector's way into the pipeline: every event normalised like on every other path, then
judged and written with the other requests waiting at the same moment in one store transaction
(group commit): dead letters for the rejected, nothing for the suppressed, inbox rows for the
accepted. Only after that commit does a request get its answer; then one `batch_process_events`
message per group carries the new rows' receipts to the realtime queue. If that message cannot
be queued, the rows' leases are released and the every-minute pending job takes them: an event
answered `accepted` is in the store's inbox whatever happens to the queue."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from ..analytics.events import (
    BAD_JSON,
    ID_COLLISION,
    TOO_DEEP,
    UNPROCESSABLE,
    Event,
    Rejection,
    derive_event_id,
    iso_from_ms,
    nesting_depth,
    normalise_event,
)
from ..clock import now_ms
from ..config import Config
from ..ingest import Ingestor
from ..store import DocumentStore, IngestTx
from .body import Item, correct_clock

log = logging.getLogger("gradvy.collector")

ACCEPTED, DUPLICATE, REJECTED, SUPPRESSED = "accepted", "duplicate", "rejected", "suppressed"
OUTCOMES = (ACCEPTED, DUPLICATE, REJECTED, SUPPRESSED)


class StoreBusy(Exception):
    """The commit waited longer than `[collector] commit_timeout_seconds` for the store."""


class Judged(NamedTuple):
    """One event of a request after normalising: the event or its rejection, and the payload
    the inbox will keep (the event as sent, with its id, corrected time, source and receipt
    time)."""

    outcome: Event | Rejection
    payload: bytes = b""


@dataclass
class Pending:
    """One request's events waiting for the next group commit."""

    items: list[Judged]
    done: asyncio.Future[list[dict[str, Any]]]
    results: list[dict[str, Any]] = field(default_factory=list)


def judge(items: list[Item], sent_at: Any, received_ms: int, source: str,
          ingestor: Ingestor) -> list[Judged]:
    """Normalise each item as every path does (`normalise_event`, the same limits and PII
    rules). An event without an id gets the id its content derives, written into the payload,
    so the answer's `event_id` is the one stored."""
    out: list[Judged] = []
    limits = ingestor.limits
    received_at = iso_from_ms(received_ms)    # the collector's receipt, kept with the event
    for item in items:
        if item.error is not None:
            out.append(Judged(Rejection(BAD_JSON, item.error, item.raw)))
            continue
        raw = item.value
        try:
            if type(raw) is dict:
                if sent_at is not None or "sent_at" in raw:
                    raw = correct_clock(raw, sent_at, received_ms)
                if raw.get("event_id") is None:
                    raw = {**raw, "event_id": derive_event_id(raw)}
                raw["source"] = source
                raw["received_at"] = received_at
            payload = orjson.dumps(raw)
        except (TypeError, orjson.JSONEncodeError):   # orjson's own depth limit, say
            if nesting_depth(raw, limits.max_depth) > limits.max_depth:
                rejection = Rejection(TOO_DEEP, f"values nest more than {limits.max_depth} "
                                      "levels deep ([ingest] max_depth)", None)
            else:
                rejection = Rejection(BAD_JSON, "the event cannot be encoded as JSON", None)
            out.append(Judged(rejection))
            continue
        try:
            outcome = normalise_event(raw, received_ms, limits, len(payload))
        except Exception as exc:  # noqa: BLE001 - any payload that breaks normalising
            outcome = Rejection(UNPROCESSABLE, f"{type(exc).__name__}: {str(exc)[:200]}", raw)
        out.append(Judged(outcome, payload))
    return out


class Intake:
    """Group commit of the requests' events, on one writer thread of this process."""

    def __init__(self, config: Config, store: DocumentStore, ingestor: Ingestor,
                 enqueue: Callable[[list[str]], None],
                 release: Callable[[list[str]], Any] | None = None) -> None:
        self.config = config
        self.store = store
        self.ingestor = ingestor
        self.enqueue = enqueue
        self.release = release or store.inbox_release
        self.group_max = config.collector.group_max
        self.lease_ms = int(config.ingest.inbox_lease_seconds * 1000)
        self.commit_timeout = config.collector.commit_timeout_seconds
        self.busy_since: float | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="collector-writer")
        # Receipts for the realtime queue. The loop holds what is committed and hands it to
        # the queue thread at most once every QUEUE_MESSAGE_INTERVAL: that thread then wakes
        # about twenty times a second, not once per group commit (each wake-up takes the GIL
        # from the loop: at 12,000 single-event requests/s, about 500 times a second).
        self._to_queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._held: list[str] = []
        self._hand_over_at: asyncio.TimerHandle | None = None
        self._last_handed = 0.0
        self._queue_thread = threading.Thread(target=self._queue_loop, name="collector-queue",
                                              daemon=True)
        self._waiting: asyncio.Queue[Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        # Event ids this process accepted lately, with their content hash: a client's retry of
        # a request that did reach us is answered `duplicate` before the ingestor sees it. Two
        # generations of at most 50,000 each (about 10 MB in all): when the newer is full it
        # becomes the older and the older is dropped (cheaper than an LRU's per-event upkeep).
        self._recent: dict[str, str] = {}
        self._older: dict[str, str] = {}
        self._generation_max = 50_000
        self._lock = threading.Lock()

    # --- the event loop side ----------------------------------------------------------------
    def start(self) -> None:
        self._waiting = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._writer())
        self._queue_thread.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=True)
        if self._hand_over_at is not None:
            self._hand_over_at.cancel()
        self._pass_receipts()
        self._to_queue.put(None)
        self._queue_thread.join(30)

    async def submit(self, items: list[Judged]) -> list[dict[str, Any]]:
        """Wait for the group commit that takes these events; their results, in order. A
        failure of the store raises here, and so does `StoreBusy` when the commit has waited
        for the store longer than `[collector] commit_timeout_seconds` (the request is then
        answered 503; if the commit happens later, its events are in the inbox and the
        client's retry is answered `duplicate`)."""
        assert self._waiting is not None, "Intake.start() was not called"
        pending = Pending(items, asyncio.get_running_loop().create_future())
        self._waiting.put_nowait(pending)
        return await pending.done

    def stalled(self) -> bool:
        """Whether a commit has waited for the store longer than the commit timeout (another
        writer holds it): new requests are refused at once rather than queued."""
        since = self.busy_since
        return since is not None and time.monotonic() - since > self.commit_timeout

    async def _writer(self) -> None:
        assert self._waiting is not None
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._waiting.get()]
            n = len(group[0].items)
            # Let the requests already read join this commit: their handlers run in the next
            # turns of the loop. A commit's fixed cost (the transaction, the queue message) is
            # CPU in this same process, so without this each commit would carry one request.
            for _turn in range(4):
                await asyncio.sleep(0)
                if self._waiting.empty():
                    break
                while n < self.group_max and not self._waiting.empty():
                    more = self._waiting.get_nowait()
                    group.append(more)
                    n += len(more.items)
            try:
                # No other writer holds the store: commit right here (a thread hop costs more
                # than the commit). Otherwise wait for the store on the writer thread, so the
                # loop goes on reading requests meanwhile.
                written = None
                with self.store.transaction_now() as tx:
                    if tx is not None:
                        written = self.write(tx, group)
                if written is not None:
                    receipts = written[0]
                    self._committed(written[1])
                else:
                    receipts = await self._commit_waiting(loop, group)
            except Exception as exc:  # noqa: BLE001 - each request is told, none is lost
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_exception(exc)
                continue
            for pending in group:
                if not pending.done.done():
                    pending.done.set_result(pending.results)
            if receipts:
                # The answer does not wait for the queue: the events are in the inbox already.
                self._hold(loop, receipts)

    def _hold(self, loop: asyncio.AbstractEventLoop, receipts: list[str]) -> None:
        """Keep committed receipts for the next hand-over: at once after a quiet interval,
        else when the interval since the last one has passed."""
        self._held += receipts
        if self._hand_over_at is None:
            wait = self._last_handed + QUEUE_MESSAGE_INTERVAL - time.monotonic()
            self._hand_over_at = loop.call_later(max(0.0, wait), self._pass_receipts)

    def _pass_receipts(self) -> None:
        self._hand_over_at = None
        if self._held:
            held, self._held = self._held, []
            self._last_handed = time.monotonic()
            self._to_queue.put(held)

    async def _commit_waiting(self, loop: asyncio.AbstractEventLoop, group: list[Pending]
                              ) -> list[str]:
        """The commit on the writer thread, for when another writer holds the store. Past the
        commit timeout its requests, and every request queued meanwhile, are answered
        `StoreBusy` (503) while the commit goes on waiting; new ones are refused at the door
        (`stalled`)."""
        self.busy_since = time.monotonic()
        future = loop.run_in_executor(self.executor, self.commit, group)
        try:
            done, _ = await asyncio.wait({future}, timeout=self.commit_timeout)
            if not done:
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_exception(StoreBusy())
                while not future.done():
                    self._refuse_waiting()
                    await asyncio.wait({future}, timeout=0.1)
                self._refuse_waiting()
            return await future
        finally:
            self.busy_since = None

    def _refuse_waiting(self) -> None:
        assert self._waiting is not None
        while not self._waiting.empty():
            pending = self._waiting.get_nowait()
            if not pending.done.done():
                pending.done.set_exception(StoreBusy())

    # --- the writer thread ------------------------------------------------------------------
    def commit(self, group: list[Pending]) -> list[str]:
        """`write` in a transaction of its own (waiting for the store if need be)."""
        with self.store.transaction() as tx:
            receipts, seen = self.write(tx, group)
        self._committed(seen)
        return receipts

    def write(self, tx: IngestTx, group: list[Pending]) -> tuple[list[str], dict[str, str]]:
        """Judge against the store and write, in the transaction `tx`. Fills each request's
        `results`; returns the receipts written (for the queue) and the accepted ids with
        their content hashes."""
        at = now_ms()
        rejections: list[Rejection] = []
        payloads: list[bytes] = []
        counters: Counter[str] = Counter()
        gone = self.ingestor.suppressed_users(tx, ((None, j.outcome) for p in group
                                                   for j in p.items))
        ids = [j.outcome.event_id for p in group for j in p.items
               if type(j.outcome) is Event]
        stored = tx.existing_events(ids) if ids else {}
        seen: dict[str, str] = {}
        with self._lock:
            newer, older = self._recent, self._older
            recent = {i: newer.get(i) or older[i] for i in ids if i in newer or i in older}
        for pending in group:
            results: list[dict[str, Any]] = []
            for index, judged in enumerate(pending.items):
                outcome = judged.outcome
                if outcome.user_id is not None and outcome.user_id in gone:
                    results.append({"index": index, "event_id": outcome.event_id,
                                    "outcome": SUPPRESSED})
                    counters["suppressed"] += 1
                    continue
                if isinstance(outcome, Rejection):
                    rejections.append(outcome)
                    results.append(_rejected(index, outcome))
                    continue
                known = (seen.get(outcome.event_id) or recent.get(outcome.event_id)
                         or (stored[outcome.event_id].content_hash
                             if outcome.event_id in stored else None))
                if known is not None:
                    if known == outcome.content_hash:
                        results.append({"index": index, "event_id": outcome.event_id,
                                        "outcome": DUPLICATE})
                        counters["duplicates"] += 1
                    else:
                        collision = Rejection(
                            ID_COLLISION, "event_id already used for other content",
                            outcome.to_document(), outcome.event_id, outcome.user_id)
                        rejections.append(collision)
                        results.append(_rejected(index, collision))
                    continue
                seen[outcome.event_id] = outcome.content_hash
                payloads.append(judged.payload)
                results.append({"index": index, "event_id": outcome.event_id,
                                "outcome": ACCEPTED})
            pending.results = results
        receipts = tx.inbox_put(payloads, at, self.lease_ms) if payloads else []
        if rejections:
            tx.add_dead_letters(rejections, [None] * len(rejections), at)
            counters["dead_lettered"] += len(rejections)
            for rejection in rejections:
                counters[f"rejected:{rejection.reason}"] += 1
        counters["collector_accepted"] += len(payloads)
        tx.add_counters({k: v for k, v in counters.items() if v})
        return receipts, seen

    def _committed(self, seen: dict[str, str]) -> None:
        """After the commit (never before: an id remembered from a transaction that failed
        would answer the client's retry `duplicate` for an event that is nowhere)."""
        with self._lock:
            self._recent.update(seen)
            if len(self._recent) >= self._generation_max:
                self._older, self._recent = self._recent, {}

    def _queue_loop(self) -> None:
        """One message per hand-over from the loop (at most one every
        `QUEUE_MESSAGE_INTERVAL` seconds: each message costs this process the GIL for a
        while, which a loop answering thousands of requests a second feels; a message per
        group commit cost single-event requests an eighth of their rate), split at
        `QUEUE_MESSAGE_MAX` receipts."""
        while True:
            receipts = self._to_queue.get()
            if receipts is None:
                return
            for start in range(0, len(receipts), QUEUE_MESSAGE_MAX):
                self._hand_over(receipts[start:start + QUEUE_MESSAGE_MAX])

    def _hand_over(self, receipts: list[str]) -> None:
        try:
            self.enqueue(receipts)
        except Exception as exc:  # noqa: BLE001 - the rows are safe; the pending job takes them
            log.warning("cannot queue %d accepted events (%s); the pending-events job will "
                        "take them from the inbox", len(receipts), exc)
            try:
                self.release(receipts)
            except Exception as again:  # noqa: BLE001 - their lease runs out on its own
                log.warning("cannot release their inbox lease either (%s): they wait for it "
                            "to run out", again)


# Receipts in one realtime message at most (one batch_process_events task ingests them).
QUEUE_MESSAGE_MAX = 5000
QUEUE_MESSAGE_INTERVAL = 0.05


def _rejected(index: int, rejection: Rejection) -> dict[str, Any]:
    return {"index": index, "event_id": rejection.event_id, "outcome": REJECTED,
            "reason": rejection.reason, "detail": rejection.detail}
