"""The online store contract, for every backend: what is written is read back, once, with its labels."""

import numpy as np

from mlplatform.online_store import DAY_US, US, Transactions
from mlplatform.online_store.index import TAIL
from mlplatform.online_store.redis import CHUNK

T0 = 1_525_000_000 * US  # 2018-04-29 11:06:40
DELAY = 7 * DAY_US


def batch(ids, times, amounts, customers, terminals, fraud=None) -> Transactions:
    return Transactions(
        np.array(ids, dtype=np.int64),
        np.array(times, dtype=np.int64),
        np.array(amounts, dtype=np.float64),
        {"customer_id": np.array(customers, dtype=np.int64), "terminal_id": np.array(terminals, dtype=np.int64)},
        np.zeros(len(ids), dtype=np.int64) if fraud is None else np.array(fraud, dtype=np.int64),
    )


def rows(history, group=None):
    """The history as sorted (group, id, time, amount, fraud) tuples."""
    out = zip(
        history.group.tolist(),
        history.transaction_id.tolist(),
        history.time_us.tolist(),
        history.amount_micros.tolist(),
        history.fraud.tolist(),
        strict=True,
    )
    return sorted(r for r in out if group is None or r[0] == group)


def test_written_transactions_are_read_back_by_each_entity_key(store):
    assert store.write(batch([1, 2, 3], [T0, T0 + 5, T0 + 9], [10.25, 0.01, 99.99], [7, 7, 8], [50, 51, 50])) == 3
    customers = store.histories("customer_id", np.array([7, 8, 9]))
    assert rows(customers) == [(0, 1, T0, 10_250_000, 0), (0, 2, T0 + 5, 10_000, 0), (1, 3, T0 + 9, 99_990_000, 0)]
    terminals = store.histories("terminal_id", np.array([50]))
    assert [r[1] for r in rows(terminals)] == [1, 3]
    assert len(store.histories("terminal_id", np.array([999])).transaction_id) == 0  # a cold start: no history


def test_writes_are_idempotent_by_transaction_id(store):
    store.write(batch([1, 2], [T0, T0 + 1], [5.0, 6.0], [7, 7], [50, 50]))
    again = batch([2, 1, 3], [T0 + 1, T0, T0 + 2], [6.0, 123.0, 7.0], [7, 7, 7], [50, 50, 50])
    assert store.write(again) == 1  # only 3 is new; a retried 1 with another amount changes nothing
    assert rows(store.histories("customer_id", np.array([7]))) == [
        (0, 1, T0, 5_000_000, 0),
        (0, 2, T0 + 1, 6_000_000, 0),
        (0, 3, T0 + 2, 7_000_000, 0),
    ]


def test_a_label_counts_only_when_reported_within_the_delay(store):
    store.write(batch([1, 2, 3], [T0, T0, T0], [1.0, 2.0, 3.0], [7, 8, 9], [50, 50, 51]))
    reported = np.array([T0 + DELAY, T0 + DELAY + 1, T0 + DAY_US, T0], dtype=np.int64)
    assert store.label(np.array([1, 2, 3, 404]), reported, DELAY) == 2  # 2 is too late, 404 unknown
    assert {r[1]: r[4] for r in rows(store.histories("terminal_id", np.array([50, 51])))} == {1: 1, 2: 0, 3: 1}
    assert {r[1]: r[4] for r in rows(store.histories("customer_id", np.array([7, 8, 9])))} == {1: 1, 2: 0, 3: 1}
    assert store.label(np.array([1]), np.array([T0 + 5]), DELAY) == 0  # already flagged


def test_daily_loads_set_fraud_flags_and_never_clear_them(store):
    store.write(batch([1, 2], [T0, T0], [1.0, 2.0], [7, 7], [50, 50]))
    store.write(batch([2, 3], [T0, T0 + 1], [2.0, 3.0], [7, 7], [50, 50], fraud=[1, 1]))  # 2 exists, 3 is new
    store.write(batch([2, 3], [T0, T0 + 1], [2.0, 3.0], [7, 7], [50, 50], fraud=[0, 0]))  # a later, live write
    assert {r[1]: r[4] for r in rows(store.histories("terminal_id", np.array([50])))} == {1: 0, 2: 1, 3: 1}


