"""Event normalisation and validation: pure functions, no I/O, time passed in.

`normalise_event(raw, now_ms, limits)` returns an `Event` or a `Rejection` with a
machine-readable reason. Units are fixed here (durations to seconds, completion to 0-1,
quiz field names), PII is masked and secret-looking keys are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

KNOWN_TYPES = frozenset(
    {
        "course_interaction",
        "learning_session",
        "quiz_attempt",
        "search",
        "button_click",
        "link_click",
        "form_submit",
        "consent",
    }
)
UI_TYPES = frozenset({"button_click", "link_click", "form_submit"})

# Reason codes written to dead letters and counted.
MISSING_FIELD = "missing_field"
BAD_TYPE = "bad_type"
BAD_TIMESTAMP = "bad_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
TOO_LARGE = "too_large"
ID_COLLISION = "id_collision"
NOT_OBJECT = "not_object"
BAD_JSON = "bad_json"
OUT_OF_RANGE = "out_of_range"
TOO_DEEP = "too_deep"
PII_IN_IDENTIFIER = "pii_in_identifier"
BAD_CONSENT = "bad_consent"       # a consent event that grants and revokes nothing known
UNPROCESSABLE = "unprocessable"   # anything else that could not be processed, with the error
REASONS = (MISSING_FIELD, BAD_TYPE, BAD_TIMESTAMP, FUTURE_TIMESTAMP, TOO_LARGE, ID_COLLISION,
           NOT_OBJECT, BAD_JSON, OUT_OF_RANGE)

# A duration above a day cannot be seconds of one session: it was sent in milliseconds.
MAX_PLAUSIBLE_SECONDS = 86_400.0

_SECRET_KEY = re.compile(r"pass(word|wd)?|token|secret|api[_-]?key|authorization|credential",
                         re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
                   r"(?![\d.])")
_PHONE = re.compile(r"(?<![\w/=-])\+?\d{1,3}?[\s.-]?\(?\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}"
                    r"(?![\w/])")
# Cheap pre-check: an e-mail needs '@', an IP address 'digit.digit', a phone number seven or more
# digit-like characters in a row. Ids such as "c0042" pass straight through.
_MAYBE_PII = re.compile(r"@|\d\.\d|\d[\d\s().+-]{5,}\d")
@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 16_384
    max_future_ms: int = 3_600_000
    max_depth: int = 32    # objects and lists inside one another, the event itself counted
    # Identifiers carrying an e-mail address or phone number: pseudonymised with this key
    # (None: left as they are), or rejected as pii_in_identifier.
    pii_key: bytes | None = None
    pii_in_identifiers: str = "pseudonymise"    # or "reject"
    # The zone of a timestamp written without an offset ([ingest] naive_timezone).
    naive_zone: tzinfo = UTC


_CONTAINERS = frozenset({dict, list, tuple})


def nesting_depth(value: Any, cap: int) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0, `{}` is 1), counted
    without recursion and no further than `cap + 1`: a hostile payload cannot exhaust the
    stack here, whatever its depth. (Decoded JSON holds exact dicts and lists: checked by
    type, the hot path of every event.)"""
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        return 0
    if kind is dict:
        # The usual event: a few scalars and one flat `properties` object (or none): decided
        # in one pass over its values, without the general walk below.
        inner = [v for v in value.values() if type(v) in _CONTAINERS]
        if not inner:
            return 1
        if len(inner) == 1 and type(inner[0]) is dict and not any(
                type(v) in _CONTAINERS for v in inner[0].values()):
            return 2
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > deepest:
            deepest = depth
            if deepest > cap:
                return deepest
        for child in (item.values() if type(item) is dict else item):
            kind = type(child)
            if kind is dict or kind is list or kind is tuple:
                push((child, depth + 1))
    return deepest


