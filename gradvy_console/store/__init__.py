"""Document store: `open_store(config)` picks the backend the configuration names."""

from __future__ import annotations

from typing import Any

from ..config import Config, origin_of
from ..errors import BackendUnavailable
from .base import DocumentStore, IngestTx, StoredEvent

__all__ = ["DocumentStore", "IngestTx", "StoredEvent", "open_store"]


def open_store(config: Config) -> DocumentStore:
    """Open the configured store; raise BackendUnavailable with one sentence if unreachable."""
    if config.mongo_url:
        import pymongo
        from pymongo.errors import PyMongoError

        from .mongo import MongoStore

        try:
            client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
                config.mongo_url, serverSelectionTimeoutMS=3000,
                socketTimeoutMS=int(config.socket_timeout_seconds * 1000))
            client.admin.command("ping")
            return MongoStore(client, config.mongo_db)
        except (PyMongoError, ValueError) as exc:
            raise BackendUnavailable(
                f"Cannot reach MongoDB at {config.mongo_url} (set in "
                f"{origin_of(config, 'mongo_url')}): {str(exc).splitlines()[0][:160]}"
            ) from None
    from .sqlite import SqliteStore

    return SqliteStore(config.data_dir / "store.db")
