"""The online store behind one interface: `open_online_store(uri, features)`.

`memory://` (this process), `sqlite:///path/online.db` (the embedded default) or `redis://host:port/db`.
"""

from __future__ import annotations

from mlplatform.config import ConfigError
from mlplatform.features.definitions import FeatureSet
from mlplatform.online_store.base import DAY_US, RECORD, US, History, OnlineStore, Transactions


def open_online_store(uri: str, features: FeatureSet) -> OnlineStore:
    entities = features.entities
    if uri.startswith("memory://"):
        from mlplatform.online_store.memory import MemoryStore

        return MemoryStore(entities)
    if uri.startswith("sqlite:///"):
        from mlplatform.online_store.sqlite import SQLiteStore

        return SQLiteStore(uri.removeprefix("sqlite:///"), entities)
    if uri.startswith(("redis://", "rediss://", "unix://")):
        from mlplatform.online_store.redis import RedisStore

        return RedisStore(uri, entities, prefix=f"mlplatform:{features.name}")
    raise ConfigError(f"MLPLATFORM_ONLINE_STORE={uri!r}: expected memory://, sqlite:///path or redis://host:port/db")


__all__ = ["DAY_US", "RECORD", "US", "History", "OnlineStore", "Transactions", "open_online_store"]