def dead_letter_payload(payload: Any, limit: int) -> tuple[str, str]:
    """The stored form of a rejected payload: text, PII masked as in stored events, cut to
    `limit` bytes. Returns (text, a note for the detail: the original size and hash when cut,
    else ""). Never raises, whatever the payload (deep, huge, not UTF-8, not JSON)."""
    if isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
    elif isinstance(payload, str):
        raw = payload.encode("utf-8", "replace")
    else:
        try:
            raw = orjson.dumps(payload, default=repr)
        except (TypeError, orjson.JSONEncodeError):
            raw = _bounded_repr(payload, limit).encode("utf-8", "replace")
    size = len(raw)
    text = raw[:limit * 2].decode("utf-8", "replace")   # masking may shorten it
    text, _masked = mask_text(text)
    note = ""
    if len(text.encode()) > limit or size > limit * 2:
        digest = hashlib.sha256(raw).hexdigest()
        text = text.encode()[:limit].decode("utf-8", "ignore")
        # The cut may leave the start of an address the mask no longer recognises: drop it.
        text = _PARTIAL_TAIL.sub("", text)
        note = f" (payload of {size} bytes, sha256 {digest[:16]}, cut to {limit})"
    return text, note


_PARTIAL_TAIL = re.compile(r"[^\s,;\"'\]\[{}()<>]{1,128}\Z")


def _bounded_repr(value: Any, limit: int) -> str:
    """A short description of a value orjson cannot encode (too deep, not JSON)."""
    depth = nesting_depth(value, 1000)
    return f"<{type(value).__name__} nested {depth} deep, not storable as JSON>"

@dataclass(slots=True)
class Event:
    """A normalised event. `ts` is epoch milliseconds, UTC."""

    event_id: str
    user_id: str
    event_type: str
    ts: int
    session_id: str | None
    properties: dict[str, Any]
    content_hash: str
    pii_masked: int = 0
    keys_dropped: int = 0
    properties_json: bytes = b""  # the stored form: serialised once, hashed and written
    source: str | None = None     # where it came from (a collector write key's name)
    naive_time: bool = False      # its timestamp named no offset ([ingest] naive_timezone)
    received_ms: int | None = None  # when the collector (or a replay) received it, if known

    def to_document(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "event_type": self.event_type,
            "timestamp": iso_from_ms(self.ts),
            "session_id": self.session_id,
            "properties": self.properties,
            **({"source": self.source} if self.source else {}),
        }


@dataclass(slots=True)
class Rejection:
    reason: str
    detail: str
    payload: Any
    event_id: str | None = None
    user_id: str | None = None


_ISO_SECOND: list[Any] = [None, ""]   # the last second formatted (a hot path formats many)


def iso_from_ms(ms: int) -> str:
    """ISO 8601 UTC with a Z, millisecond precision."""
    second = ms // 1000
    if _ISO_SECOND[0] != second:
        text = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _ISO_SECOND[0], _ISO_SECOND[1] = second, text
    return f"{_ISO_SECOND[1]}{ms % 1000:03d}Z"


_OFFSET = re.compile(r"[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d+)?)?)?$")


