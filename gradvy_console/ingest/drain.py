"""Draining the inbox in this process: sequentially (`drain_inbox`, also what the periodic
`process_pending_events` job runs) or with several local processes on disjoint partitions
(`drain_parallel`)."""

from __future__ import annotations

import time
from typing import Any

from ..config import Config
from ..progress import Progress, no_progress
from ..store import DocumentStore
from .ingestor import Ingestor, IngestResult


def drain_inbox(store: DocumentStore, ingestor: Ingestor, config: Config, batch_size: int = 1000,
                max_batches: int | None = None, progress: Progress = no_progress,
                ignore_leases: bool = False) -> IngestResult:
    """Process pending inbox rows in-process, batch by batch, until none is left.
    `ignore_leases` also takes rows leased by others (recovering our own lost batches)."""
    total = store.inbox_count()
    lease_ms = int(config.ingest.inbox_lease_seconds * 1000)
    result = IngestResult()
    batches = 0
    progress(0, total)
    while max_batches is None or batches < max_batches:
        batch = ingestor.ingest_pending(batch_size, lease_ms, ignore_leases=ignore_leases)
        if batch.total + batch.skipped + batch.replayed == 0:
            break
        result.add(batch)
        batches += 1
        progress(result.total + result.skipped, total)
    return result


def drain_partition(config: Config, batch_size: int, partition: tuple[int, int]
                    ) -> dict[str, Any]:
    """One local worker of a parallel drain: its own backends, rows with id % n == k.
    Normalising happens outside the store's write lock, so partitions overlap."""
    from ..live import open_live
    from ..store import open_store

    store, live = open_store(config), open_live(config)
    ingestor = Ingestor(store, live, config)
    result = IngestResult()
    after = 0
    try:
        while True:
            # No consumer is running (that is why we drain here): leased rows are ours too.
            rows = store.inbox_peek(batch_size, 2**62, after, partition)
            if not rows:
                break
            after = int(rows[-1][0])
            result.add(ingestor.prepare_and_commit(list(rows)))
    finally:
        store.close()
        live.close()
    return result.as_dict()


def drain_parallel(config: Config, store: DocumentStore, processes: int, batch_size: int,
                   progress: Progress = no_progress) -> IngestResult:
    """Drain the inbox with `processes` local processes on disjoint partitions (id % n)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    total = store.inbox_count()
    progress(0, total)
    result = IngestResult()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [pool.submit(drain_partition, config, batch_size, (processes, k))
                   for k in range(processes)]
        while not all(f.done() for f in futures):
            time.sleep(0.2)
            progress(max(0, total - store.inbox_count()), total)
        for future in futures:
            result.add(IngestResult.from_dict(future.result()))
    # Rows leased by someone else while we ran (or left by a crashed worker) are not lost:
    # a sequential pass picks up whatever remains.
    return result
