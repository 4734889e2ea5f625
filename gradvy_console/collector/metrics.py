"""Prometheus metrics: the pipeline's figures, read from the same `status` data that
`gradvy run status --json` prints (so the two always agree), and the collector's own requests.

Names follow Prometheus's conventions: `gradvy_` prefix, base units (`_seconds`), `_total` on
counters. The pipeline's counters are the store's cumulative counters; the task-duration
histograms are the buckets every consumer's run recorder counts in live state.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..queues.metrics import task_histograms

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# `_created` series (a timestamp per label set) double the output and no query here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# status()["events"] key -> the `outcome` label of gradvy_events_total.
OUTCOMES = {"processed": "processed", "duplicates": "duplicate", "no_consent": "no_consent",
            "dead_lettered": "dead_lettered", "suppressed": "suppressed"}


class PipelineCollector(Collector):
    """Reads `snapshot()` (status data, plus live counters for the task histograms) at each
    scrape and turns it into metric families."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from pipeline_families(self.snapshot())


def pipeline_families(data: dict[str, Any]) -> Iterator[Metric]:
    events = data["events"]
    outcome = CounterMetricFamily("gradvy_events", "Events by what became of them (ingestion).",
                                  labels=["outcome"])
    for key, label in OUTCOMES.items():
        outcome.add_metric([label], float(events.get(key, 0)))
    yield outcome
    stored = CounterMetricFamily("gradvy_events_stored", "Events stored, by event type "
                                 "(unknown types as `other`).", labels=["type"])
    for kind, n in sorted(events.get("stored_by_type", {}).items()):
        stored.add_metric([kind], float(n))
    yield stored
    dead = CounterMetricFamily("gradvy_dead_letters", "Dead-lettered events by reason.",
                               labels=["reason"])
    for reason, n in sorted(events.get("rejected", {}).items()):
        dead.add_metric([reason], float(n))
    yield dead
    yield _gauge("gradvy_inbox_events", "Events waiting in the inbox.", events["pending"])
    yield _gauge("gradvy_inbox_oldest_age_seconds", "Age of the oldest event waiting in the "
                 "inbox (0 when none waits).", events.get("oldest_pending_age_s") or 0.0)
    yield CounterMetricFamily("gradvy_pii_masked", "Personal data values masked at ingestion.",
                              value=float(events.get("pii_masked", 0)))
    yield CounterMetricFamily("gradvy_collector_accepted_events", "Events the HTTP collector "
                              "accepted into the inbox.",
                              value=float(events.get("collector_accepted", 0)))
    users = data["users"]
    yield _gauge("gradvy_users", "Learners known to the store.", users["total"])
    yield _gauge("gradvy_users_active_24h", "Learners active in the last 24 hours.",
                 users["active_24h"])
    depth = GaugeMetricFamily("gradvy_queue_depth", "Tasks waiting in each queue.",
                              labels=["queue"])
    scheduled = GaugeMetricFamily("gradvy_queue_scheduled", "Tasks scheduled for later (retries, "
                                  "delays) in each queue.", labels=["queue"])
    oldest = GaugeMetricFamily("gradvy_queue_oldest_waiting_seconds", "Age of the oldest task "
                               "waiting in each queue (0 when none waits).", labels=["queue"])
    alive = GaugeMetricFamily("gradvy_queue_consumers", "Consumers alive (fresh heartbeat) for "
                              "each queue.", labels=["queue"])
    paused = GaugeMetricFamily("gradvy_queue_paused", "1 while the queue is paused (its "
                               "consumers take nothing), else 0.", labels=["queue"])
    for queue, q in sorted(data["queues"].items()):
        depth.add_metric([queue], float(q.get("pending") or 0))
        scheduled.add_metric([queue], float(q.get("scheduled") or 0))
        oldest.add_metric([queue], float(q.get("oldest_age_s") or 0.0))
        alive.add_metric([queue], float(q.get("consumers") or 0))
        paused.add_metric([queue], 1.0 if q.get("paused") else 0.0)
    yield from (depth, scheduled, oldest, alive, paused)
    collectors = sum(1 for c in data.get("consumers", [])
                     if c.get("queue") == "collector" and c.get("alive"))
    yield _gauge("gradvy_collector_processes", "Collector server processes alive (fresh "
                 "heartbeat).", collectors)
    durations = HistogramMetricFamily("gradvy_task_duration_seconds", "Task run durations, by "
                                      "task (finished runs: complete, failed, timed out).",
                                      labels=["task"])
    for task, (buckets, _count, total) in task_histograms(data.get("live_counters", {})).items():
        durations.add_metric([task], [(b, float(n)) for b, n in buckets], total)
    yield durations
    alerts = GaugeMetricFamily("gradvy_alerts_active", "Active alerts, by kind and severity.",
                               labels=["kind", "severity"])
    counts: dict[tuple[str, str], int] = {}
    for alert in data.get("alerts", []):
        pair = (str(alert.get("kind", "?")), str(alert.get("severity", "?")))
        counts[pair] = counts.get(pair, 0) + 1
    for (kind, severity), n in sorted(counts.items()):
        alerts.add_metric([kind, severity], float(n))
    yield alerts


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def render_pipeline(data: dict[str, Any]) -> bytes:
    """The pipeline's metrics alone, in the text format (`gradvy run metrics`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(lambda: data))
    return generate_latest(registry)


REQUESTS = ("gradvy_collector_requests", "Collector requests answered, by route and status "
            "code.")
LATENCY = ("gradvy_collector_request_duration_seconds", "Time from a request's arrival to its "
           "answer, by route.")
EVENTS = ("gradvy_collector_events", "Events the collector answered, by outcome and event type.")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """The collector's own requests, latency and events.

    One server process (the default) counts them in plain dictionaries, rendered at each scrape:
    prometheus-client's metric objects validate and lock at every call, which cost a
    single-event request about a twelfth of its time. With several processes
    (`PROMETHEUS_MULTIPROC_DIR` set by `gradvy serve`) they are prometheus-client's
    multiprocess metrics, summed over the processes at each scrape."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._requests: dict[tuple[str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        self._events: dict[tuple[str, str], Any] = {}
        if self.multiprocess:
            self.requests = Counter(*REQUESTS, ["route", "status"])
            self.latency = Histogram(*LATENCY, ["route"], buckets=LATENCY_BUCKETS)
            self.events = Counter(*EVENTS, ["outcome", "type"])

    def count_request(self, route: str, status: int) -> None:
        if self.multiprocess:
            child = self._requests.get((route, status))
            if child is None:
                child = self._requests[(route, status)] = self.requests.labels(route,
                                                                               str(status))
            child.inc()
        else:
            key = (route, status)
            self._requests[key] = self._requests.get(key, 0) + 1

    def observe(self, route: str, seconds: float) -> None:
        if self.multiprocess:
            child = self._latency.get(route)
            if child is None:
                child = self._latency[route] = self.latency.labels(route)
            child.observe(seconds)
            return
        counts = self._latency.get(route)
        if counts is None:
            # One count per bucket (not cumulative), then +Inf, then the sum.
            counts = self._latency[route] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def count_events(self, label: tuple[str, str], n: int) -> None:
        if self.multiprocess:
            child = self._events.get(label)
            if child is None:
                child = self._events[label] = self.events.labels(*label)
            child.inc(n)
        else:
            self._events[label] = self._events.get(label, 0) + n

    def families(self) -> Iterator[Metric]:
        """This process's request metrics (one server process)."""
        requests = CounterMetricFamily(*REQUESTS, labels=["route", "status"])
        for (route, status), n in sorted(self._requests.items()):
            requests.add_metric([route, str(status)], n)
        yield requests
        latency = HistogramMetricFamily(*LATENCY, labels=["route"])
        for route, counts in sorted(self._latency.items()):
            running, buckets = 0, []
            for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts[:-1], strict=True):
                running += n
                buckets.append((bound, running))
            latency.add_metric([route], buckets, counts[-1])
        yield latency
        events = CounterMetricFamily(*EVENTS, labels=["outcome", "type"])
        for label, n in sorted(self._events.items()):
            events.add_metric(list(label), n)
        yield events

    def registry(self, pipeline: Callable[[], dict[str, Any]]) -> CollectorRegistry:
        """A registry for one scrape: this process's (or every process's) request metrics and
        the pipeline's."""
        registry = CollectorRegistry(auto_describe=False)
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Forward(self.families))
        registry.register(PipelineCollector(pipeline))
        return registry


class _Forward(Collector):
    def __init__(self, families: Callable[[], Iterator[Metric]]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families()