def parse_timestamp_ms(value: Any, naive_zone: tzinfo = UTC) -> int | None:
    """ISO 8601 to epoch ms; a time without an offset is in `naive_zone` (an explicit offset
    or Z always wins). None when it is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=naive_zone)
    return int(dt.timestamp() * 1000)


_NOT_CONTENT = frozenset({"event_id", "source", "received_at"})


def derive_event_id(raw: dict[str, Any]) -> str:
    """Deterministic id from content, so a re-sent event without an id dedupes (whichever
    way it came in and whenever: the source and the receipt time are not part of it)."""
    body = {k: v for k, v in raw.items() if k not in _NOT_CONTENT}
    digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16)
    return "d-" + digest.hexdigest()


def _content_hash(user_id: str, event_type: str, ts: int, session_id: str | None,
                  props_json: bytes) -> str:
    digest = hashlib.blake2b(props_json, digest_size=12)
    digest.update(f"|{user_id}|{event_type}|{ts}|{session_id}".encode())
    return digest.hexdigest()


# In an identifier, a phone number is digits with a leading + or separators between groups
# ("+44 20 7946 0958", "020-7946-0958"): a plain run of digits is an ordinary numeric id.
_ID_PHONE = re.compile(r"\+\d[\d\s().-]{5,}\d|\d{2,4}[\s.-]\(?\d{2,4}\)?[\s.-]\d{3,4}")
def identifier_has_pii(value: str) -> bool:
    """Whether an identifier (user, session or event id, a property key) carries an e-mail
    address or a phone number."""
    if not _MAYBE_PII.search(value):
        return False    # no "@", no run of seven digit-like characters: the common case
    if "@" in value:
        return _EMAIL.search(value) is not None
    return _ID_PHONE.search(value) is not None


def pseudonym(value: str, key: bytes) -> str:
    """A stable pseudonym for `value` under `key`: "p-" and 24 hex digits of HMAC-SHA256.
    The same learner keeps the same pseudonym; without the key it cannot be reversed."""
    return "p-" + hmac.new(key, value.encode("utf-8", "surrogatepass"),
                           hashlib.sha256).hexdigest()[:24]


def mask_text(text: str) -> tuple[str, int]:
    """Mask e-mails, IP addresses and phone numbers; return (text, how many masked)."""
    if not _MAYBE_PII.search(text):
        return text, 0
    total = 0
    text, n = _EMAIL.subn("[email]", text)
    total += n
    text, n = _IPV4.subn("[ip]", text)
    total += n
    text, n = _PHONE.subn("[phone]", text)
    total += n
    return text, total


_SECRET, _PII = 1, 2
_KEY_VERDICT: dict[str, int] = {}


def _key_verdict(key: str) -> int:
    """What a property key is: 0 an ordinary key, `_SECRET` a secret-looking one (dropped),
    `_PII` one that carries an e-mail address or phone number (pseudonymised when a key is
    set). Keys repeat from event to event: cached, to a bound."""
    verdict = _SECRET if _SECRET_KEY.search(key) else _PII if identifier_has_pii(key) else 0
    if len(_KEY_VERDICT) < 50_000:
        _KEY_VERDICT[key] = verdict
    return verdict


def scrub(value: Any, pii_key: bytes | None = None) -> tuple[Any, int, int]:
    """Mask PII in every string and drop secret-looking keys, recursively; with `pii_key`, a
    key that carries an e-mail address or phone number is replaced by its pseudonym.

    Returns (clean value, strings masked, keys dropped)."""
    if isinstance(value, str):
        clean, n = mask_text(value)
        return clean, n, 0
    if isinstance(value, dict):
        masked = dropped = 0
        out: dict[str, Any] = {}
        for key, item in value.items():
            verdict = _KEY_VERDICT.get(key)
            if verdict is None:
                verdict = _key_verdict(key)
            if verdict:
                if verdict == _SECRET:
                    dropped += 1
                    continue
                if pii_key is not None:
                    key = pseudonym(key, pii_key)
                    masked += 1
            kind = type(item)
            if kind is int or kind is float or kind is bool or item is None:
                out[key] = item
                continue
            if kind is str:
                if _MAYBE_PII.search(item):
                    item, m = mask_text(item)
                    masked += m
                out[key] = item
                continue
            clean_item, m, d = scrub(item, pii_key)
            masked += m
            dropped += d
            out[key] = clean_item
        return out, masked, dropped
    if isinstance(value, list):
        masked = dropped = 0
        items = []
        for item in value:
            clean_item, m, d = scrub(item, pii_key)
            masked += m
            dropped += d
            items.append(clean_item)
        return items, masked, dropped
    return value, 0, 0


def _number(props: dict[str, Any], key: str) -> float | None | Rejection:
    value = props.get(key)
    if value is None:
        return None
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is bool or not isinstance(value, int | float):
        return Rejection(BAD_TYPE, f"properties.{key} must be a number", None)
    return float(value)


_DURATIONS = (("duration", "duration_ms"), ("time_taken", "time_taken_ms"))


def _normalise_properties(event_type: str, props: dict[str, Any]) -> Rejection | None:
    """Fix units in place for the known types. Returns a Rejection if a field is unusable."""
    for key, ms_key in _DURATIONS:
        if ms_key in props:
            value = _number(props, ms_key)
            if isinstance(value, Rejection):
                return value
            if value is not None:
                props[key] = value / 1000.0
            del props[ms_key]
        if key not in props:
            continue
        value = _number(props, key)
        if isinstance(value, Rejection):
            return value
        if value is not None:
            if value < 0:
                return Rejection(OUT_OF_RANGE, f"properties.{key} is negative", None)
            props[key] = value / 1000.0 if value > MAX_PLAUSIBLE_SECONDS else value
    if event_type == "learning_session":
        value = _number(props, "completion_rate")
        if isinstance(value, Rejection):
            return value
        if value is not None:
            if value < 0 or value > 100:
                return Rejection(OUT_OF_RANGE, "properties.completion_rate is outside 0-100", None)
            props["completion_rate"] = value / 100.0 if value > 1.0 else value
    elif event_type == "quiz_attempt":
        if "questions_total" in props and "total_questions" not in props:
            props["total_questions"] = props.pop("questions_total")
        if "questions_correct" in props and "score" not in props:
            props["score"] = props.pop("questions_correct")
        for key in ("score", "total_questions"):
            value = _number(props, key)
            if isinstance(value, Rejection):
                return value
        total = props.get("total_questions")
        score = props.get("score")
        if total is not None and score is not None and (score < 0 or score > total):
            return Rejection(OUT_OF_RANGE, "properties.score is outside 0..total_questions", None)
    elif event_type == "search":
        count = _number(props, "results_count")
        if isinstance(count, Rejection):
            return count
    return None


_ID_PII: dict[str, bool] = {}


def _id_has_pii(value: str) -> bool:
    """`identifier_has_pii` for user and session ids, which repeat from event to event: cached
    (bounded; an id past the bound is checked every time)."""
    found = _ID_PII.get(value)
    if found is None:
        found = identifier_has_pii(value)
        if len(_ID_PII) < 100_000:
            _ID_PII[value] = found
    return found


def _flat_depth(raw: dict[str, Any]) -> int:
    """The usual event's depth, decided without `nesting_depth`'s general walk: scalars (1)
    and at most one flat object, its properties (2); 0 for any other shape."""
    inner = None
    for value in raw.values():
        kind = type(value)
        if kind is dict:
            if inner is not None:
                return 0
            inner = value
        elif kind is list or kind is tuple:
            return 0
    if inner is None:
        return 1
    for value in inner.values():
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            return 0
    return 2


def normalise_event(raw: Any, now_ms: int, limits: Limits, size: int | None = None
                    ) -> Event | Rejection:
    """Validate and normalise one raw event (a decoded JSON value).

    `size` is the payload's size in bytes when known (a line read from a file); otherwise it is
    measured. Returns an Event, or a Rejection carrying the reason code and the original."""
    if not isinstance(raw, dict):
        return Rejection(NOT_OBJECT, "an event must be a JSON object", raw)
    depth = _flat_depth(raw) or nesting_depth(raw, limits.max_depth)
    if depth > limits.max_depth:
        return Rejection(TOO_DEEP, f"values nest more than {limits.max_depth} levels deep "
                         "([ingest] max_depth)", raw, _str_or_none(raw.get("event_id")),
                         _str_or_none(raw.get("user_id")))
    if size is None:
        try:
            size = len(orjson.dumps(raw))
        except (TypeError, orjson.JSONEncodeError):
            return Rejection(BAD_TYPE, "the event holds values that are not JSON", raw)
    if size > limits.max_payload_bytes:
        return Rejection(TOO_LARGE, f"payload is {size} bytes, limit {limits.max_payload_bytes}",
                         raw, _str_or_none(raw.get("event_id")), _str_or_none(raw.get("user_id")))
    user_id = raw.get("user_id")
    event_type = raw.get("event_type")
    event_id = raw.get("event_id")
    if type(user_id) is not str or type(event_type) is not str or not user_id or not event_type:
        for name, value in (("user_id", user_id), ("event_type", event_type)):
            if value is None or value == "":
                return Rejection(MISSING_FIELD, f"{name} is required", raw,
                                 _str_or_none(event_id), _str_or_none(user_id))
            if not isinstance(value, str):
                return Rejection(BAD_TYPE, f"{name} must be a string", raw,
                                 _str_or_none(event_id), _str_or_none(user_id))
    assert isinstance(user_id, str) and isinstance(event_type, str)
    if event_id is not None and (type(event_id) is not str or not event_id) and (
            not isinstance(event_id, str) or not event_id):
        return Rejection(BAD_TYPE, "event_id must be a non-empty string", raw, None, user_id)
    props_in = raw.get("properties")
    if props_in is None:
        props_in = {}
    if type(props_in) is not dict and not isinstance(props_in, dict):
        return Rejection(BAD_TYPE, "properties must be an object", raw,
                         _str_or_none(event_id), user_id)
    stamp = raw.get("timestamp")
    if stamp is None:
        stamp = props_in.get("timestamp")
    if stamp is None:
        return Rejection(MISSING_FIELD, "timestamp is required", raw, _str_or_none(event_id),
                         user_id)
    ts = parse_timestamp_ms(stamp, limits.naive_zone)
    if ts is None:
        return Rejection(BAD_TIMESTAMP, f"timestamp {str(stamp)[:40]!r} is not ISO 8601", raw,
                         _str_or_none(event_id), user_id)
    if ts > now_ms + limits.max_future_ms:
        return Rejection(FUTURE_TIMESTAMP,
                         f"timestamp is {(ts - now_ms) // 1000} s in the future", raw,
                         _str_or_none(event_id), user_id)
    session_id = raw.get("session_id")
    if session_id is None:
        session_id = props_in.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        session_id = str(session_id) if isinstance(session_id, int) else None

    identifiers_masked = 0
    if limits.pii_key is not None and (
            _id_has_pii(user_id) or (session_id is not None and _id_has_pii(session_id))
            or (event_id is not None and identifier_has_pii(event_id))):
        named = (("user_id", user_id), ("session_id", session_id), ("event_id", event_id))
        carrying = [name for name, value in named
                    if isinstance(value, str) and identifier_has_pii(value)]
        if limits.pii_in_identifiers == "reject":
            return Rejection(PII_IN_IDENTIFIER, f"{', '.join(carrying)} carries an e-mail "
                             "address or phone number", raw)
        if "user_id" in carrying:
            user_id = pseudonym(user_id, limits.pii_key)
        if "session_id" in carrying:
            assert isinstance(session_id, str)
            session_id = pseudonym(session_id, limits.pii_key)
        if "event_id" in carrying:
            assert isinstance(event_id, str)
            event_id = pseudonym(event_id, limits.pii_key)
        identifiers_masked = len(carrying)
    props, masked, dropped = scrub(props_in, limits.pii_key)
    masked += identifiers_masked
    props.pop("timestamp", None)
    props.pop("session_id", None)
    problem = _normalise_properties(event_type, props)
    if problem is not None:
        problem.payload = raw
        problem.event_id = _str_or_none(event_id)
        problem.user_id = user_id
        return problem
    if event_id is None:
        event_id = derive_event_id(raw)
    props_json = orjson.dumps(props, option=orjson.OPT_SORT_KEYS)
    source = raw.get("source")
    return Event(
        event_id=event_id,
        user_id=user_id,
        event_type=event_type,
        ts=ts,
        session_id=session_id,
        properties=props,
        content_hash=_content_hash(user_id, event_type, ts, session_id, props_json),
        pii_masked=masked,
        keys_dropped=dropped,
        properties_json=props_json,
        source=source[:64] if isinstance(source, str) and source else None,
        naive_time=type(stamp) is str and stamp[-1] not in "Zz" and not _OFFSET.search(stamp, 10),
        received_ms=parse_timestamp_ms(received) if (received := raw.get("received_at")) else None,
    )


def json_too_deep(exc: Exception) -> bool:
    """Whether orjson refused to decode because values nest past its own limit (1,024): that
    is `too_deep`, not `bad_json`."""
    return "depth limit" in str(exc) or isinstance(exc, RecursionError)


def type_label(event_type: str) -> str:
    """An event type as a counter or metric label: a known type by its name, any other as
    `other` (a client must not be able to grow the counters and metrics without bound)."""
    return event_type if event_type in KNOWN_TYPES else "other"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def day_of(ts_ms: int) -> str:
    """UTC calendar day (YYYY-MM-DD) of an epoch-ms timestamp."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
