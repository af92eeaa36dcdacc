"""The SQLite store's log, as the service's workers share it: each process replays what the others wrote."""

import sqlite3
import time

import numpy as np
import pytest

from mlplatform.features.definitions import FRAUD
from mlplatform.features.online import OnlineEngine
from mlplatform.online_store import US
from mlplatform.online_store import index as index_module
from mlplatform.online_store.sqlite import SQLiteStore
from tests.online.test_store_contract import DAY_US, DELAY, T0, batch, rows


def test_two_processes_share_writes_labels_and_idempotency(tmp_path):
    path = tmp_path / "online.db"
    with SQLiteStore(path, FRAUD.entities) as a, SQLiteStore(path, FRAUD.entities) as b:
        assert a.write(batch([1, 2], [T0, T0 + 1], [5.0, 6.0], [7, 7], [50, 51])) == 2
        assert [r[1] for r in rows(b.histories("customer_id", np.array([7])))] == [1, 2]
        assert b.write(batch([2, 3], [T0 + 1, T0 + 2], [6.0, 7.0], [7, 8], [51, 50])) == 1  # 2 came through a
        assert b.label(np.array([1]), np.array([T0 + DAY_US]), DELAY) == 1
        assert a.label(np.array([1]), np.array([T0 + DAY_US]), DELAY) == 0  # b's flag is seen
        before = a.read_and_write(
            {"customer_id": np.array([8]), "terminal_id": np.array([50])}, batch([4], [T0 + 3], [1.0], [8], [50])
        )
        assert rows(before["terminal_id"]) == [(0, 1, T0, 5_000_000, 1), (0, 3, T0 + 2, 7_000_000, 0)]
        assert [r[1] for r in rows(b.histories("terminal_id", np.array([50])))] == [1, 3, 4]


def test_warm_replays_the_log_before_the_first_read(tmp_path):
    path = tmp_path / "online.db"
    with SQLiteStore(path, FRAUD.entities) as a, SQLiteStore(path, FRAUD.entities) as b:
        a.write(batch([1, 2], [T0, T0 + 1], [5.0, 6.0], [7, 7], [50, 51]))
        assert b._index.size == 0  # opening reads nothing
        b.warm()
        assert b._index.size == 2
        assert sorted(b._index.column("transaction_id").tolist()) == [1, 2]


def test_trim_compacts_the_log_and_every_process_follows(tmp_path):
    path = tmp_path / "online.db"
    with SQLiteStore(path, FRAUD.entities) as a, SQLiteStore(path, FRAUD.entities) as b:
        for i in range(5):  # five entries, as five single requests make them
            a.write(batch([i], [T0 - (40 - i) * DAY_US], [1.0], [7], [50], fraud=[i % 2]))
        a.write(batch([9], [T0], [2.0], [7], [51], fraud=[1]))
        assert len(b.histories("customer_id", np.array([7])).transaction_id) == 6  # b holds the old ones
        assert a.trim(T0 - 37 * DAY_US) == 3
        entries = sqlite3.connect(path).execute("select kind from log").fetchall()
        assert entries == [("snapshot",)]
        assert rows(b.histories("customer_id", np.array([7]))) == [
            (0, 3, T0 - 37 * DAY_US, 1_000_000, 1),
            (0, 4, T0 - 36 * DAY_US, 1_000_000, 0),
            (0, 9, T0, 2_000_000, 1),
        ]
        assert b.write(batch([0], [T0 - 40 * DAY_US], [1.0], [7], [50])) == 1  # forgotten, so new again
    with SQLiteStore(path, FRAUD.entities) as restarted:  # a new process replays the snapshot and what followed
        assert [r[1] for r in rows(restarted.histories("terminal_id", np.array([50])))] == [0, 3, 4]


def test_an_earlier_layout_is_dropped_so_the_sync_loads_every_day_again(tmp_path):
    path = tmp_path / "online.db"
    with sqlite3.connect(path) as old:  # the layout before the log: a row of packed records per key
        old.execute("create table histories (entity text, key integer, records blob)")
        old.execute("create table loaded (day text primary key, content_hash text not null)")
        old.execute("insert into loaded values ('2018-05-01', 'abc')")
    with SQLiteStore(path, FRAUD.entities) as store:
        assert store.loaded() == {}
        store.mark_loaded("2018-05-01", "abc")
    with SQLiteStore(path, FRAUD.entities) as store:  # the current layout is kept
        assert store.loaded() == {"2018-05-01": "abc"}
    tables = {name for (name,) in sqlite3.connect(path).execute("select name from sqlite_master where type = 'table'")}
    assert "histories" not in tables


