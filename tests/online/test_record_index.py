"""The in-memory index across its sorted part and its tail: every key's rows, by time (all of them, or those
stored before a given row), and its window sums."""

import numpy as np

from mlplatform.online_store import index as index_module
from mlplatform.online_store.base import Transactions, WindowSums
from mlplatform.online_store.index import TAIL, RecordIndex


def test_histories_match_a_scan_across_merges_and_a_keep():
    rng = np.random.default_rng(7)
    index = RecordIndex(("customer_id",))
    expected: dict[int, list[int]] = {}  # key -> ids in arrival order
    next_id = 0
    for size in [1, 5, TAIL - 3, 2, 1, 3 * TAIL, 7] * 3:  # tails merged at different points
        entries = np.zeros(size, dtype=index.entry)
        entries["transaction_id"] = np.arange(next_id, next_id + size)
        entries["time_us"] = entries["transaction_id"] * 10
        entries["customer_id"] = rng.integers(0, 50, size)
        keys = rng.permutation(60)[:9]  # some never seen
        earlier = {key: list(expected.get(key, [])) for key in keys.tolist()}
        before = index.size
        index.append(entries)
        # The rows stored before `before` as they were, whether the append merged the tail or not.
        history = index.histories("customer_id", keys, before)
        for g, key in enumerate(keys.tolist()):
            assert history.transaction_id[history.group == g].tolist() == earlier[key]
        assert index.histories("customer_id", keys[:1], before).transaction_id.tolist() == earlier[int(keys[0])]
        for t, k in zip(entries["transaction_id"].tolist(), entries["customer_id"].tolist(), strict=True):
            expected.setdefault(k, []).append(t)
        next_id += size
        history = index.histories("customer_id", keys)
        for g, key in enumerate(keys.tolist()):
            assert history.transaction_id[history.group == g].tolist() == expected.get(key, [])
        single = index.histories("customer_id", keys[:1])
        assert single.transaction_id.tolist() == expected.get(int(keys[0]), [])

    index.keep(np.flatnonzero(index.column("transaction_id") % 3 == 0))
    history = index.histories("customer_id", np.arange(50))
    for key in range(50):
        assert history.transaction_id[history.group == key].tolist() == [t for t in expected[key] if t % 3 == 0]
    assert index.rows_of(np.array([3, 4])).tolist() == [1, -1]


