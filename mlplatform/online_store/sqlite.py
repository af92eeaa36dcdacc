"""The online store in SQLite: the embedded default (MLPLATFORM_HOME/online.db), shared by the service's
workers (WAL, one writer at a time).

The layout is Redis's: a history is one row per entity key holding its packed records (RECORD), so a
read is two rows (18 us here, against 140 for ~110 rows of a table indexed by key and time); a
`transactions` table keys each stored transaction to its entity keys and time, which makes writes
idempotent and lets a label find its records.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlplatform.online_store.base import RECORD, History, OnlineStore, Transactions


class SQLiteStore(OnlineStore):
    def __init__(self, path: str | Path, entities: Sequence[str]) -> None:
        super().__init__(entities)
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)  # `with`: one transaction
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = normal")
        keys = ", ".join(f"{e} integer not null" for e in self.entities)
        with self._lock, self._db:
            self._db.execute(
                "create table if not exists histories (entity text not null, key integer not null,"
                " records blob not null, primary key (entity, key)) without rowid"
            )
            self._db.execute(
                f"create table if not exists transactions (transaction_id integer primary key, {keys},"
                " time_us integer not null)"
            )
            self._db.execute("create index if not exists transactions_by_time on transactions (time_us)")
            self._db.execute("create table if not exists loaded (day text primary key, content_hash text not null)")
        self._insert = (
            f"insert or ignore into transactions (transaction_id, {', '.join(self.entities)}, time_us)"
            f" values ({', '.join('?' * (len(self.entities) + 2))})"
        )
        self._append = (
            "insert into histories values (?, ?, ?)"
            " on conflict (entity, key) do update set records = cast(records || excluded.records as blob)"
        )

    def histories(self, entity: str, keys: np.ndarray) -> History:
        if entity not in self.entities:
            raise KeyError(entity)
        with self._lock:
            return self._select({entity: keys})[entity]

    def read_and_write(self, keys: dict[str, np.ndarray], batch: Transactions) -> dict[str, History]:
        with self._lock:
            found = self._select(keys)
            self._write(batch)
        return found

    def _select(self, keys: dict[str, np.ndarray]) -> dict[str, History]:
        found = {}
        for entity, values in keys.items():
            if len(values) == 1:
                rows = self._db.execute(
                    "select key, records from histories where entity = ? and key = ?", [entity, int(values[0])]
                ).fetchall()
            else:  # looked up by primary key, each key of the list
                rows = self._db.execute(
                    "select key, records from histories where entity = ? and key in (select value from json_each(?))",
                    [entity, json.dumps(values.tolist())],
                ).fetchall()
            order = np.argsort(values, kind="stable")
            stored = np.array([key for key, _ in rows], dtype=np.int64)
            groups = order[np.searchsorted(values, stored, sorter=order)]
            sizes = [len(blob) // RECORD.itemsize for _, blob in rows]
            records = np.frombuffer(b"".join(blob for _, blob in rows), dtype=RECORD)
            found[entity] = History.of_records(np.repeat(groups, sizes), records)
        return found

    def write(self, batch: Transactions) -> int:
        with self._lock:
            return self._write(batch)

    def _write(self, batch: Transactions) -> int:
        if len(batch) == 1:
            return self._write_one(batch)
        ids = batch.transaction_id
        found = self._db.execute(
            "select transaction_id from transactions where transaction_id in (select value from json_each(?))",
            [json.dumps(ids.tolist())],
        )
        stored = np.isin(ids, np.array([row[0] for row in found.fetchall()], dtype=np.int64))
        _, first = np.unique(ids, return_index=True)
        new = np.zeros(len(ids), dtype=bool)
        new[first] = ~stored[first]  # an id twice in one batch: its first row
        fresh = batch.take(np.flatnonzero(new))
        records = np.zeros(len(fresh), dtype=RECORD)
        records["transaction_id"], records["time_us"] = fresh.transaction_id, fresh.time_us
        records["amount_micros"], records["fraud"] = fresh.amount_micros, fresh.fraud
        with self._db:
            columns = [fresh.transaction_id, *(fresh.keys[e] for e in self.entities), fresh.time_us]
            self._db.executemany(self._insert, np.column_stack(columns).tolist())
            for entity in self.entities:  # one append per key, its new records in arrival order
                order = np.argsort(fresh.keys[entity], kind="stable")
                keys = fresh.keys[entity][order]
                starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else order
                blobs = np.split(records[order], starts[1:]) if len(keys) else []
                rows = [(entity, key, blob.tobytes()) for key, blob in zip(keys[starts].tolist(), blobs, strict=True)]
                self._db.executemany(self._append, rows)
            for i in np.flatnonzero(stored & batch.fraud.astype(bool)).tolist():
                self._flag(int(ids[i]), [int(batch.keys[e][i]) for e in self.entities])
        return len(fresh)

    def _write_one(self, one: Transactions) -> int:
        """The service's common case: the transaction is stored (and appended to its histories) if new."""
        transaction_id, time_us = int(one.transaction_id[0]), int(one.time_us[0])
        keys = [int(one.keys[e][0]) for e in self.entities]
        record = np.array(
            [(transaction_id, time_us, int(one.amount_micros[0]), int(one.fraud[0]))], dtype=RECORD
        ).tobytes()
        with self._db:
            if self._db.execute(self._insert, [transaction_id, *keys, time_us]).rowcount == 1:
                self._db.executemany(self._append, [(e, k, record) for e, k in zip(self.entities, keys, strict=True)])
                return 1
            if one.fraud[0]:
                self._flag(transaction_id, keys)
        return 0

    def _flag(self, transaction_id: int, keys: list[int]) -> bool:
        """Sets the fraud flag of a stored transaction in each of its histories; True if any changed."""
        changed = False
        for entity, key in zip(self.entities, keys, strict=True):
            row = self._db.execute("select records from histories where entity = ? and key = ?", [entity, key])
            (blob,) = row.fetchone() or (b"",)
            records = np.frombuffer(blob, dtype=RECORD).copy()
            hit = (records["transaction_id"] == transaction_id) & (records["fraud"] == 0)
            if hit.any():
                records["fraud"][hit] = 1
                self._db.execute(
                    "update histories set records = ? where entity = ? and key = ?", [records.tobytes(), entity, key]
                )
                changed = True
        return changed

    def label(self, transaction_ids: np.ndarray, reported_us: np.ndarray, delay_us: int) -> int:
        marked = 0
        columns = ", ".join(self.entities)
        with self._lock, self._db:
            for transaction_id, reported in zip(transaction_ids.tolist(), reported_us.tolist(), strict=True):
                row = self._db.execute(
                    f"select {columns}, time_us from transactions where transaction_id = ?", [transaction_id]
                ).fetchone()
                if row is not None and reported <= row[-1] + delay_us:
                    marked += self._flag(transaction_id, list(row[:-1]))
        return marked

    def trim(self, before_us: int) -> int:
        with self._lock, self._db:
            removed = self._db.execute("delete from transactions where time_us < ?", [before_us]).rowcount
            rows = self._db.execute("select entity, key, records from histories").fetchall()
            for entity, key, blob in rows:
                records = np.frombuffer(blob, dtype=RECORD)
                keep = records[records["time_us"] >= before_us]
                if len(keep) == len(records):
                    continue
                if len(keep):
                    self._db.execute(
                        "update histories set records = ? where entity = ? and key = ?", [keep.tobytes(), entity, key]
                    )
                else:
                    self._db.execute("delete from histories where entity = ? and key = ?", [entity, key])
        return removed

    def loaded(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("select day, content_hash from loaded").fetchall())

    def mark_loaded(self, day: str, content_hash: str) -> None:
        with self._lock, self._db:
            self._db.execute("insert or replace into loaded values (?, ?)", [day, content_hash])

    def close(self) -> None:
        self._db.close()
