"""Write keys: who may send, under which name (the events' source), how fast, from which
browser origins. Keys are known by their SHA-256 only; a request's key is hashed and looked up.
Rate limits are token buckets in events per second, per server process (the configured rate is
shared out over `[collector] workers`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from dataclasses import dataclass, field

from ..config import CollectorSettings, WriteKey


def new_key() -> str:
    """A fresh write key: 32 random bytes, URL-safe (43 characters)."""
    return "gk_" + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Bucket:
    """A token bucket: `rate` tokens a second up to `burst`. `take(n)` takes n tokens or none
    and says how long until n would be there."""

    rate: float
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, n: int, now: float | None = None) -> float:
        """0.0 if `n` tokens were taken, else the seconds to wait before asking again."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if n <= self.tokens:
            self.tokens -= n
            return 0.0
        if n > self.burst:
            # More than a whole burst in one request: taken from a full bucket, which goes into
            # debt (the rate still holds on average); until it is full, wait for it.
            if self.tokens >= self.burst:
                self.tokens -= n
                return 0.0
            return max(0.001, (self.burst - self.tokens) / self.rate)
        return max(0.001, (n - self.tokens) / self.rate)


@dataclass
class Client:
    """A configured write key as the server holds it."""

    key: WriteKey
    bucket: Bucket
    origins: frozenset[str]

    @property
    def name(self) -> str:
        return self.key.name

    def allows_origin(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins


class KeyRing:
    def __init__(self, settings: CollectorSettings, processes: int = 1) -> None:
        self.clients: dict[str, Client] = {}
        share = max(1, processes)
        for key in settings.keys:
            if not key.sha256:
                continue
            rate = key.events_per_second / share
            burst = (key.burst or 2 * key.events_per_second) / share
            self.clients[key.sha256] = Client(key, Bucket(rate, max(burst, 1.0)),
                                              frozenset(key.origins))
        self.origins = frozenset(o for c in self.clients.values() for o in c.origins)
        # Keys presented lately that were found, so a client's every request is not hashed
        # again; unknown keys are never kept (a stranger cannot grow this).
        self._found: dict[str, Client] = {}

    def __bool__(self) -> bool:
        return bool(self.clients)

    def find(self, presented: str) -> Client | None:
        client = self._found.get(presented)
        if client is None:
            client = self.clients.get(key_hash(presented))
            if client is not None:
                if len(self._found) >= 1024:
                    self._found.clear()
                self._found[presented] = client
        return client

    def allows_origin(self, origin: str) -> bool:
        """Whether any key may be used from this origin (for a preflight, which carries no
        key)."""
        return "*" in self.origins or origin in self.origins


def presented_key(authorization: str | None, header_key: str | None,
                  query_key: str | None) -> str | None:
    """The write key a request presents: `Authorization: Bearer KEY`, `Authorization: Basic`
    with the key as the user name (Segment's way), an `X-Write-Key` header, or `?key=` (for
    `navigator.sendBeacon`, which can set no header)."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer" and value:
            return value
        if scheme == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return ""
            return decoded.split(":", 1)[0]
        return ""
    if header_key:
        return header_key.strip()
    if query_key:
        return query_key
    return None
