"""Stored transactions in this process's memory, indexed by each entity's key: the in-memory backend's
whole state, and the SQLite backend's reading side (it replays its log into one).

Columns are arrays grown by doubling, one row per transaction in arrival order. Per entity, a sorted
copy of the key column and the rows in that order (`_Sorted`) answer "every row of these keys" with
two binary searches and one gather; rows appended since are a short unsorted tail, scanned, and merged
into the sorted part once it reaches TAIL rows (a linear merge, not a sort). A history comes out
grouped by key in the order asked, each key's rows in arrival order, which is nearly the order the
online engine sorts them in, so its sort is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlplatform.online_store.base import RECORD, History, Transactions

TAIL = 1024  # rows appended before they are merged into each entity's sorted index
COLUMNS: tuple[str, ...] = RECORD.names or ()  # transaction_id, time_us, amount_micros, fraud


@dataclass
class _Sorted:
    keys: np.ndarray  # the entity's key of every indexed row, ascending
    rows: np.ndarray  # those rows, each key's in arrival order
    built: int  # rows [0, built) are indexed; the rest are the tail


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenation of arange(start, start + count) for each pair, without a Python loop."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)


class RecordIndex:
    def __init__(self, entities: Sequence[str]) -> None:
        self.entities = tuple(entities)
        self.size = 0
        self._columns = {name: np.zeros(1024, dtype=np.int64) for name in (*COLUMNS, *self.entities)}
        self._row: dict[int, int] = {}  # transaction id -> row
        self._sorted = {e: _Sorted(np.zeros(0, np.int64), np.zeros(0, np.int64), 0) for e in self.entities}
        # A stored transaction with its keys, as `append` takes it and `records` gives it back.
        self.entry = np.dtype([(name, "<i8") for name in (*COLUMNS, *self.entities)])

    def column(self, name: str) -> np.ndarray:
        return self._columns[name][: self.size]

    def rows_of(self, transaction_ids: np.ndarray) -> np.ndarray:
        """The row of each id, -1 where it is not stored."""
        get = self._row.get
        return np.fromiter((get(t, -1) for t in transaction_ids.tolist()), np.int64, len(transaction_ids))

    def append(self, entries: np.ndarray) -> None:
        """Stores `entries` (`entry` rows); their ids must be new and distinct."""
        start, end = self.size, self.size + len(entries)
        self._reserve(end)
        for name, column in self._columns.items():
            column[start:end] = entries[name]
        self._row.update(zip(entries["transaction_id"].tolist(), range(start, end), strict=True))
        self.size = end
        for entity in self.entities:
            if end - self._sorted[entity].built >= TAIL:
                self._merge_tail(entity)

    def write(self, batch: Transactions) -> tuple[np.ndarray, np.ndarray]:
        """`OnlineStore.write`: stores the transactions not stored yet (an id twice in the batch: its first
        row) and sets the fraud flags the batch carries. Returns the new `entry` rows and the ids of
        transactions stored before whose flag the batch set."""
        if len(batch) == 1 and int(batch.transaction_id[0]) not in self._row:  # the service's common case
            entries = self._entries(batch)
            self.append(entries)
            return entries, np.zeros(0, dtype=np.int64)  # stored with its flag: nothing flagged after
        rows = self.rows_of(batch.transaction_id)
        _, first = np.unique(batch.transaction_id, return_index=True)
        new = np.zeros(len(batch), dtype=bool)
        new[first] = rows[first] < 0
        entries = self._entries(batch.take(np.flatnonzero(new)))
        self.append(entries)
        return entries, self.flag(batch.transaction_id[batch.fraud.astype(bool)])

    def _entries(self, batch: Transactions) -> np.ndarray:
        """`batch` as `entry` rows."""
        columns = {
            "transaction_id": batch.transaction_id,
            "time_us": batch.time_us,
            "amount_micros": batch.amount_micros,
            "fraud": batch.fraud,
            **batch.keys,
        }
        entries = np.zeros(len(batch), dtype=self.entry)
        for name in self.entry.names or ():
            entries[name] = columns[name]
        return entries

    def flag(self, transaction_ids: np.ndarray) -> np.ndarray:
        """Sets the fraud flag of the stored ones of `transaction_ids`; returns the ids it was not set on."""
        rows = self.rows_of(transaction_ids)
        rows = np.unique(rows[rows >= 0])
        fraud = self._columns["fraud"]
        rows = rows[fraud[rows] == 0]
        fraud[rows] = 1
        return self._columns["transaction_id"][rows]

    def label(self, transaction_ids: np.ndarray, reported_us: np.ndarray, delay_us: int) -> np.ndarray:
        """`OnlineStore.label`: flags the stored transactions reported within the delay; returns the ids flagged."""
        rows = self.rows_of(transaction_ids)
        known = rows >= 0
        due = reported_us[known] <= self._columns["time_us"][rows[known]] + delay_us
        return self.flag(transaction_ids[known][due])

    def histories(self, entity: str, keys: np.ndarray, before: int | None = None) -> History:
        """The stored rows of `keys` (`OnlineStore.histories`); with `before`, only the rows stored before
        row `before` (those rows' state then, as long as no flag was set since)."""
        index = self._sorted[entity]
        tail = self._columns[entity][index.built : self.size if before is None else max(before, index.built)]
        if len(keys) == 1:  # the service's common case, without the general path's set operations
            key = keys[0]
            start, stop = np.searchsorted(index.keys, key, side="left"), np.searchsorted(index.keys, key, side="right")
            rows = np.concatenate([index.rows[start:stop], np.flatnonzero(tail == key) + index.built])
            if before is not None and before < index.built:
                rows = rows[rows < before]
            return self._history(np.zeros(len(rows), dtype=np.int64), rows)
        lo = np.searchsorted(index.keys, keys, side="left")
        counts = np.searchsorted(index.keys, keys, side="right") - lo
        group = np.repeat(np.arange(len(keys), dtype=np.int64), counts)
        rows = index.rows[ranges(lo, counts)]
        if len(tail):
            hit = np.flatnonzero(np.isin(tail, keys))
            if len(hit):
                order = np.argsort(keys, kind="stable")
                tail_group = order[np.searchsorted(keys, tail[hit], sorter=order)]
                group, rows = np.concatenate([group, tail_group]), np.concatenate([rows, hit + index.built])
                by_group = np.argsort(group, kind="stable")  # the tail after its key's indexed rows
                group, rows = group[by_group], rows[by_group]
        if before is not None and before < index.built:
            older = rows < before
            group, rows = group[older], rows[older]
        return self._history(group, rows)

    def _history(self, group: np.ndarray, rows: np.ndarray) -> History:
        c = self._columns
        return History(group, c["transaction_id"][rows], c["time_us"][rows], c["amount_micros"][rows], c["fraud"][rows])

    def records(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored transactions (all, in arrival order, or `rows`) as `entry` rows."""
        out = np.zeros(self.size if rows is None else len(rows), dtype=self.entry)
        for name in self.entry.names or ():
            out[name] = self.column(name) if rows is None else self._columns[name][rows]
        return out

    def keep(self, rows: np.ndarray) -> None:
        """Keeps only `rows` (ascending), re-indexed from scratch."""
        kept = self.records(rows)
        self.__init__(self.entities)  # type: ignore[misc]
        self.append(kept)
        for entity in self.entities:
            self._merge_tail(entity)

    def _merge_tail(self, entity: str) -> None:
        index = self._sorted[entity]
        tail = self._columns[entity][index.built : self.size]
        order = np.argsort(tail, kind="stable")
        at = np.searchsorted(index.keys, tail[order], side="right")  # after the key's earlier rows
        index.keys = np.insert(index.keys, at, tail[order])
        index.rows = np.insert(index.rows, at, order + index.built)
        index.built = self.size

    def _reserve(self, size: int) -> None:
        capacity = len(self._columns["transaction_id"])
        if size > capacity:
            grown = max(size, 2 * capacity)
            for name, column in self._columns.items():
                self._columns[name] = np.concatenate([column, np.zeros(grown - capacity, dtype=np.int64)])
