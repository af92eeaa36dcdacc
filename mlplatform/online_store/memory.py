"""The online store in this process's memory: for replays (the parity check) and tests.

Columns live in arrays grown by doubling; each entity key keeps the list of its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

from mlplatform.online_store.base import History, OnlineStore, Transactions

COLUMNS = ("transaction_id", "time_us", "amount_micros", "fraud")


class MemoryStore(OnlineStore):
    def __init__(self, entities: Sequence[str]) -> None:
        super().__init__(entities)
        self._size = 0
        self._columns = {name: np.zeros(1024, dtype=np.int64) for name in COLUMNS}
        self._row: dict[int, int] = {}  # transaction id -> row
        self._rows: dict[str, dict[int, list[int]]] = {e: {} for e in self.entities}  # entity -> key -> rows
        self._keys: dict[int, tuple[int, ...]] = {}  # row -> its keys, in entity order
        self._loaded: dict[str, str] = {}

    def histories(self, entity: str, keys: np.ndarray) -> History:
        by_key = self._rows[entity]
        lists = [by_key.get(k, ()) for k in keys.tolist()]
        sizes = [len(rows) for rows in lists]
        rows = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=sum(sizes))
        c = self._columns
        return History(
            np.repeat(np.arange(len(keys)), sizes),
            c["transaction_id"][rows],
            c["time_us"][rows],
            c["amount_micros"][rows],
            c["fraud"][rows],
        )

    def write(self, batch: Transactions) -> int:
        new = np.array([t not in self._row for t in batch.transaction_id.tolist()], dtype=bool)
        fresh = batch.take(np.flatnonzero(new))
        # The first of several rows of one id wins, as when they arrive one by one.
        ids, first = np.unique(fresh.transaction_id, return_index=True)
        fresh = fresh.take(np.sort(first))
        start, end = self._size, self._size + len(fresh)
        self._reserve(end)
        values = (fresh.transaction_id, fresh.time_us, fresh.amount_micros, fresh.fraud)
        for name, value in zip(COLUMNS, values, strict=True):
            self._columns[name][start:end] = value
        keys = list(zip(*(fresh.keys[e].tolist() for e in self.entities), strict=True))
        for row, (transaction_id, own) in enumerate(zip(fresh.transaction_id.tolist(), keys, strict=True), start):
            self._row[transaction_id] = row
            self._keys[row] = own
            for entity, key in zip(self.entities, own, strict=True):
                self._rows[entity].setdefault(key, []).append(row)
        self._size = end
        flagged = [self._row[t] for t in batch.transaction_id[batch.fraud.astype(bool)].tolist()]
        self._columns["fraud"][flagged] = 1
        return len(ids)

    def _reserve(self, size: int) -> None:
        capacity = len(self._columns["transaction_id"])
        if size > capacity:
            grown = max(size, 2 * capacity)
            for name, column in self._columns.items():
                self._columns[name] = np.concatenate([column, np.zeros(grown - capacity, dtype=np.int64)])

    def label(self, transaction_ids: np.ndarray, reported_us: np.ndarray, delay_us: int) -> int:
        rows = np.array([self._row.get(t, -1) for t in transaction_ids.tolist()], dtype=np.int64)
        known = rows >= 0
        rows, reported = rows[known], reported_us[known]
        c = self._columns
        due = rows[(reported <= c["time_us"][rows] + delay_us) & (c["fraud"][rows] == 0)]
        due = np.unique(due)
        c["fraud"][due] = 1
        return len(due)

    def trim(self, before_us: int) -> int:
        size = self._size
        keep = np.flatnonzero(self._columns["time_us"][:size] >= before_us)
        kept = {name: column[keep] for name, column in self._columns.items()}
        keys = [self._keys[row] for row in keep.tolist()]
        loaded = self._loaded
        self.__init__(self.entities)  # type: ignore[misc]  # rebuilt from what is kept
        self._loaded = loaded
        self.write(
            Transactions(
                kept["transaction_id"],
                kept["time_us"],
                kept["amount_micros"] / 1_000_000,
                {e: np.array([k[i] for k in keys], dtype=np.int64) for i, e in enumerate(self.entities)},
                kept["fraud"],
            )
        )
        return size - len(keep)

    def loaded(self) -> dict[str, str]:
        return dict(self._loaded)

    def mark_loaded(self, day: str, content_hash: str) -> None:
        self._loaded[day] = content_hash
