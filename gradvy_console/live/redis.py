"""Live state on Redis: hashes, lists and counters with TTLs, written in one pipeline per batch.

Key layout (prefix `gradvy:`): a user's keys all start `gradvy:u:{user_id}:` so one SCAN
pattern finds them (erasure). `u:{user}:d:{day}` hash (`last` plus a field per event type),
`u:{user}:s:{session}` list, `epm:{minute}` hash, `c:{name}` counter, `kv:{key}` JSON with
TTL, `kvu:{user}` set naming the kv keys that hold a user's data.
"""

from __future__ import annotations

from typing import Any

import orjson

from .base import LiveBatch, LiveState

P = "gradvy:"

# Set `last` only if larger: no read-modify-write race between concurrent batches.
_MAX_LAST = """
local cur = redis.call('HGET', KEYS[1], 'last')
if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'last', ARGV[1])
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
        self._max_last = client.register_script(_MAX_LAST)

    def record_batch(self, batch: LiveBatch, now_ms: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        for (user, day), (last, counts) in batch.user_days.items():
            key = f"{P}u:{user}:d:{day}"
            for etype, n in counts.items():
                pipe.hincrby(key, etype, n)
            self._max_last(keys=[key], args=[last], client=pipe)
            pipe.expire(key, self.user_day_ttl_s)
        for (user, session), items in batch.sessions.items():
            key = f"{P}u:{user}:s:{session}"
            pipe.rpush(key, *[orjson.dumps(i) for i in items])
            pipe.ltrim(key, -self.session_max, -1)
            pipe.expire(key, self.session_ttl_s)
        if batch.minute_counts:
            key = f"{P}epm:{now_ms // 60_000}"
            for etype, n in batch.minute_counts.items():
                pipe.hincrby(key, etype, n)
            pipe.expire(key, self.minute_ttl_s)
        for name, n in batch.counters.items():
            if n:
                pipe.incrby(f"{P}c:{name}", n)
        pipe.execute()

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

    def put_json(self, key: str, value: Any, ttl_s: float, user_id: str | None = None
                 ) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(f"{P}kv:{key}", orjson.dumps(value), px=max(1, int(ttl_s * 1000)))
        if user_id is not None:
            pipe.sadd(f"{P}u:{user_id}:kv", key)
            pipe.expire(f"{P}u:{user_id}:kv", max(1, int(ttl_s)) + 60)
        pipe.execute()

    def get_json(self, key: str, now_ms: int) -> Any | None:
        raw = self.r.get(f"{P}kv:{key}")
        return None if raw is None else orjson.loads(raw)

    def scan_json(self, prefix: str, now_ms: int) -> dict[str, Any]:
        keys = list(self.r.scan_iter(match=f"{P}kv:{prefix}*", count=500))
        if not keys:
            return {}
        out = {}
        for key, raw in zip(keys, self.r.mget(keys), strict=True):
            if raw is not None:
                out[key.decode()[len(P) + 3:]] = orjson.loads(raw)
        return out

    def delete_json(self, key: str) -> None:
        self.r.delete(f"{P}kv:{key}")

    def user_keys(self, user_id: str, now_ms: int) -> list[str]:
        keys = [k.decode() for k in self.r.scan_iter(match=f"{P}u:{user_id}:*", count=500)]
        members = self.r.smembers(f"{P}u:{user_id}:kv")
        keys += [f"{P}kv:{m.decode()}" for m in members if self.r.exists(f"{P}kv:{m.decode()}")]
        return sorted(keys)

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        self.r.close()
