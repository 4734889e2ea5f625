"""The collector's ASGI application (Starlette; see bench/collector.py for why not FastAPI).

`POST /v1/events` and `POST /v1/consent` take events and consent changes from frontends with a
write key; `/healthz`, `/readyz`, `/metrics` and `/openapi.json` are for operators and their
tools. The order of checks on a write: the key (401, 403: nothing else is looked at without
one), the browser origin, the content type and coding (415), the size (413), the body (400),
the key's rate (429), the backlog and the store (503); then every event is normalised, judged
and written with the other requests of the moment (`intake`), and the answer lists each
event's outcome.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import orjson
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__, runtime
from ..analytics.events import Event, Rejection, iso_from_ms, type_label
from ..clock import now_ms
from ..config import Config, load_config
from ..errors import is_backend_failure, redact
from ..pipeline import status
from ..privacy import import_consent_rows
from ..queues import current
from .body import (
    BodyError,
    Item,
    check_content_type,
    check_encoding,
    gunzip,
    parse_items,
    too_large,
)
from .intake import Intake, StoreBusy, judge
from .keys import Client, KeyRing, presented_key
from .metrics import CONTENT_TYPE, RequestMetrics
from .openapi import document

log = logging.getLogger("gradvy.collector")

ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Write-Key, X-Sent-At"


def _json(data: Any, status_code: int = 200, headers: dict[str, str] | None = None
          ) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, headers=headers,
                    media_type="application/json")


def _error(status_code: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    return _json({"error": code, "message": message}, status_code, headers)


class Answer(NamedTuple):
    """A write route's answer: status, JSON body (or none), extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] | None = None