def test_a_failed_write_leaves_neither_the_file_nor_the_index_changed(tmp_path, monkeypatch):
    path = tmp_path / "online.db"
    with SQLiteStore(path, FRAUD.entities) as store:
        store.write(batch([1], [T0], [5.0], [7], [50]))
        with monkeypatch.context() as patch:  # the index has taken the batch when the log append fails
            patch.setattr(store, "_append", lambda kind, payload: (_ for _ in ()).throw(OSError("disk full")))
            with pytest.raises(OSError, match="disk full"):
                store.write(batch([2], [T0 + 1], [6.0], [7], [50]))
        assert [r[1] for r in rows(store.histories("customer_id", np.array([7])))] == [1]
        assert store.write(batch([2], [T0 + 1], [6.0], [7], [50])) == 1  # the retry is new, not a duplicate
    with SQLiteStore(path, FRAUD.entities) as reopened:
        assert [r[1] for r in rows(reopened.histories("customer_id", np.array([7])))] == [1, 2]


def test_a_followed_store_merges_outside_the_requests_and_scores_as_one_that_merges_in_them(tmp_path, monkeypatch):
    """The follow thread works merges out beside the requests and installs them (and the move of recent ids to
    the sorted ones, and the columns' growth); the features are those of a store that merges in its requests,
    batch after batch, a retried batch and chargebacks of earlier batches included."""
    rng = np.random.default_rng(5)
    monkeypatch.setattr(index_module, "RECENT_IDS", 500)
    with (
        SQLiteStore(tmp_path / "a.db", FRAUD.entities) as followed,
        SQLiteStore(tmp_path / "b.db", FRAUD.entities) as inline,
    ):
        in_requests, installed = [], []  # merges in read_and_write (the calls with `upto`); by the follow thread
        merge_due, finish_merge = followed._index.merge_due, followed._index.finish_merge

        def counted_merge_due(upto=None, limit=None):
            if upto is not None:
                in_requests.append(upto)
            merge_due(upto, limit)

        def counted_finish_merge(merge):
            if finish_merge(merge):
                installed.append(merge)
                return True
            return False

        monkeypatch.setattr(followed._index, "merge_due", counted_merge_due)
        monkeypatch.setattr(followed._index, "finish_merge", counted_finish_merge)
        followed.follow(0.01)
        engines = OnlineEngine(FRAUD, followed), OnlineEngine(FRAUD, inline)
        size = 700
        for k in range(12):  # ~8 k transactions: several merges of each entity's tail
            ids = np.arange(k * size, (k + 1) * size)
            customers, terminals = rng.integers(0, 40, size), rng.integers(0, 30, size)
            scored = batch(ids, T0 + ids * 10 * US, rng.uniform(1, 100, size), customers, terminals)
            a, b = (engine.compute(scored) for engine in engines)
            np.testing.assert_array_equal(a, b)
            for engine in engines:  # a few chargebacks, reported in time
                engine.label(ids[rng.integers(0, size, 3)], np.full(3, T0 + ids[-1] * 10 * US))
        # The follow thread does the merges (a request merges only when it falls 4 tails behind, as on a busy CI).
        assert len(installed) >= 4 and len(installed) > len(in_requests)
        for _ in range(500):
            with followed._lock:
                if followed._index.pending_merge() is None:
                    break
            time.sleep(0.01)
        assert followed._index.pending_merge() is None  # every due tail merged
        assert followed._index._ids.end > 0 and len(followed._index._row) < 4 * 500  # the ids moved aside
        retried = batch(
            np.arange(300, 1000), T0 + np.arange(300, 1000) * 10 * US, np.ones(700), np.zeros(700), np.ones(700)
        )
        np.testing.assert_array_equal(*(engine.compute(retried) for engine in engines))
        assert followed._index.size == inline._index.size == 12 * size  # stored once
