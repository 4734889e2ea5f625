"""Live state: `open_live(config)` picks SQLite or Redis from the configuration."""

from __future__ import annotations

from typing import Any

from ..config import Config, origin_of
from ..errors import BackendUnavailable
from .base import LiveBatch, LiveState

__all__ = ["LiveBatch", "LiveState", "open_live", "redis_client"]


def redis_client(config: Config) -> Any:
    """A connected Redis client for `config.redis_url`, or BackendUnavailable in one sentence."""
    import redis

    try:
        client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=3,
                                      socket_timeout=config.socket_timeout_seconds,
                                      health_check_interval=30, retry_on_timeout=True)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise BackendUnavailable(
            f"Cannot reach Redis at {config.redis_url} (set in "
            f"{origin_of(config, 'redis_url')}): {str(exc).splitlines()[0][:160]}"
        ) from None
    return client


def open_live(config: Config) -> LiveState:
    settings = config.live
    kwargs = dict(user_day_ttl_s=settings.user_day_ttl_seconds,
                  session_ttl_s=settings.session_ttl_seconds,
                  session_max=settings.session_max_events,
                  minute_ttl_s=settings.minute_ttl_seconds)
    if config.redis_url:
        from .redis import RedisLive

        return RedisLive(redis_client(config), **kwargs)
    from .sqlite import SqliteLive

    return SqliteLive(config.data_dir / "live.db", **kwargs)
