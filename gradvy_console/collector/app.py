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
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__, runtime
from ..analytics.events import iso_from_ms, type_label
from ..clock import now_ms
from ..config import Config, load_config
from ..errors import is_backend_failure
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
from .intake import Intake, judge
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


def _headers(request: Request) -> dict[str, str]:
    """The request's headers as a dict, read once (Starlette's `Headers.get` scans and decodes
    the whole list at every call; a write looks at up to eight of them)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}


class Refused(Exception):
    """A request answered with an error status before any of its events was judged."""

    def __init__(self, status_code: int, code: str, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.response = _error(status_code, code, message,
                               {"Retry-After": str(max(1, math.ceil(retry_after)))}
                               if retry_after is not None else None)


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
        self.intake.start()
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
            self.backlog = await loop.run_in_executor(None, self.store.inbox_count)
        except Exception as exc:  # noqa: BLE001 - reported as 503 and on /readyz
            self.store_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            self.store_error = None

    # --- the write routes -------------------------------------------------------------------
    def _client(self, request: Request, headers: dict[str, str]) -> Client:
        presented = presented_key(headers.get("authorization"), headers.get("x-write-key"),
                                  request.query_params.get("key")
                                  if request.scope.get("query_string") else None)
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

    async def _body(self, request: Request, headers: dict[str, str]
                    ) -> tuple[list[Item], Any]:
        kind = check_content_type(headers.get("content-type"))
        gzipped = check_encoding(headers.get("content-encoding"))
        limit = self.settings.max_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise too_large(limit)
            data = await request.body()   # the server holds it to the declared length
        else:
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
            data = b"".join(chunks)
        if gzipped:
            data = gunzip(data, limit)
        return parse_items(data, kind, self.settings.max_events)

    def _admit(self, client: Client, n: int) -> None:
        wait = client.bucket.take(n)
        if wait:
            raise Refused(429, "rate_limited", f"Over the rate limit of the key "
                          f"'{client.name}' ({client.key.events_per_second:g} events/s); "
                          "send again after Retry-After seconds.", wait)
        if self.store_error is not None:
            raise Refused(503, "store_unreachable", "The store cannot be reached; nothing was "
                          "taken. Send again after Retry-After seconds.",
                          self.settings.retry_after_seconds)
        if self.backlog >= self.settings.max_backlog:
            raise Refused(503, "backlog", f"{self.backlog:,} events wait in the inbox "
                          f"([collector] max_backlog {self.settings.max_backlog:,}); nothing "
                          "was taken. Send again after Retry-After seconds.",
                          self.settings.retry_after_seconds)

    async def events(self, request: Request) -> Response:
        headers = _headers(request)
        if request.method == "OPTIONS":
            return self._preflight(headers)
        client = self._client(request, headers)
        client.bucket.take(0)
        if client.bucket.tokens < 1:
            self._admit(client, 1)   # an empty bucket: refuse before reading the body
        try:
            items, sent_at = await self._body(request, headers)
        except BodyError as exc:
            raise Refused(exc.status, exc.code, exc.message) from None
        self._admit(client, len(items))
        received = now_ms()
        judged = judge(items, sent_at if sent_at is not None else headers.get("x-sent-at"),
                       received, client.name, self.intake.ingestor)
        try:
            results = await self.intake.submit(judged)
        except Exception as exc:
            if not is_backend_failure(exc):
                raise
            self.store_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise Refused(503, "store_unreachable", "The store cannot be reached; nothing was "
                          "taken. Send again after Retry-After seconds.",
                          self.settings.retry_after_seconds) from None
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "suppressed": 0}
        by_label: dict[tuple[str, str], int] = {}
        for result, item in zip(results, judged, strict=True):
            outcome = result["outcome"]
            counts[outcome] += 1
            kind = getattr(item.outcome, "event_type", None)
            label = (outcome, type_label(kind) if kind else "none")
            by_label[label] = by_label.get(label, 0) + 1
        for label, n in by_label.items():
            self.metrics.count_events(label, n)
        return self._cors(headers, client, _json({"received_at": iso_from_ms(received),
                                                  **counts, "results": results}))

    async def consent(self, request: Request) -> Response:
        headers = _headers(request)
        if request.method == "OPTIONS":
            return self._preflight(headers)
        client = self._client(request, headers)
        try:
            items, _sent_at = await self._body(request, headers)
        except BodyError as exc:
            raise Refused(exc.status, exc.code, exc.message) from None
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
            raise Refused(503, "store_unreachable", "The store cannot be reached; nothing was "
                          "taken.", self.settings.retry_after_seconds) from None
        return self._cors(headers, client, _json({
            "rows": done.rows, "accepted": done.accepted, "added": done.added,
            "rejected": [{"index": i, "reason": why} for i, why in done.rejected]}))

    # --- CORS -------------------------------------------------------------------------------
    def _preflight(self, headers: dict[str, str]) -> Response:
        origin = headers.get("origin")
        if origin is None or not self.keys.allows_origin(origin):
            return Response(status_code=403, headers={"Vary": "Origin"})
        return Response(status_code=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin"})

    @staticmethod
    def _cors(headers: dict[str, str], client: Client, response: Response) -> Response:
        origin = headers.get("origin")
        if origin is not None and client.allows_origin(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

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
        for name, probe in (("store", self.store.inbox_count),
                            ("queues", lambda: current().depths()),
                            ("live", lambda: runtime.live().ping())):
            try:
                probe()
            except Exception as exc:  # noqa: BLE001 - the check's answer is the failure
                checks[name] = f"{type(exc).__name__}: {str(exc)[:160]}"
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
        count, observe = self.metrics.count_request, self.metrics.observe

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except Refused as refused:
                response = refused.response
            except Exception as exc:  # noqa: BLE001 - answered 500, the traceback logged
                self._log_failure(name, exc)
                response = _error(500, "internal", "The collector failed on this request; "
                                  "it is logged. Nothing in it can be taken as accepted.")
            status_code = response.status_code
            count(name, status_code)
            observe(name, time.perf_counter() - started)
            self.answered += 1
            if status_code >= 500:
                self.failed += 1
            return response
        return endpoint


def build_app(config: Config, processes: int = 1,
              enqueue: Callable[[list[str]], None] = _enqueue) -> Starlette:
    collector = Collector(config, processes, enqueue)
    r = collector.route
    routes = [
        Route("/v1/events", r("events", collector.events), methods=["POST", "OPTIONS"]),
        Route("/v1/consent", r("consent", collector.consent), methods=["POST", "OPTIONS"]),
        Route("/healthz", r("healthz", collector.healthz), methods=["GET"]),
        Route("/readyz", r("readyz", collector.readyz), methods=["GET"]),
        Route("/metrics", r("metrics", collector.metrics_route), methods=["GET"]),
        Route("/openapi.json", r("openapi", collector.openapi), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=collector.lifespan)
    app.state.collector = collector
    return app


def create_app() -> Starlette:
    """uvicorn's factory (`gradvy_console.collector.app:create_app`): the configuration from
    the environment `gradvy serve` set up (GRADVY_CONFIG and the overrides)."""
    config = load_config()
    return build_app(config, processes=int(os.environ.get("GRADVY_COLLECTOR_PROCESSES", "1")))
