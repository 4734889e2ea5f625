"""The ceiling for bench/collector.py: the same server frameworks answering 200 to the same bodies
without doing anything (the body is read, a constant JSON answer is sent). Run by uvicorn with
the collector's own options:  uvicorn --factory bench.collector_ceiling:starlette_app"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = b'{"accepted":1}'


def starlette_app() -> Starlette:
    async def events(request: Request) -> Response:
        await request.body()
        return Response(ANSWER, media_type="application/json")

    return Starlette(routes=[Route("/v1/events", events, methods=["POST"])])


def fastapi_app() -> Any:
    """FastAPI as it is used: a route that reads the body as a `Request` (no model validation:
    the collector validates events itself, per event)."""
    from fastapi import FastAPI

    async def events(request: Request) -> Response:
        await request.body()
        return Response(ANSWER, media_type="application/json")

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.add_api_route("/v1/events", events, methods=["POST"])
    return app


class _RawEvents:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(ANSWER)).encode())]})
        await send({"type": "http.response.body", "body": ANSWER})


def raw_app() -> Starlette:
    """Starlette routing to a plain ASGI endpoint (no Request or Response objects)."""
    return Starlette(routes=[Route("/v1/events", _RawEvents(), methods=["POST"])])