class Refused(Exception):
    """A request answered with an error status before any of its events was judged."""

    def __init__(self, status_code: int, code: str, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.answer = Answer(status_code, orjson.dumps({"error": code, "message": message}),
                             {"Retry-After": str(max(1, math.ceil(retry_after)))}
                             if retry_after is not None else None)


class ClientGone(Exception):
    """The client closed the connection before its body was read: nothing to answer."""


class Write:
    """A write request as a plain ASGI endpoint sees it: the headers read once into a dict
    (Starlette's `Headers.get` scans and decodes the whole list at every call)."""

    __slots__ = ("headers", "method", "receive", "scope")

    def __init__(self, scope: Any, receive: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

    def query(self, name: str) -> str | None:
        raw = self.scope.get("query_string")
        if not raw:
            return None
        values = parse_qs(raw.decode("latin-1")).get(name)
        return values[0] if values else None

    async def body(self, limit: int) -> bytes:
        """The whole body, refused (413) as soon as it passes `limit` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class WriteEndpoint:
    """The ASGI endpoint of a write route: the answer, a refusal's answer, the request's
    metrics and the counts the heartbeat reports; an unexpected failure is answered 500 and
    its traceback logged (once a minute per kind)."""

    def __init__(self, collector: Collector, name: str,
                 handler: Callable[[Write], Awaitable[Answer]]) -> None:
        self.collector = collector
        self.name = name
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        collector = self.collector
        try:
            answer = await self.handler(Write(scope, receive))
        except Refused as refused:
            answer = refused.answer
        except ClientGone:
            return
        except Exception as exc:  # noqa: BLE001 - answered 500, the traceback logged
            collector._log_failure(self.name, exc)
            answer = Answer(500, orjson.dumps({
                "error": "internal", "message": "The collector failed on this request; it is "
                "logged. Nothing in it can be taken as accepted."}))
        headers = [(b"content-length", str(len(answer.body)).encode())]
        if answer.body:
            headers.append((b"content-type", b"application/json"))
        if answer.headers:
            headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        collector.finished(self.name, answer.status, started)


def _label_of(outcome: Event | Rejection) -> str:
    """The `type` label of an answered event: its type (known ones by name), or `none`."""
    kind = outcome.event_type if isinstance(outcome, Event) else None
    return type_label(kind) if kind else "none"


def _failure(exc: BaseException) -> str:
    """A backend failure for /readyz (no credentials: it answers without a key)."""
    return redact(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}")


def _enqueue(receipts: list[str]) -> None:
    from ..tasks.realtime import batch_process_events

    batch_process_events(receipts=receipts)


class Collector:
    def __init__(self, config: Config, processes: int = 1,
                 enqueue: Callable[[list[str]], None] = _enqueue) -> None:
        self.config = config
        self.settings = config.collector
        self.keys = KeyRing(self.settings, processes)
        runtime.activate(config)
        self.store = runtime.store()
        self.intake = Intake(config, self.store, runtime.ingestor(), enqueue)
        self.metrics = RequestMetrics()
        self.backlog = 0
        self.store_error: str | None = None
        self.answered = 0
        self.failed = 0
        self._openapi = orjson.dumps(document(__version__))
        self._watch: asyncio.Task[None] | None = None
        self._heartbeat: Any = None
        self._logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    # --- lifecycle --------------------------------------------------------------------------
    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # Everything imported and built so far lives as long as the process: out of the
        # cyclic collector's sight, so its full passes scan only what requests allocate.
        gc.collect()
        gc.freeze()
        self.intake.start()
        try:
            self.store.checkpoint_aside()   # the group commits run on this loop: no stalls
        except Exception as exc:  # noqa: BLE001 - the store's state is reported by _check_store
            log.debug("checkpoints stay with the commits: %s", exc)
        await self._check_store()
        self._watch = asyncio.get_running_loop().create_task(self._watch_store())
        self._start_heartbeat()
        if not self.keys:
            log.warning("no write key is configured: every write is refused (401/403). Make "
                        "one with `gradvy run collector-key NAME`.")
        try:
            yield
        finally:
            if self._watch is not None:
                self._watch.cancel()
            if self._heartbeat is not None:
                self._heartbeat.stop()
            await self.intake.stop()

    def _start_heartbeat(self) -> None:
        """Beat like a consumer (queue `collector`), so the fleet view shows this process."""
        from ..pool.worker import Heartbeat

        try:
            self._heartbeat = Heartbeat("collector", self.config, self.settings.workers,
                                        "http", counts=lambda: (self.answered, self.failed))
            where = os.environ.get("GRADVY_COLLECTOR_ADDRESS")
            if where:   # the consumers table's "task" column: what this process does
                self._heartbeat.doc["current"] = f"http {where}"
            self._heartbeat.start()
        except Exception as exc:  # noqa: BLE001 - live state may be down; the server is not
            log.warning("heartbeat not started: %s", exc)
            self._heartbeat = None

    async def _watch_store(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._check_store()

    async def _check_store(self) -> None:
        """The inbox backlog, once a second (the 503 threshold), and whether the store
        answers at all."""
        loop = asyncio.get_running_loop()
        try:
            self.backlog = await loop.run_in_executor(None, self._backlog)
        except Exception as exc:  # noqa: BLE001 - reported as 503 and on /readyz
            self.store_error = _failure(exc)
        else:
            self.store_error = None

    def _backlog(self) -> int:
        """The inbox rows waiting: exact only when the cheap upper bound reaches the limit."""
        bound = self.store.inbox_upper_bound()
        return bound if bound < self.settings.max_backlog else self.store.inbox_count()

    # --- the write routes (plain ASGI endpoints: no Request or Response objects, which cost
    # a third of a bare request's time; measured in bench/collector.py) -----------------------
    def _client(self, write: Write) -> Client:
        headers = write.headers
        presented = presented_key(headers.get("authorization"), headers.get("x-write-key"),
                                  write.query("key"))
        if presented is None:
            raise Refused(401, "missing_key", "A write key is required: send it as "
                          "'Authorization: Bearer KEY' (or Basic with the key as user name, "
                          "an X-Write-Key header, or ?key=).")
        client = self.keys.find(presented) if presented else None
        if client is None:
            raise Refused(403, "unknown_key", "This write key is not known to the collector.")
        origin = headers.get("origin")
        if origin is not None and not client.allows_origin(origin):
            raise Refused(403, "origin_not_allowed", f"This write key may not be used from "
                          f"the origin {origin[:100]}; add it to the key's origins.")
        return client

    async def _body(self, write: Write) -> tuple[list[Item], Any]:
        headers = write.headers
        try:
            kind = check_content_type(headers.get("content-type"))
            gzipped = check_encoding(headers.get("content-encoding"))
            limit = self.settings.max_bytes
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise too_large(limit)
            data = await write.body(limit)
            if gzipped:
                data = gunzip(data, limit)
            return parse_items(data, kind, self.settings.max_events)
        except BodyError as exc:
            raise Refused(exc.status, exc.code, exc.message) from None

    def _admit(self, client: Client, n: int) -> None:
        wait = client.bucket.take(n)
        if wait:
            raise Refused(429, "rate_limited", f"Over the rate limit of the key "
                          f"'{client.name}' ({client.key.events_per_second:g} events/s); "
                          "send again after Retry-After seconds.", wait)
        if self.store_error is not None:
            raise self._unreachable()
        if self.intake.stalled():
            raise self._busy()
        if self.backlog >= self.settings.max_backlog:
            raise Refused(503, "backlog", f"{self.backlog:,} events wait in the inbox "
                          f"([collector] max_backlog {self.settings.max_backlog:,}); nothing "
                          "was taken. Send again after Retry-After seconds.",
                          self.settings.retry_after_seconds)

    def _busy(self) -> Refused:
        return Refused(503, "store_busy", "The store has been busy for more than "
                       f"{self.settings.commit_timeout_seconds:g} s ([collector] "
                       "commit_timeout_seconds); send again after Retry-After seconds (events "
                       "that were taken meanwhile are then answered duplicate).",
                       self.settings.retry_after_seconds)

    def _unreachable(self) -> Refused:
        return Refused(503, "store_unreachable", "The store cannot be reached; nothing was "
                       "taken. Send again after Retry-After seconds.",
                       self.settings.retry_after_seconds)

    async def events(self, write: Write) -> Answer:
        if write.method == "OPTIONS":
            return self._preflight(write)
        client = self._client(write)
        client.bucket.take(0)
        if client.bucket.tokens < 1:
            self._admit(client, 1)   # an empty bucket: refuse before reading the body
        items, sent_at = await self._body(write)
        self._admit(client, len(items))
        received = now_ms()
        judged = judge(items, sent_at if sent_at is not None
                       else write.headers.get("x-sent-at"), received, client.name,
                       self.intake.ingestor)
        try:
            results = await self.intake.submit(judged)
        except StoreBusy:
            raise self._busy() from None
        except Exception as exc:
            if not is_backend_failure(exc):
                raise
            self.store_error = _failure(exc)
            raise self._unreachable() from None
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "suppressed": 0}
        by_label: dict[tuple[str, str], int] = {}
        for result, item in zip(results, judged, strict=True):
            outcome = result["outcome"]
            counts[outcome] += 1
            label = (outcome, _label_of(item.outcome))
            by_label[label] = by_label.get(label, 0) + 1
        for label, n in by_label.items():
            self.metrics.count_events(label, n)
        body = orjson.dumps({"received_at": iso_from_ms(received), **counts,
                             "results": results})
        return Answer(200, body, self._cors(write, client))

    async def consent(self, write: Write) -> Answer:
        if write.method == "OPTIONS":
            return self._preflight(write)
        client = self._client(write)
        items, _sent_at = await self._body(write)
        self._admit(client, len(items))
        rows: list[tuple[int, dict[str, Any] | str]] = []
        for index, item in enumerate(items):
            if item.error is not None:
                rows.append((index, item.error))
            elif not isinstance(item.value, dict):
                rows.append((index, "not a JSON object"))
            else:
                rows.append((index, item.value))
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(
                self.intake.executor, lambda: import_consent_rows(
                    self.config, self.store, rows, f"collector:{client.name}", "collector"))
        except Exception as exc:
            if not is_backend_failure(exc):
                raise
            raise self._unreachable() from None
        body = orjson.dumps({"rows": done.rows, "accepted": done.accepted, "added": done.added,
                             "rejected": [{"index": i, "reason": why}
                                          for i, why in done.rejected]})
        return Answer(200, body, self._cors(write, client))

    # --- CORS -------------------------------------------------------------------------------
    def _preflight(self, write: Write) -> Answer:
        origin = write.headers.get("origin")
        if origin is None or not self.keys.allows_origin(origin):
            return Answer(403, b"", {"Vary": "Origin"})
        return Answer(204, b"", {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin"})

    @staticmethod
    def _cors(write: Write, client: Client) -> dict[str, str] | None:
        origin = write.headers.get("origin")
        if origin is not None and client.allows_origin(origin):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return None

    def write_route(self, name: str, handler: Callable[[Write], Awaitable[Answer]]
                    ) -> WriteEndpoint:
        return WriteEndpoint(self, name, handler)

    # --- operators' routes ------------------------------------------------------------------
    async def healthz(self, _request: Request) -> Response:
        return _json({"status": "ok", "pid": os.getpid()})

    async def readyz(self, _request: Request) -> Response:
        loop = asyncio.get_running_loop()
        checks = await loop.run_in_executor(None, self._readiness)
        ready = all(v == "ok" for v in checks.values())
        return _json({"status": "ready" if ready else "not_ready", "checks": checks},
                     200 if ready else 503)

    def _readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        if self.store_error is not None:      # the last write or the store watch failed
            checks["store"] = self.store_error
        for name, probe in (("store", self.store.inbox_count),
                            ("queues", lambda: current().depths()),
                            ("live", lambda: runtime.live().ping())):
            if name in checks:
                continue
            try:
                probe()
            except Exception as exc:  # noqa: BLE001 - the check's answer is the failure
                checks[name] = _failure(exc)
            else:
                checks[name] = "ok"
        return checks

    async def metrics_route(self, _request: Request) -> Response:
        loop = asyncio.get_running_loop()
        registry = self.metrics.registry(self.snapshot)
        body = await loop.run_in_executor(None, generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE)

    def snapshot(self) -> dict[str, Any]:
        return status(self.config, self.store, runtime.live())

    async def openapi(self, _request: Request) -> Response:
        return Response(self._openapi, media_type="application/json")

    def finished(self, route: str, status: int, started: float) -> None:
        """A request answered: its metrics, and the counts the heartbeat reports."""
        self.metrics.count_request(route, status)
        self.metrics.observe(route, time.perf_counter() - started)
        self.answered += 1
        if status >= 500:
            self.failed += 1

    def _log_failure(self, route: str, exc: Exception) -> None:
        """The traceback of an unexpected failure, once a minute per kind of failure (a bug
        hit by every request must not fill the disk with the same traceback)."""
        kind = f"{route}:{type(exc).__name__}:{str(exc)[:80]}"
        now = time.monotonic()
        last = self._logged.get(kind)
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        if last is not None and now - last < 60:
            return
        self._logged[kind] = now
        repeats = self._suppressed.pop(kind) - 1
        log.error("%s failed%s", route, f" ({repeats} more like it since the last report)"
                  if repeats else "", exc_info=exc)

    # --- every request ----------------------------------------------------------------------
    def route(self, name: str, handler: Callable[[Request], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
        """The handler with the answer to a refusal, the request's metrics and the count the
        heartbeat reports; an unexpected failure is logged and answered 500 (one sentence)."""
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except Refused as refused:
                response = Response(refused.answer.body, refused.answer.status,
                                    refused.answer.headers, media_type="application/json")
            except Exception as exc:  # noqa: BLE001 - answered 500, the traceback logged
                self._log_failure(name, exc)
                response = _error(500, "internal", "The collector failed on this request; "
                                  "it is logged. Nothing in it can be taken as accepted.")
            self.finished(name, response.status_code, started)
            return response
        return endpoint


def build_app(config: Config, processes: int = 1,
              enqueue: Callable[[list[str]], None] = _enqueue) -> Starlette:
    collector = Collector(config, processes, enqueue)
    r = collector.route
    routes = [
        Route("/v1/events", collector.write_route("events", collector.events),
              methods=["POST", "OPTIONS"]),
        Route("/v1/consent", collector.write_route("consent", collector.consent),
              methods=["POST", "OPTIONS"]),
        Route("/healthz", r("healthz", collector.healthz), methods=["GET"]),
        Route("/readyz", r("readyz", collector.readyz), methods=["GET"]),
        Route("/metrics", r("metrics", collector.metrics_route), methods=["GET"]),
        Route("/openapi.json", r("openapi", collector.openapi), methods=["GET"]),
    ]
    app = CollectorApp(routes=routes, lifespan=collector.lifespan)
    app.state.collector = collector
    app.writes = {route.path: route.endpoint for route in routes[:2]
                  if isinstance(route.endpoint, WriteEndpoint)}
    return app


class CollectorApp(Starlette):
    """Starlette, with the write routes' POST and OPTIONS requests handed straight to their
    endpoints: those catch and answer every failure themselves, so Starlette's middleware and
    route matching (about a sixth of a single-event request's time, measured) add nothing
    to them. Every other request, and every other method on these paths (405), goes through
    Starlette."""

    writes: dict[str, WriteEndpoint]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in _WRITE_METHODS:
            endpoint = self.writes.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


_WRITE_METHODS = frozenset({"POST", "OPTIONS"})


def create_app() -> Starlette:
    """uvicorn's factory (`gradvy_console.collector.app:create_app`): the configuration from
    the environment `gradvy serve` set up (GRADVY_CONFIG and the overrides)."""
    config = load_config()
    processes = int(os.environ.get("GRADVY_COLLECTOR_PROCESSES", "1"))
    return build_app(config, processes=processes)
