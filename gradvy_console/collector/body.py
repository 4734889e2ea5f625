"""Request bodies of `POST /v1/events` and `POST /v1/consent`: the content types, gzip, the size
and count limits, and the three shapes (one JSON object, a JSON array or `{"batch": [...]}`,
NDJSON). Pure: bytes in, items or a `BodyError` (the status code and its sentence) out."""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import orjson

from ..analytics.events import iso_from_ms, json_too_deep, parse_timestamp_ms

# The content types a collector request may carry. `text/plain` is what `navigator.sendBeacon`
# and a "simple" CORS request (no preflight) send; its body is read like JSON or NDJSON.
JSON_TYPES = ("application/json", "text/plain")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl",
                "application/json-seq")


class BodyError(Exception):
    """A request that cannot be read at all: its status code and one sentence."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class Item(NamedTuple):
    """One element of a body: its decoded value, or why it could not be decoded (an NDJSON
    line that is not JSON)."""

    value: Any = None
    error: str | None = None
    raw: bytes = b""


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def check_content_type(header: str | None) -> str:
    """'json' or 'ndjson', or a 415 BodyError."""
    kind = media_type(header)
    if kind in JSON_TYPES:
        return "json"
    if kind in NDJSON_TYPES:
        return "ndjson"
    shown = kind or "none"
    raise BodyError(415, f"Content-Type {shown} is not accepted: send application/json, "
                         "application/x-ndjson or text/plain.", "unsupported_media_type")


def check_encoding(header: str | None) -> bool:
    """Whether the body is gzip-compressed; a 415 BodyError for any other coding."""
    coding = (header or "").strip().lower()
    if coding in ("", "identity"):
        return False
    if coding in ("gzip", "x-gzip"):
        return True
    raise BodyError(415, f"Content-Encoding {coding} is not accepted: send gzip or none.",
                    "unsupported_encoding")


def too_large(max_bytes: int) -> BodyError:
    return BodyError(413, f"The body is larger than {max_bytes:,} bytes ([collector] "
                          "max_bytes); send fewer events per request.", "body_too_large")


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip body, refusing one that inflates past `max_bytes` (a gzip bomb stops
    at the limit: nothing more is inflated)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise too_large(max_bytes)
        out += inflater.flush()
    except zlib.error:
        raise BodyError(400, "The body is not valid gzip data (Content-Encoding: gzip).",
                        "bad_gzip") from None
    if not inflater.eof:
        raise BodyError(400, "The gzip body is cut short.", "bad_gzip")
    if len(out) > max_bytes:
        raise too_large(max_bytes)
    return out


def parse_items(data: bytes, kind: str, max_events: int) -> tuple[list[Item], Any]:
    """The items of a body and its envelope's `sent_at` (None if there is no envelope).

    `json`: one object, an array, or `{"batch": [...], "sent_at": ...}`; a body that is not
    JSON at all is a 400. `ndjson` (or a JSON body that does not parse as one value but has
    lines): one value per line; a line that is not JSON is one item with its error, the other
    lines go on. More than `max_events` items is a 413."""
    if not data or data.isspace():
        raise BodyError(400, "The body is empty: send one event, an array of events or NDJSON.",
                        "empty_body")
    sent_at = None
    if kind == "json":
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if json_too_deep(exc):
                raise BodyError(400, "The body nests too deeply to read.", "too_deep") from None
            if b"\n" not in data.strip():
                raise BodyError(400, "The body is not JSON.", "bad_json") from None
            items = _lines(data, max_events)
        except RecursionError:
            raise BodyError(400, "The body nests too deeply to read.", "too_deep") from None
        else:
            if type(value) is dict:
                if type(value.get("batch")) is list:
                    sent_at = value.get("sent_at")
                    values = value["batch"]
                else:
                    return [Item(value)], None      # one event: the usual single request
            else:
                values = value if type(value) is list else [value]
            _check_count(len(values), max_events)
            items = [Item(v) for v in values]
    else:
        items = _lines(data, max_events)
    if not items:
        raise BodyError(400, "The body holds no events.", "empty_body")
    return items, sent_at


def _check_count(n: int, max_events: int) -> None:
    if n > max_events:
        raise BodyError(413, f"The body holds {n:,} events; at most {max_events:,} are taken "
                             "in one request ([collector] max_events).", "too_many_events")


def _lines(data: bytes, max_events: int) -> list[Item]:
    lines = [line for line in data.split(b"\n") if line.strip()]
    _check_count(len(lines), max_events)
    items = []
    for line in lines:
        try:
            items.append(Item(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            deep = json_too_deep(exc)
            items.append(Item(None, "this line nests too deeply to read" if deep
                              else "this line is not JSON", line))
    return items


def correct_clock(event: dict[str, Any], sent_at: Any, received_ms: int) -> dict[str, Any]:
    """The Segment and PostHog rule for a client whose clock is wrong: the client stamps the
    request with its own time when it sends it (`sent_at`), so the skew is sent_at - received_at
    and `timestamp = received_at - (sent_at - timestamp)`. An event's own `sent_at` wins over
    the request's; the field itself is not kept. Timestamps that cannot be read are left for the
    normaliser to refuse."""
    own = event.get("sent_at", sent_at)
    if "sent_at" in event:
        event = {k: v for k, v in event.items() if k != "sent_at"}
    if own is None:
        return event
    sent_ms = parse_timestamp_ms(own)
    stamp = event.get("timestamp")
    ts = parse_timestamp_ms(stamp) if stamp is not None else None
    if sent_ms is None or ts is None:
        return event
    return {**event, "timestamp": iso_from_ms(received_ms - (sent_ms - ts))}
