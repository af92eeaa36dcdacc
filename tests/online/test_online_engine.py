"""The online engine: windows computed as each transaction arrives, equal to the offline engine's values."""

import numpy as np
import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.demo import reports_from_labels
from mlplatform.features import duckdb_engine, parity
from mlplatform.features.definitions import FRAUD
from mlplatform.features.events import build_events
from mlplatform.features.online import OnlineEngine, transactions
from mlplatform.online_store import open_online_store
from mlplatform.online_store.index import TAIL

T0 = pd.Timestamp("2018-05-02 10:00:00")  # a Wednesday morning
COLUMNS = FRAUD.names


def frame(rows) -> pd.DataFrame:
    """Transactions (id, time, customer, terminal, amount)."""
    out = pd.DataFrame(rows, columns=["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount"])
    return out.astype({"tx_datetime": "datetime64[ns]"})


def features(engine, rows) -> pd.DataFrame:
    batch = transactions(frame(rows), engine.store.entities)
    return pd.DataFrame(engine.compute(batch), columns=COLUMNS)


def random_rows(seed: int, n: int, days: int, customers: int, terminals: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    seconds, amounts = rng.integers(0, days * 86_400, n), rng.uniform(1, 200, n)
    who, where = rng.integers(0, customers, n), rng.integers(0, terminals, n)
    return [
        (i, T0 + pd.Timedelta(seconds=int(s)), int(c), int(t), round(float(a), 2))
        for i, (s, c, t, a) in enumerate(zip(seconds, who, where, amounts, strict=True))
    ]


def memory_engine() -> OnlineEngine:
    return OnlineEngine(FRAUD, open_online_store("memory://", FRAUD))


def test_a_cold_start_has_only_the_transaction_itself():
    out = features(memory_engine(), [(1, T0, 7, 50, 12.5)]).iloc[0]
    assert out["customer_nb_tx_1d"] == out["customer_nb_tx_30d"] == 1
    assert out["customer_avg_amount_7d"] == 12.5 and out["tx_amount"] == 12.5
    assert out["terminal_nb_tx_30d"] == out["terminal_risk_30d"] == 0
    assert out["tx_during_weekend"] == 0 and out["tx_during_night"] == 0


def test_customer_windows_include_the_transaction_and_end_exactly_n_days_back():
    engine = memory_engine()
    day = pd.Timedelta(days=1)
    out = features(engine, [(1, T0, 7, 1, 10.0), (2, T0 + pd.Timedelta(hours=1), 7, 2, 20.0)])
    assert out["customer_nb_tx_1d"].tolist() == [1, 2]
    assert out["customer_avg_amount_1d"].tolist() == [10.0, 15.0]
    later = features(engine, [(3, T0 + day, 7, 3, 30.0), (4, T0 + day + pd.Timedelta(seconds=1), 7, 3, 60.0)])
    # (t - 1 day, t]: exactly one day after transaction 1, it has left the window; 2 has not.
    assert later["customer_nb_tx_1d"].tolist() == [2, 3]
    assert later["customer_avg_amount_1d"].tolist() == [25.0, (20 + 30 + 60) / 3]
    assert later["customer_nb_tx_7d"].tolist() == [3, 4]
    assert features(engine, [(5, T0 + 3 * day, 8, 3, 1.0)])["customer_nb_tx_30d"].item() == 1  # another customer


def test_terminal_windows_use_only_transactions_and_labels_at_least_the_delay_old():
    engine = memory_engine()
    week = pd.Timedelta(days=7)
    history = [
        (1, T0, 1, 50, 5.0),
        (2, T0 + pd.Timedelta(hours=1), 2, 50, 5.0),
        (3, T0 + pd.Timedelta(hours=2), 3, 50, 5.0),
    ]
    engine.compute(transactions(frame(history), engine.store.entities))
    reported = pd.to_datetime([T0 + pd.Timedelta(days=3), T0 + week + pd.Timedelta(hours=1, seconds=1)])
    engine.label(np.array([1, 2]), reported.to_numpy("datetime64[us]").astype(np.int64))  # 2: one second too late
    out = features(engine, [(10, T0 + week + pd.Timedelta(hours=3), 9, 50, 1.0), (11, T0 + week, 9, 50, 1.0)])
    # (t - 8 days, t - 7 days]: 10 sees 1, 2 and 3 (only 1's label is known in time); 11 sees only 1.
    assert out["terminal_nb_tx_1d"].tolist() == [3, 1]
    assert out["terminal_risk_1d"].tolist() == [1 / 3, 1.0]
    assert out["terminal_nb_tx_7d"].tolist() == [3, 1]


def test_a_batch_equals_its_transactions_sent_one_by_one_in_time_order():
    rows = random_rows(seed=3, n=400, days=20, customers=15, terminals=10)
    batch = features(memory_engine(), rows)  # in any order: scored as they arrive, by time
    one_by_one = memory_engine()
    ordered = sorted(range(len(rows)), key=lambda i: (rows[i][1], i))
    singles = pd.concat([features(one_by_one, [rows[i]]).set_axis([i]) for i in ordered]).sort_index()
    pd.testing.assert_frame_equal(batch, singles, check_exact=True)


def test_batches_over_the_index_sums_equal_their_transactions_sent_one_by_one(store):
    """Batches read most of the history as the index's cumulative sums (several merges of its tail, chargebacks
    flagged between batches, transactions arriving out of time order), in memory and over each backend of the
    contract suite; one by one reads every row."""
    rows = random_rows(seed=11, n=3 * TAIL, days=40, customers=25, terminals=15)
    batched, one_by_one = [memory_engine(), OnlineEngine(FRAUD, store)], memory_engine()
    for start in range(0, len(rows), 700):
        chunk = transactions(frame(rows[start : start + 700]), FRAUD.entities)
        reported = np.arange(start % 37, start, 37)  # chargebacks of earlier batches, some within the delay
        for e in (*batched, one_by_one):
            e.label(reported, np.full(len(reported), T0.value // 1000 + 86_400_000_000 * 20))
        singles = np.empty((len(chunk), len(COLUMNS)))
        for i in np.lexsort((np.arange(len(chunk)), chunk.time_us)):  # one by one, in time order
            singles[i] = one_by_one.compute(chunk.take(np.array([i])))[0]
        for e in batched:
            np.testing.assert_array_equal(e.compute(chunk), singles)
    indexed = batched[0].store.index.histories("customer_id", np.arange(25), summed=True).indexed
    assert indexed is not None and indexed.composite.size > 2 * TAIL


def test_a_retried_transaction_counts_once():
    engine = memory_engine()
    first = features(engine, [(1, T0, 7, 50, 10.0)])
    retried = features(engine, [(1, T0, 7, 50, 10.0)])
    pd.testing.assert_frame_equal(first, retried, check_exact=True)
    assert features(engine, [(2, T0 + pd.Timedelta(minutes=1), 7, 50, 30.0)])["customer_nb_tx_1d"].item() == 2
    assert features(engine, [(3, T0, 8, 51, 1.0), (3, T0, 8, 51, 1.0)])["customer_nb_tx_1d"].tolist() == [1, 1]


def test_same_second_transactions_see_only_those_that_arrived_before_them():
    engine = memory_engine()
    rows = [(1, T0, 7, 50, 10.0), (2, T0, 7, 51, 20.0), (3, T0, 8, 51, 5.0)]
    out = features(engine, rows)
    assert out["customer_nb_tx_1d"].tolist() == [1, 2, 1]  # offline, 1 would count 2 (time-based windows)
    assert parity.tie_rows(frame(rows), FRAUD).tolist() == [True, False, False]


def test_every_store_backend_gives_the_same_features(store):
    """The engine over each backend of the contract suite: identical values."""
    rows = random_rows(seed=5, n=300, days=40, customers=10, terminals=6)
    reference, engine = memory_engine(), OnlineEngine(FRAUD, store)
    for chunk in (rows[:120], rows[120:121], rows[121:]):
        for e in (reference, engine):
            e.label(np.array([5, 17, 40]), np.array([T0.value // 1000 + 86_400_000_000 * 3] * 3))
        pd.testing.assert_frame_equal(features(engine, chunk), features(reference, chunk), check_exact=True)


@pytest.mark.slow
@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
def test_replayed_days_equal_the_duckdb_engine_bit_for_bit():
    published = pd.read_parquet(handbook_path(), filters=[("TX_TIME_DAYS", "<", 45)])
    reports = reports_from_labels(published)  # chargebacks 1 to 30 days late, as the demo provider serves them
    raw = published.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount"]
    ]
    days = [str(d.date()) for d in pd.date_range("2018-04-01", "2018-05-15")]
    by_day = {d: g.reset_index(drop=True) for d, g in raw.groupby(raw["tx_datetime"].dt.strftime("%Y-%m-%d"))}
    reports_by_day = {d: reports[reports["reported_at"].dt.strftime("%Y-%m-%d") == d] for d in days}
    checked = days[-3:]
    offline = duckdb_engine.compute(build_events([raw], [reports], FRAUD.label_delay), FRAUD)
    offline_by_day = {d: offline[offline["tx_datetime"].dt.strftime("%Y-%m-%d") == d] for d in checked}

    results = parity.check(FRAUD, by_day, reports_by_day, offline_by_day)
    assert [r.day for r in results] == checked
    assert sum(r.rows for r in results) > 28_000
    for result in results:
        assert result.passed, result.mismatched_rows[:10]
        assert result.matched == dict.fromkeys(COLUMNS, 1.0)


def test_parity_names_ties_whatever_order_the_rows_are_stored_in():
    day = frame([(2, T0, 7, 50, 20.0), (1, T0, 7, 51, 10.0), (3, T0 + pd.Timedelta(hours=1), 8, 50, 5.0)])
    offline = duckdb_engine.compute(build_events([day], [], FRAUD.label_delay), FRAUD)
    (result,) = parity.check(
        FRAUD,
        {"2018-05-02": day},
        {"2018-05-02": pd.DataFrame({"transaction_id": [], "reported_at": pd.to_datetime([])})},
        {"2018-05-02": offline},
    )
    assert result.tie_rows == [1] and result.mismatched_rows == [] and result.passed
