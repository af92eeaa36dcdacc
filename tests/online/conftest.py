import uuid

import pytest

from mlplatform.features.definitions import FRAUD
from mlplatform.online_store.memory import MemoryStore
from mlplatform.online_store.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.services)])
def store(request, tmp_path):
    """Every backend of the online store interface; Redis is the machine's server, under a prefix of its own."""
    if request.param == "memory":
        yield MemoryStore(FRAUD.entities)
    elif request.param == "sqlite":
        with SQLiteStore(tmp_path / "online.db", FRAUD.entities) as sqlite:
            yield sqlite
    else:
        from mlplatform.online_store.redis import RedisStore

        prefix = f"test-{uuid.uuid4().hex[:12]}"
        with RedisStore(request.getfixturevalue("redis_url"), FRAUD.entities, prefix) as redis_store:
            yield redis_store
            for key in redis_store.client.scan_iter(match=f"{prefix}:*"):
                redis_store.client.delete(key)