def test_large_writes_and_labellings_are_whole(store):
    """More than a Redis script takes at once (CHUNK): every transaction and every label lands, once."""
    n = CHUNK + 7
    ids = np.arange(1, n + 1)
    assert store.write(batch(ids, T0 + ids, np.ones(n), ids % 5, ids % 3)) == n
    assert store.write(batch(ids[-10:], T0 + ids[-10:], np.ones(10), ids[-10:] % 5, ids[-10:] % 3)) == 0
    odd = ids[ids % 2 == 1]
    assert store.label(odd, np.full(len(odd), T0 + DAY_US), DELAY) == len(odd)
    found = rows(store.histories("terminal_id", np.array([0, 1, 2])))
    assert len(found) == n
    assert {r[1] for r in found if r[4] == 1} == set(odd.tolist())


def test_trim_forgets_transactions_no_window_reaches(store):
    store.write(batch([1, 2, 3], [T0 - 40 * DAY_US, T0 - DAY_US, T0], [1.0, 2.0, 3.0], [7, 7, 8], [50, 51, 50]))
    assert store.trim(T0 - 37 * DAY_US) == 1
    assert {r[1] for r in rows(store.histories("customer_id", np.array([7, 8])))} == {2, 3}
    assert {r[1] for r in rows(store.histories("terminal_id", np.array([50, 51])))} == {2, 3}
    assert store.label(np.array([1]), np.array([T0 - 40 * DAY_US]), DELAY) == 0  # gone, labels included
    assert store.write(batch([1], [T0 - 40 * DAY_US], [1.0], [7], [50])) == 1  # a late copy is new again


def test_read_and_write_returns_the_history_before_the_batch(store):
    store.write(batch([1], [T0], [1.0], [7], [50]))
    keys = {"customer_id": np.array([7]), "terminal_id": np.array([50])}
    before = store.read_and_write(keys, batch([2], [T0 + 1], [2.0], [7], [50]))
    assert [r[1] for r in rows(before["customer_id"])] == [1]
    assert [r[1] for r in rows(store.histories("customer_id", np.array([7])))] == [1, 2]


def test_read_and_write_returns_the_history_before_a_large_batch_or_a_flag(store):
    """A batch over the embedded index's tail (merged during the write), with a retried id; then a batch that
    flags a stored transaction: each call returns the histories as they were before it."""
    n = TAIL + 10

    def spread(ids):
        ids = list(ids)
        return batch(ids, [T0 + i for i in ids], [1.0 + i for i in ids], [i % 3 for i in ids], [i % 5 for i in ids])

    store.write(spread(range(n)))
    keys = {"customer_id": np.array([2, 0, 9]), "terminal_id": np.arange(5)}
    before = {e: rows(store.histories(e, keys[e])) for e in keys}
    found = store.read_and_write(keys, spread([*range(n, 2 * n), 5]))
    assert {e: rows(found[e]) for e in keys} == before
    assert len(rows(store.histories("terminal_id", np.arange(5)))) == 2 * n

    before = {e: rows(store.histories(e, keys[e])) for e in keys}
    found = store.read_and_write(keys, batch([6], [T0 + 6], [7.0], [0], [1], fraud=[1]))
    assert {e: rows(found[e]) for e in keys} == before
    assert [r[4] for r in rows(store.histories("customer_id", np.array([0]))) if r[1] == 6] == [1]


def test_loaded_days_are_remembered(store):
    assert store.loaded() == {}
    store.mark_loaded("2018-05-01", "abc")
    store.mark_loaded("2018-05-02", "def")
    store.mark_loaded("2018-05-01", "xyz")
    assert store.loaded() == {"2018-05-01": "xyz", "2018-05-02": "def"}
