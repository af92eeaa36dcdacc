"""The online store in this process's memory (mlplatform/online_store/index.py): for replays (the parity
check) and tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlplatform.online_store.base import History, OnlineStore, Transactions
from mlplatform.online_store.index import RecordIndex


class MemoryStore(OnlineStore):
    def __init__(self, entities: Sequence[str]) -> None:
        super().__init__(entities)
        self.index = RecordIndex(self.entities)
        self._loaded: dict[str, str] = {}

    def histories(self, entity: str, keys: np.ndarray) -> History:
        if entity not in self.entities:
            raise KeyError(entity)
        return self.index.histories(entity, keys)

    def read_and_write(self, keys: dict[str, np.ndarray], batch: Transactions) -> dict[str, History]:
        found = self.index.batch_histories(keys, batch.transaction_id)
        self.write(batch)
        return found

    def write(self, batch: Transactions) -> int:
        return len(self.index.write(batch)[0])

    def label(self, transaction_ids: np.ndarray, reported_us: np.ndarray, delay_us: int) -> int:
        return len(self.index.label(transaction_ids, reported_us, delay_us))

    def trim(self, before_us: int) -> int:
        size = self.index.size
        self.index.keep(np.flatnonzero(self.index.column("time_us") >= before_us))
        return size - self.index.size

    def loaded(self) -> dict[str, str]:
        return dict(self._loaded)

    def mark_loaded(self, day: str, content_hash: str) -> None:
        self._loaded[day] = content_hash
