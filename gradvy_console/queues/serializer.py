"""Queue messages and results as signed JSON: nothing read from a queue is ever unpickled.

Huey's default serializer is pickle, for every task message, scheduled task and result: whoever
can write to Redis (or to a queue file) could run code in every process that reads a queue.
Here every value Huey stores is

    b"gv1." + HMAC-SHA256(key, rest).hexdigest() + b"." + rest
    rest = ENQUEUED_MS + b"." + JSON body            (ENQUEUED_MS may be empty)

signed with the deployment's queue key (`config.keys.queue_key`: `GRADVY_QUEUE_KEY`, or a key
file only its owner can read, shared by every host). The JSON body keeps the few Python types a
Huey message holds (its `Message` tuple, datetimes, tuples, Huey's error and skipped markers) as
tagged objects and nothing else: a task's arguments must be JSON data. A value whose signature
or shape is wrong is never decoded further: `BadMessage` is raised and the rejection hook
(installed by `runtime`: counted and alerted) is told why. The enqueue time sits in the frame
outside the body, so a queue's oldest age is read without decoding any payload
(`enqueued_ms`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
from huey.registry import Message
from huey.utils import SKIPPED, Error

from ..analytics.events import scrub
from ..errors import GradvyError

MAGIC = b"gv1."
_SIG_LEN = 64  # hex digits of SHA-256
_TAGS = frozenset({"__m", "__t", "__dt", "__td", "__e", "__s", "__d"})

RejectionHook = Callable[[str], None]


class BadMessage(GradvyError):
    """A queue value that is not a message we signed, or not of the shape we write."""


def _encode(value: Any) -> Any:
    """Plain JSON data for `value`, with Huey's own types tagged."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dictionary keys must be strings, not {type(key).__name__}")
            out[key] = _encode(item)
        # A payload that happens to look like one of our tags stays a payload.
        return {"__d": out} if len(out) == 1 and next(iter(out)) in _TAGS else out
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, Message):
        return {"__m": [_encode(item) for item in value]}
    if isinstance(value, Error):
        # A failure's message and traceback may quote the task's arguments: masked like a
        # stored event before it is written anywhere.
        return {"__e": _encode(scrub(value.metadata)[0])}
    if isinstance(value, tuple):
        return {"__t": [_encode(item) for item in value]}
    if isinstance(value, dt.datetime):
        return {"__dt": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"__td": value.total_seconds()}
    if value is SKIPPED:
        return {"__s": 1}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _encode(value.tolist())  # numpy scalars and arrays in a task's result
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag == "__d":
            return {k: _decode(v) for k, v in inner.items()}
        if tag == "__m":
            fields = [_decode(item) for item in inner]
            if len(fields) > len(Message._fields):
                raise BadMessage("a queue message has too many fields")
            return Message(*fields)
        if tag == "__e":
            return Error(_decode(inner))
        if tag == "__t":
            return tuple(_decode(item) for item in inner)
        if tag == "__dt":
            return dt.datetime.fromisoformat(inner)
        if tag == "__td":
            return dt.timedelta(seconds=float(inner))
        if tag == "__s":
            return SKIPPED
    return {k: _decode(v) for k, v in value.items()}


def enqueued_ms(raw: bytes) -> int | None:
    """The enqueue time in a framed value's header, without decoding (or trusting) the body:
    used only for queue ages. None when the value carries none or is not ours."""
    if not raw.startswith(MAGIC):
        return None
    start = len(MAGIC) + _SIG_LEN + 1
    end = raw.find(b".", start, start + 20)
    stamp = raw[start:end] if end > 0 else b""
    return int(stamp) if stamp.isdigit() else None


class SignedJsonSerializer:
    """Huey's serializer interface (`serialize`, `deserialize`) over signed JSON frames."""

    def __init__(self, key: bytes, on_reject: RejectionHook | None = None) -> None:
        if len(key) < 16:
            raise GradvyError("The queue key must be at least 16 bytes.", exit_code=2)
        self._key = key
        self.on_reject = on_reject

    def _sign(self, rest: bytes) -> bytes:
        return hmac.new(self._key, rest, hashlib.sha256).hexdigest().encode()

    def serialize(self, data: Any) -> bytes:
        stamp = b""
        if isinstance(data, Message) and isinstance(data.kwargs, dict):
            enqueued = data.kwargs.get("_enqueued_ms")
            if isinstance(enqueued, int) and not isinstance(enqueued, bool):
                stamp = str(enqueued).encode()
        try:
            body = orjson.dumps(_encode(data))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise GradvyError(f"Task arguments and results must be JSON data: {exc}.",
                              exit_code=2) from None
        rest = stamp + b"." + body
        return MAGIC + self._sign(rest) + b"." + rest

    def _reject(self, why: str) -> BadMessage:
        if self.on_reject is not None:
            try:
                self.on_reject(why)
            except Exception:  # noqa: BLE001 - reporting a bad message must never fail
                pass
        return BadMessage(f"Dropped a queue value: {why}.")

    def deserialize(self, data: bytes) -> Any:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise self._reject("it is not bytes")
        raw = bytes(data)
        if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + _SIG_LEN + 2:
            raise self._reject("it is not a signed Gradvy frame (a pickle, or foreign data)")
        signature = raw[len(MAGIC):len(MAGIC) + _SIG_LEN]
        rest = raw[len(MAGIC) + _SIG_LEN + 1:]
        if not hmac.compare_digest(signature, self._sign(rest)):
            raise self._reject("its signature does not match the queue key")
        body = rest[rest.index(b".") + 1:]
        try:
            return _decode(orjson.loads(body))
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            raise self._reject(f"its signed body is malformed ({exc})") from None
