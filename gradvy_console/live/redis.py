"""Live state on Redis: hashes, lists and counters with TTLs, written in one pipeline per batch.

Key layout (prefix `gradvy:`): a user's keys all start `gradvy:u:{user_id}:` so one SCAN
pattern finds them (erasure). `u:{user}:d:{day}` hash (`last` plus a field per event type),
`u:{user}:s:{session}` list, `epm:{minute}` hash, `c:{name}` counter, `kv:{key}` JSON with
TTL, `kvu:{user}` set naming the kv keys that hold a user's data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson

from ..analytics.privacy import Terms
from .base import LiveBatch, LiveState


def _glob(text: str) -> str:
    """`text` with Redis glob characters escaped, for SCAN MATCH."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def redis_scrub(client: Any, prefix: str, terms: Terms, erase: bool) -> int:
    """Every key under `prefix` whose name or value holds one of the terms: with `erase`,
    the key is deleted (a list, set, sorted set or hash loses only the items that hold them);
    returns how many keys or items held them. Values are read as bytes, never decoded as
    anything but text."""
    hits = 0
    for raw_key in client.scan_iter(match=_glob(prefix) + "*", count=1000):
        if terms.in_bytes(raw_key):
            hits += 1
            if erase:
                client.delete(raw_key)
            continue
        kind = client.type(raw_key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            value = client.get(raw_key)
            if value is not None and terms.in_bytes(value):
                hits += 1
                if erase:
                    client.delete(raw_key)
        elif kind == "list":
            for item in set(client.lrange(raw_key, 0, -1)):
                if terms.in_bytes(item):
                    hits += 1
                    if erase:
                        client.lrem(raw_key, 0, item)
        elif kind == "set":
            for item in client.smembers(raw_key):
                if terms.in_bytes(item):
                    hits += 1
                    if erase:
                        client.srem(raw_key, item)
        elif kind == "zset":
            for item in client.zrange(raw_key, 0, -1):
                if terms.in_bytes(item):
                    hits += 1
                    if erase:
                        client.zrem(raw_key, item)
        elif kind == "hash":
            for field, item in client.hgetall(raw_key).items():
                if terms.in_bytes(field) or terms.in_bytes(item):
                    hits += 1
                    if erase:
                        client.hdel(raw_key, field)
    return hits

P = "gradvy:"
# The kinds of entry that are listed by prefix (`scan_json`): supervisors, stopped pools,
# heartbeats, pool commands. Each is kept in an index of its own as well.
SCANNED_FAMILIES = frozenset({"sup", "sup-stopped", "hb", "ctl"})


def _scanned_family(key: str) -> str | None:
    family = key.split(":", 1)[0]
    return family if family in SCANNED_FAMILIES and ":" in key else None

# A whole batch in one atomic script call: one round trip, no client-side command packing
# (per-event tasks spent ~1.5 ms in redis-py packing 13 pipelined commands). The batch arrives
# as one JSON argument. `last` is set only if larger, so concurrent batches never regress it.
# (Keys are computed in the script: fine on a single Redis, not on Redis Cluster.)
_RECORD_BATCH = """
local b = cjson.decode(ARGV[1])
local p = b.prefix
for _, d in ipairs(b.days) do
  local key = p .. 'u:' .. d[1] .. ':d:' .. d[2]
  for etype, n in pairs(d[4]) do redis.call('HINCRBY', key, etype, n) end
  local cur = redis.call('HGET', key, 'last')
  if (not cur) or tonumber(cur) < d[3] then redis.call('HSET', key, 'last', d[3]) end
  redis.call('EXPIRE', key, b.day_ttl)
end
for _, s in ipairs(b.sessions) do
  local key = p .. 'u:' .. s[1] .. ':s:' .. s[2]
  for _, item in ipairs(s[3]) do redis.call('RPUSH', key, item) end
  redis.call('LTRIM', key, -b.session_max, -1)
  redis.call('EXPIRE', key, b.session_ttl)
end
if next(b.minute) ~= nil then
  local key = p .. 'epm:' .. b.minute_key
  for etype, n in pairs(b.minute) do redis.call('HINCRBY', key, etype, n) end
  redis.call('EXPIRE', key, b.minute_ttl)
end
for name, n in pairs(b.counters) do redis.call('INCRBY', p .. 'c:' .. name, n) end
if next(b.tasks) ~= nil then
  local key = p .. 'tpm:' .. b.minute_key
  for name, n in pairs(b.tasks) do redis.call('HINCRBY', key, name, n) end
  redis.call('EXPIRE', key, b.minute_ttl)
end
return 1
"""


class RedisLive(LiveState):
    backend = "redis"

    def __init__(self, client: Any, user_day_ttl_s: int = 86_400, session_ttl_s: int = 3_600,
                 session_max: int = 200, minute_ttl_s: int = 7_200) -> None:
        self.r = client
        self.user_day_ttl_s = user_day_ttl_s
        self.session_ttl_s = session_ttl_s
        self.session_max = session_max
        self.minute_ttl_s = minute_ttl_s
        self._record = client.register_script(_RECORD_BATCH)

    def record_batch(self, batch: LiveBatch, now_ms: int) -> None:
        payload = {
            "prefix": P,
            "day_ttl": self.user_day_ttl_s,
            "session_ttl": self.session_ttl_s,
            "session_max": self.session_max,
            "minute_ttl": self.minute_ttl_s,
            "minute_key": str(now_ms // 60_000),
            "days": [[u, d, last, counts] for (u, d), (last, counts) in batch.user_days.items()],
            "sessions": [[u, s, [orjson.dumps(i).decode() for i in items]]
                         for (u, s), items in batch.sessions.items()],
            "minute": batch.minute_counts,
            "counters": {k: v for k, v in batch.counters.items() if v},
            "tasks": batch.task_minutes,
        }
        self._record(args=[orjson.dumps(payload)])

    def incr(self, counters: dict[str, int]) -> None:
        pipe = self.r.pipeline(transaction=True)
        for name, n in counters.items():
            if n:
                pipe.incrby(f"{P}c:{name}", n)
        pipe.execute()

    def counters(self) -> dict[str, int]:
        keys = list(self.r.scan_iter(match=f"{P}c:*", count=500))
        if not keys:
            return {}
        values = self.r.mget(keys)
        return {k.decode()[len(P) + 2:]: int(v) for k, v in zip(keys, values, strict=True)
                if v is not None}

    def user_day(self, user_id: str, day: str, now_ms: int) -> dict[str, Any] | None:
        data = self.r.hgetall(f"{P}u:{user_id}:d:{day}")
        if not data:
            return None
        fields = {k.decode(): int(v) for k, v in data.items()}
        last = fields.pop("last", 0)
        return {"last_ms": last, "counts": fields}

    def session_events(self, user_id: str, session_id: str, now_ms: int
                       ) -> list[dict[str, Any]]:
        items = [orjson.loads(b) for b in self.r.lrange(f"{P}u:{user_id}:s:{session_id}", 0, -1)]
        items.sort(key=lambda item: (item.get("ts", 0), item.get("event_id", "")))
        return items

    def events_per_minute(self, now_ms: int, minutes: int = 60) -> dict[int, dict[str, int]]:
        current = now_ms // 60_000
        wanted = list(range(current - minutes + 1, current + 1))
        pipe = self.r.pipeline(transaction=False)
        for minute in wanted:
            pipe.hgetall(f"{P}epm:{minute}")
        out: dict[int, dict[str, int]] = {}
        for minute, data in zip(wanted, pipe.execute(), strict=True):
            if data:
                out[minute] = {k.decode(): int(v) for k, v in data.items()}
        return out

    def task_minutes(self, now_ms: int, minutes: int = 5) -> dict[int, dict[str, int]]:
        current = now_ms // 60_000
        wanted = list(range(current - minutes + 1, current + 1))
        pipe = self.r.pipeline(transaction=False)
        for minute in wanted:
            pipe.hgetall(f"{P}tpm:{minute}")
        return {m: {k.decode(): int(v) for k, v in data.items()}
                for m, data in zip(wanted, pipe.execute(), strict=True) if data}

    def put_json(self, key: str, value: Any, ttl_s: float, user_id: str | None = None
                 ) -> None:
        pipe = self.r.pipeline(transaction=True)
        ttl_ms = max(1, int(ttl_s * 1000))
        pipe.set(f"{P}kv:{key}", orjson.dumps(value), px=ttl_ms)
        family = _scanned_family(key)
        if family is not None:
            # Kept in its family's index (score: when it expires) so scan_json reads the
            # index, not the whole keyspace (a key or more per active learner, at scale).
            pipe.zadd(f"{P}idx:{family}", {key: int(time.time() * 1000) + ttl_ms})
        if user_id is not None:
            pipe.sadd(f"{P}u:{user_id}:kv", key)
            pipe.expire(f"{P}u:{user_id}:kv", max(1, int(ttl_s)) + 60)
        pipe.execute()

    def get_json(self, key: str, now_ms: int) -> Any | None:
        raw = self.r.get(f"{P}kv:{key}")
        return None if raw is None else orjson.loads(raw)

    def scan_json(self, prefix: str, now_ms: int) -> dict[str, Any]:
        family = _scanned_family(prefix)
        if family is not None:
            index = f"{P}idx:{family}"
            pipe = self.r.pipeline(transaction=False)
            pipe.zremrangebyscore(index, "-inf", int(time.time() * 1000))   # expired ones
            pipe.zrange(index, 0, -1)
            names = [m.decode() for m in pipe.execute()[1]]
            keys = [f"{P}kv:{n}".encode() for n in names if n.startswith(prefix)]
        else:
            keys = list(self.r.scan_iter(match=f"{P}kv:{prefix}*", count=500))
        if not keys:
            return {}
        out = {}
        for key, raw in zip(keys, self.r.mget(keys), strict=True):
            if raw is not None:
                out[key.decode()[len(P) + 3:]] = orjson.loads(raw)
        return out

    def delete_json(self, key: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(f"{P}kv:{key}")
        family = _scanned_family(key)
        if family is not None:
            pipe.zrem(f"{P}idx:{family}", key)
        pipe.execute()

    def claim(self, key: str, ttl_s: float) -> bool:
        return bool(self.r.set(f"{P}kv:{key}", b"1", nx=True, px=max(1, int(ttl_s * 1000))))

    def push_bounded(self, key: str, value: Any, max_len: int, ttl_s: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(f"{P}l:{key}", orjson.dumps(value))
        pipe.ltrim(f"{P}l:{key}", -max_len, -1)
        pipe.expire(f"{P}l:{key}", max(1, int(ttl_s)))
        pipe.execute()

    def get_list(self, key: str, now_ms: int, last: int | None = None) -> list[Any]:
        start = -last if last else 0
        return [orjson.loads(v) for v in self.r.lrange(f"{P}l:{key}", start, -1)]

    def user_keys(self, user_id: str, now_ms: int) -> list[str]:
        keys = [k.decode() for k in self.r.scan_iter(match=f"{P}u:{user_id}:*", count=500)]
        members = self.r.smembers(f"{P}u:{user_id}:kv")
        keys += [f"{P}kv:{m.decode()}" for m in members if self.r.exists(f"{P}kv:{m.decode()}")]
        return sorted(keys)

    def erase_users(self, user_ids: list[str], terms: Terms) -> int:
        removed = 0
        for user in sorted(set(user_ids)):
            members = self.r.smembers(f"{P}u:{user}:kv")
            keys = [f"{P}kv:{m.decode()}" for m in members]
            keys += [k.decode() for k in self.r.scan_iter(match=f"{P}u:{_glob(user)}:*",
                                                          count=500)]
            if keys:
                removed += int(self.r.delete(*keys))
        return removed + redis_scrub(self.r, P, terms, erase=True)

    def texts(self) -> Iterator[bytes]:
        for key in self.r.scan_iter(match=f"{P}*", count=1000):
            kind = self.r.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            if kind == "string":
                value = self.r.get(key)
                if value is not None:
                    yield value
            elif kind == "list":
                yield from self.r.lrange(key, 0, -1)

    def find_terms(self, terms: Terms) -> int:
        return redis_scrub(self.r, P, terms, erase=False)

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        self.r.close()
