"""Pure privacy rules: finding a learner's identifiers in text and bytes, scrubbing them out of
documents about others, the pseudonymous subject key, sealing an id while its erasure runs,
consent-file rows, retention cut-offs and the PII scan. No I/O, no clock: time is a parameter.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .events import _EMAIL, _IPV4, _PHONE

DAY_MS = 86_400_000

# Characters an identifier is made of: an occurrence of a learner's id inside a longer run of
# them ("u0004" inside "u00042") is another identifier, not this learner.
_ID_CHARS = rb"A-Za-z0-9_@+\-"


def _trie_pattern(words: list[bytes]) -> bytes:
    """A regular expression (bytes) matching any of `words`, as a trie: one pass over a text
    finds every one of a thousand ids about as fast as one."""
    trie: dict[int, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[-1] = {}

    def build(node: dict[int, Any]) -> bytes:
        ends = -1 in node
        branches = [re.escape(bytes([ch])) + build(child)
                    for ch, child in sorted(node.items()) if ch != -1]
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        if ends:
            return b"(?:" + body + b")?"
        return body
    return build(trie)


def identifier_forms(user_ids: Iterable[str]) -> list[bytes]:
    """Every byte form a learner's id is written in: as is (UTF-8) and as a JSON string's
    escaped body when that differs."""
    forms: set[bytes] = set()
    for user_id in user_ids:
        raw = user_id.encode("utf-8", "surrogatepass")
        forms.add(raw)
        forms.add(orjson.dumps(user_id)[1:-1])
    return sorted(f for f in forms if f)


# A byte search of raw files can prove an identifier absent only if it is long enough not to
# occur by chance in binary data ("b" or "u7" is in every database page).
MIN_RAW_BYTES = 6


@dataclass(frozen=True)
class Terms:
    """A learner's identifiers (and any other values to erase, such as an e-mail address), as
    compiled patterns: `token` for text (an occurrence inside a longer identifier does not
    count) and `raw` for bytes of a database file (any occurrence counts; only identifiers of
    at least MIN_RAW_BYTES bytes, None when there is none)."""

    words: tuple[bytes, ...]
    token: re.Pattern[bytes]
    raw: re.Pattern[bytes] | None
    text_token: re.Pattern[str]

    def in_text(self, text: str) -> bool:
        return self.text_token.search(text) is not None

    def in_bytes(self, data: bytes) -> bool:
        return self.token.search(data) is not None

    def count_raw(self, data: bytes | memoryview) -> int:
        return 0 if self.raw is None else sum(1 for _ in self.raw.finditer(data))


def terms_for(values: Iterable[str]) -> Terms:
    words = identifier_forms(values)
    if not words:
        raise ValueError("no identifier to look for")
    body = _trie_pattern(words)
    token = re.compile(rb"(?<![" + _ID_CHARS + rb".])" + body + rb"(?![" + _ID_CHARS + rb"])")
    text = re.compile(token.pattern.decode("utf-8", "surrogatepass"))
    long_words = [w for w in words if len(w) >= MIN_RAW_BYTES]
    raw = re.compile(_trie_pattern(long_words)) if long_words else None
    return Terms(tuple(words), token, raw, text)


def scrub_value(value: Any, terms: Terms, replacement: str) -> tuple[Any, int]:
    """`value` (JSON data) with every occurrence of the terms, in keys and strings, replaced by
    `replacement`; returns (new value, occurrences replaced)."""
    if isinstance(value, str):
        new, n = terms.text_token.subn(replacement, value)
        return new, n
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        total = 0
        for key, item in value.items():
            new_key, n_key = scrub_value(key, terms, replacement) if isinstance(key, str) else (
                key, 0)
            new_item, n_item = scrub_value(item, terms, replacement)
            out[new_key] = new_item
            total += n_key + n_item
        return out, total
    if isinstance(value, list | tuple):
        items = [scrub_value(v, terms, replacement) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def subject_key(user_id: str, key: bytes) -> str:
    """The pseudonymous key an erasure request, a suppression entry and the action log hold
    instead of the id: "s-" and 32 hex digits of HMAC-SHA256 under the pseudonym key, in a
    domain of its own (it never equals the pseudonym an identifier with PII is stored under)."""
    digest = hmac.new(key, b"erasure\x00" + user_id.encode("utf-8", "surrogatepass"),
                      hashlib.sha256).hexdigest()
    return "s-" + digest[:32]


def _keystream(key: bytes, nonce: str, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hmac.new(key, f"seal\x00{nonce}\x00{counter}".encode(), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:length])


def seal(user_id: str, key: bytes, nonce: str) -> str:
    """The id encrypted under the pseudonym key (HMAC-SHA256 in counter mode, keyed by the
    request id), as hex with an HMAC tag: what an erasure request keeps of the id while it runs,
    so a resumed run can finish; it is dropped once the request is verified."""
    data = user_id.encode("utf-8", "surrogatepass")
    body = bytes(a ^ b for a, b in zip(data, _keystream(key, nonce, len(data)), strict=True))
    tag = hmac.new(key, b"tag\x00" + nonce.encode() + body, hashlib.sha256).hexdigest()[:32]
    return body.hex() + "." + tag


def unseal(sealed: str, key: bytes, nonce: str) -> str | None:
    """The id `seal` hid, or None when the seal is not ours (another key, or tampered)."""
    try:
        body_hex, tag = sealed.split(".")
        body = bytes.fromhex(body_hex)
    except ValueError:
        return None
    want = hmac.new(key, b"tag\x00" + nonce.encode() + body, hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(want, tag):
        return None
    data = bytes(a ^ b for a, b in zip(body, _keystream(key, nonce, len(body)), strict=True))
    return data.decode("utf-8", "surrogatepass")


# --- consent files ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentRow:
    """One row of a consent file: the changes it makes, and the facts the ledger records."""

    user_id: str
    changes: dict[str, bool]
    method: str
    version: str
    legal_basis: str
    at_ms: int


def _purposes(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [p.strip() for p in re.split(r"[;|, ]+", value) if p.strip()]
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return [p.strip() for p in value if p.strip()]
    raise ValueError("purposes must be a list of names or a string separated by ';'")


def consent_row(row: Mapping[str, Any], known: Iterable[str], parse_time: Any,
                default_ms: int) -> ConsentRow:
    """Validate one consent-file row (from CSV or NDJSON); raise ValueError with the reason.
    `parse_time` turns a timestamp value into epoch ms (raising ValueError)."""
    user_id = row.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValueError("user_id is missing")
    granted = _purposes(row.get("granted"))
    revoked = _purposes(row.get("revoked"))
    known_set = set(known)
    for purpose in granted + revoked:
        if purpose not in known_set:
            raise ValueError(f"unknown purpose '{purpose}'")
    both = set(granted) & set(revoked)
    if both:
        raise ValueError(f"'{sorted(both)[0]}' is both granted and revoked")
    if not granted and not revoked:
        raise ValueError("the row grants and revokes nothing")
    facts: dict[str, str] = {}
    for name in ("method", "notice_version", "legal_basis"):
        value = row.get(name)
        if value is None or value == "":
            raise ValueError(f"{name} is missing")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"{name} must be text")
        facts[name] = str(value)
    when = row.get("time", row.get("timestamp"))
    at_ms = default_ms if when in (None, "") else int(parse_time(when))
    changes = {p: True for p in granted} | {p: False for p in revoked}
    return ConsentRow(user_id.strip(), changes, facts["method"], facts["notice_version"],
                      facts["legal_basis"], at_ms)


def consent_at(history: list[dict[str, Any]], purpose: str, at_ms: int) -> bool:
    """Whether `purpose` was granted at `at_ms` by a ledger (entries {purpose, granted, at_ms}
    in any order): the latest entry at or before that time decides; none means not granted."""
    best: tuple[int, int] | None = None
    granted = False
    for i, entry in enumerate(history):
        if entry["purpose"] != purpose or entry["at_ms"] > at_ms:
            continue
        mark = (int(entry["at_ms"]), i)
        if best is None or mark >= best:
            best, granted = mark, bool(entry["granted"])
    return granted


def consent_expired(last_change_ms: int | None, max_age_days: float, now_ms: int) -> bool:
    """A consent older than `[consent] max_age_days` (0: never expires) counts as not given."""
    if not max_age_days or last_change_ms is None:
        return False
    return now_ms - last_change_ms > max_age_days * DAY_MS


# --- retention -------------------------------------------------------------------------------

def retention_cutoff(now_ms: int, days: float) -> int:
    """Records older than this (epoch ms) are past a retention of `days`."""
    return now_ms - int(days * DAY_MS)


# --- the PII scan ----------------------------------------------------------------------------

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def pii_counts(text: str) -> dict[str, int]:
    """E-mail addresses, phone numbers, IP addresses and card-like numbers (13-19 digits that
    pass the Luhn check) in `text`, counted by kind; the values themselves are not returned."""
    counts = {"email": len(_EMAIL.findall(text)), "ip": len(_IPV4.findall(text)), "card": 0}
    cards = 0
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            cards += 1
    counts["card"] = cards
    # A card number also reads as a phone number: count phones in what is left.
    rest = _CARD.sub(" ", text) if cards else text
    counts["phone"] = len(_PHONE.findall(_EMAIL.sub(" ", _IPV4.sub(" ", rest))))
    return {k: v for k, v in counts.items() if v}