def test_window_sums_rank_keys_and_list_every_row_when_times_are_too_far_apart_for_them():
    index = RecordIndex(("customer_id",))
    entries = np.zeros(TAIL, dtype=index.entry)
    entries["transaction_id"] = np.arange(TAIL)
    entries["time_us"] = np.arange(TAIL) * 10**9  # 11.6 days apart at most
    entries["customer_id"] = np.where(np.arange(TAIL) % 2, 2**61, 5)  # a key near the int64 limit: ranked
    index.append(entries)
    summed = index.histories("customer_id", np.array([5, 2**61]), summed=True)
    assert len(summed.transaction_id) == 0 and summed.indexed is not None
    times = entries["time_us"]
    positions = summed.indexed.positions(np.array([5, 2**61, 7]), np.array([times[10]] * 3), [0])[0]
    assert positions.tolist() == [6, TAIL // 2 + 5, 0]  # key 5: times 0..10 (6 of them); 2**61: 1..9; 7: no rows

    far = RecordIndex(("customer_id",))
    entries["time_us"] = np.arange(TAIL) * 2**52  # two keys * a span of ~2**62 microseconds: too wide
    far.append(entries)
    history = far.histories("customer_id", np.array([5, 2**61]), summed=True)
    assert history.indexed is None
    assert history.transaction_id[history.group == 1].tolist() == list(range(1, TAIL, 2))


def test_window_sums_positions_count_each_keys_rows_up_to_a_bound_as_a_scan_does():
    rng = np.random.default_rng(3)
    index = RecordIndex(("customer_id",))
    entries = np.zeros(4 * TAIL, dtype=index.entry)
    entries["transaction_id"] = np.arange(len(entries))
    entries["time_us"] = rng.integers(0, 40, len(entries)) * 1_000  # many rows of one key at one time
    entries["customer_id"] = rng.choice([3, 4, 9, 10, 500], len(entries), p=[0.7, 0.1, 0.1, 0.05, 0.05])
    index.append(entries)
    sums = index.histories("customer_id", np.array([3, 4]), summed=True).indexed
    assert sums is not None
    keys = np.array([3, 4, 9, 10, 500, 0, 7, 501, 3, 3])  # 0, 7 and 501 have no rows
    times = np.array([0, 17_000, 39_000, 20_500, 5_000, 10_000, 10_000, 10_000, -5_000, 90_000])
    _assert_positions_as_a_scan(sums, entries, keys, times, [0, 1_000, 7_000, 30_000])


def _assert_positions_as_a_scan(
    sums: WindowSums, entries: np.ndarray, keys: np.ndarray, times: np.ndarray, backs: list[int]
) -> None:
    positions = sums.positions(keys, times, backs)
    for back in backs:
        for key, t, position in zip(keys.tolist(), times.tolist(), positions[back].tolist(), strict=True):
            mine = entries["customer_id"] == key
            if not mine.any():
                assert position == 0
                continue
            # Past every row of a lower key and the key's rows at or before t - back.
            lower = int((entries["customer_id"] < key).sum())
            assert position == lower + int((mine & (entries["time_us"] <= t - back)).sum())


def test_window_sums_stay_exact_across_merges_of_later_times_new_keys_and_earlier_times():
    """Merges that keep the sorted part's composite (later times, known keys) and merges that work it out
    again (a new key, a time before every stored one) leave the same positions as a scan."""
    rng = np.random.default_rng(11)
    index = RecordIndex(("customer_id",))
    stored = np.zeros(0, dtype=index.entry)
    chunks = [
        (np.arange(0, 100_000), [1, 2, 3]),  # the first composite
        (np.arange(100_000, 110_000), [1, 2, 3]),  # later, inside its headroom: kept
        (np.arange(110_000, 111_000), [2, 9]),  # a key not seen yet
        (np.arange(-50_000, -49_000), [1, 3]),  # before every stored time
        (np.arange(400_000, 401_000), [3, 1]),  # past the headroom
    ]
    for chunk, (times, keys) in enumerate(chunks):
        entries = np.zeros(2 * TAIL, dtype=index.entry)
        entries["transaction_id"] = np.arange(len(entries)) + chunk * len(entries)
        entries["time_us"] = rng.choice(times, len(entries))
        entries["customer_id"] = rng.choice(keys, len(entries))
        entries["amount_micros"] = rng.integers(0, 10**8, len(entries))
        index.append(entries)
        stored = np.concatenate([stored, entries])
        sums = index.histories("customer_id", np.array([1]), summed=True).indexed
        assert sums is not None and len(sums.composite) == len(stored)  # every row merged
        query_keys, query_times = rng.choice([0, 1, 2, 3, 9, 10], 200), rng.integers(-60_000, 420_000, 200)
        _assert_positions_as_a_scan(sums, stored, query_keys, query_times, [0, 5_000, 70_000])
        # Key 1's amounts up to time 0, from the sums at two positions.
        upto = sums.positions(np.array([1, 1]), np.array([0, 10**9]), [0])[0]
        start = upto[1] - int((stored["customer_id"] == 1).sum())
        expected = stored["amount_micros"][(stored["customer_id"] == 1) & (stored["time_us"] <= 0)].sum()
        assert sums.amount[upto[0]] - sums.amount[start] == expected


def test_a_merge_worked_out_while_rows_are_added_and_flagged_keeps_them_and_one_overtaken_is_dropped():
    """A merge taken from the index, worked out while more rows are stored and flags set (as the SQLite store's
    follow thread does outside its lock), then installed: the windows count every row and every flag."""
    rng = np.random.default_rng(3)
    index = RecordIndex(("customer_id",), merge_on_append=False)

    def stored(count: int) -> np.ndarray:
        entries = np.zeros(count, dtype=index.entry)
        entries["transaction_id"] = np.arange(index.size, index.size + count)
        entries["time_us"] = entries["transaction_id"] * 1_000
        entries["customer_id"] = rng.integers(0, 20, count)
        index.append(entries)
        return entries

    stored(3 * TAIL)
    index.merge_due()
    stored(2 * TAIL)
    merge = index.pending_merge()
    assert merge is not None and index.pending_merge() is not None  # taking one changes nothing
    merge.compute()
    stored(TAIL // 2)  # after the merge was taken: the index's tail once it is installed
    flagged = np.array([5, 4 * TAIL, 4 * TAIL + 1, 5 * TAIL + 3])  # in the sorted part, the merged tail, the new tail
    index.flag(flagged)
    assert index.finish_merge(merge)
    entries = index.records()
    keys = np.arange(21)
    history = index.histories("customer_id", keys, summed=True)
    assert sorted(history.transaction_id.tolist()) == list(range(5 * TAIL, index.size))  # only the new tail listed
    sums = history.indexed
    assert sums is not None
    merged = entries[: 5 * TAIL]
    _assert_positions_as_a_scan(sums, merged, keys, np.full(21, 10**12), [0])
    assert int(sums.fraud[-1]) == 3  # the flags set while the merge was worked out, on the rows it merged

    stored(3 * TAIL)
    stale = index.pending_merge()
    assert stale is not None
    stale.compute()
    size = index.size
    index.keep(np.flatnonzero(index.column("transaction_id") % 2 == 0))  # the sorted part is built again
    assert not index.finish_merge(stale)
    history = index.histories("customer_id", keys)
    assert sorted(history.transaction_id.tolist()) == list(range(0, size, 2))


def test_fraud_and_amount_sums_stay_exact_across_merges_of_rows_with_and_without_flags():
    """Merges of rows without a flag (the fraud sums extended, not summed again), of rows with one, and after a
    flag set on merged rows: each key's fraud and amount sums up to a time are a scan's."""
    rng = np.random.default_rng(5)
    index = RecordIndex(("customer_id",))
    for step, fraud_rate in enumerate([0.3, 0.0, 0.0, 0.2, 0.0]):
        entries = np.zeros(2 * TAIL, dtype=index.entry)
        entries["transaction_id"] = np.arange(index.size, index.size + len(entries))
        entries["time_us"] = rng.integers(0, 50, len(entries)) * 1_000 + step * 10_007  # between earlier rows
        entries["customer_id"] = rng.choice([2, 4, 6, 8] + [10] * step, len(entries))  # a new key after the first
        entries["amount_micros"] = rng.integers(0, 10**8, len(entries))
        entries["fraud"] = rng.random(len(entries)) < fraud_rate
        if step == 4:
            index.flag(rng.choice(index.size, 50, replace=False))  # rows merged already: their sums are stale
        index.append(entries)
        stored = index.records()
        sums = index.histories("customer_id", np.array([2]), summed=True).indexed
        assert sums is not None and len(sums.composite) == len(stored)  # every row merged
        keys, times = rng.choice([1, 2, 4, 6, 8, 10], 300), rng.integers(-1_000, 100_000, 300)
        upto = sums.positions(keys, times, [0])[0]
        start = sums.positions(keys, np.full(len(keys), -(10**6)), [0])[0]
        for key, t, a, b in zip(keys.tolist(), times.tolist(), start.tolist(), upto.tolist(), strict=True):
            mine = (stored["customer_id"] == key) & (stored["time_us"] <= t)
            assert sums.fraud[b] - sums.fraud[a] == stored["fraud"][mine].sum()
            assert sums.amount[b] - sums.amount[a] == stored["amount_micros"][mine].sum()


def test_ids_moved_from_the_recent_dict_to_the_sorted_ids_are_found_with_rows_stored_meanwhile(monkeypatch):
    """Ids in any order, moved out of the dict of recent ones in steps (inline, and worked out aside while rows are
    stored, as the SQLite store's follow thread does): each found at its row, an id never stored at -1."""
    monkeypatch.setattr(index_module, "RECENT_IDS", 64)
    rng = np.random.default_rng(9)
    ids = rng.permutation(10**6)[:3000] * 7 + 10**12  # distinct, in no order
    index = RecordIndex(("customer_id",), merge_on_append=False)

    def store(count: int) -> None:
        entries = np.zeros(count, dtype=index.entry)
        entries["transaction_id"] = ids[index.size : index.size + count]
        index.append(entries)

    store(1000)
    index.merge_due()  # moved inline
    assert index.pending_ids() is None and not index._row
    store(100)
    pending = index.pending_ids()
    assert pending is not None
    pending.compute()
    store(200)  # stored while the move was worked out
    assert index.finish_ids(pending) and len(index._row) == 200
    absent = np.array([0, ids[10] + 1, ids.max() + 7, ids.min() - 7])  # one between stored ids
    wanted = np.concatenate([ids[:1300], absent])
    assert index.rows_of(wanted).tolist() == [*range(1300), -1, -1, -1, -1]
    assert index.stores_any(ids[1299:1300]) and not index.stores_any(absent)
    for retried in (ids[10], ids[1250], absent[1]):  # one transaction written: stored once, by its sorted or recent id
        one = np.array([retried])
        batch = Transactions(one, one, np.ones(1), {"customer_id": one}, np.zeros(1, dtype=np.int64))
        assert len(index.write(batch)[0]) == (retried == absent[1])
    assert index.size == 1301

    store(100)
    stale = index.pending_ids()
    assert stale is not None
    stale.compute()
    index.keep(np.arange(0, index.size, 2))  # the index is built again: the move is dropped
    assert not index.finish_ids(stale)
    assert index.rows_of(ids[:6]).tolist() == [0, -1, 1, -1, 2, -1]


def test_columns_grown_aside_keep_the_rows_and_flags_stored_meanwhile_and_one_overtaken_is_dropped():
    index = RecordIndex(("customer_id",), merge_on_append=False)

    def store(count: int) -> None:
        entries = np.zeros(count, dtype=index.entry)
        entries["transaction_id"] = np.arange(index.size, index.size + count)
        entries["customer_id"] = entries["transaction_id"] % 5
        index.append(entries)

    store(600)  # half of the first 1,024 rows' room
    growth = index.pending_growth()
    assert growth is not None
    growth.compute()
    store(300)
    index.flag(np.array([3, 700]))  # one stored before the growth was taken, one after
    assert index.finish_growth(growth)
    assert len(index._columns["transaction_id"]) == 2048
    assert index.column("transaction_id").tolist() == list(range(900))
    assert np.flatnonzero(index.column("fraud")).tolist() == [3, 700]

    store(200)
    overtaken = index.pending_growth()
    assert overtaken is not None
    overtaken.compute()
    store(1000)  # past the room: the append grows the columns itself
    assert not index.finish_growth(overtaken)
    assert index.column("transaction_id").tolist() == list(range(2100))
