"""The engines compute identical features from the same definitions: NumPy and DuckDB on the whole
published dataset and on events built to take the NumPy engine's rarer paths, Spark and DuckDB on three weeks."""

import numpy as np
import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.features import duckdb_engine, numpy_engine
from mlplatform.features.definitions import FRAUD
from mlplatform.features.files import compute_file


@pytest.fixture(scope="module")
def published():
    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    return path


def _labels_for_half(frame: pd.DataFrame, folder) -> None:
    """Transactions without TX_FRAUD, and labels in their own file for half of them (the rest genuine)."""
    frame.drop(columns=["TX_FRAUD"]).to_parquet(folder / "tx.parquet")
    frame.loc[frame["TRANSACTION_ID"] % 2 == 0, ["TRANSACTION_ID", "TX_FRAUD"]].to_parquet(folder / "labels.parquet")


@pytest.mark.slow
def test_numpy_and_duckdb_write_the_same_file_for_the_whole_published_dataset(tmp_path, published):
    _labels_for_half(pd.read_parquet(published), tmp_path)
    files = {}
    for engine in ("numpy", "duckdb"):
        labels = tmp_path / "labels.parquet"
        rows = compute_file(tmp_path / "tx.parquet", tmp_path / f"{engine}.parquet", labels, engine, FRAUD)
        assert rows == 1_754_155
        files[engine] = pd.read_parquet(tmp_path / f"{engine}.parquet")
    numpy_out, duck = files["numpy"], files["duckdb"]
    pd.testing.assert_frame_equal(numpy_out, duck, check_exact=True)
    assert duck["TRANSACTION_ID"].is_monotonic_increasing
    # The labels file was used: half the frauds are gone, so some risks are lower than TX_FRAUD's would give.
    assert 0 < duck["TERMINAL_ID_RISK_30DAY_WINDOW"].mean() < 0.01
    assert duck["TX_AMOUNT_TO_CUSTOMER_AVG_30DAY_WINDOW"].max() > 3  # the ratios are in the file too


def _events(n: int, seed: int) -> pd.DataFrame:
    """Events whose keys are huge, sparse integers and whose times span a century (a few far outliers around
    dense weeks), with ties within a second: the NumPy engine then sorts by lexsort and cuts its blocks at
    fewer keys than it would by size, where common data takes one packed sort and blocks cut by size."""
    rng = np.random.default_rng(seed)
    dense = np.datetime64("2018-04-01T00:00:00") + rng.integers(0, 21 * 86_400, n).astype("timedelta64[s]")
    far = np.datetime64("1950-01-01T00:00:00") + rng.integers(0, 100 * 365 * 86_400, 40).astype("timedelta64[s]")
    far[:2] = [np.datetime64("1950-01-01T00:00:00"), np.datetime64("2049-12-31T00:00:00")]
    times = np.concatenate([dense, far, dense[:30]]).astype("datetime64[us]")  # 30 exact ties too
    m = len(times)
    events = pd.DataFrame(
        {
            "transaction_id": rng.permutation(m).astype(np.int64) + 10**12,
            "tx_datetime": times,
            "customer_id": rng.integers(0, 3_000, m) * (2**50) + 7,  # 3,000 keys: above one block's 1,441
            "terminal_id": rng.integers(-400, 400, m),
            "tx_amount": np.round(rng.gamma(2.0, 40.0, m), 2) * (rng.random(m) > 0.02),  # some amounts 0
            "tx_fraud": (rng.random(m) < 0.05).astype(np.int64),
        }
    )
    return events.sort_values(["tx_datetime", "transaction_id"], ignore_index=True)


@pytest.mark.parametrize("block", [1, 500, numpy_engine.BLOCK])
def test_numpy_equals_duckdb_on_huge_keys_and_a_century_of_times(monkeypatch, block):
    """Whatever the engine's block size: one key a block, a few hundred events, or all of them at once."""
    monkeypatch.setattr(numpy_engine, "BLOCK", block)
    events = _events(20_000, seed=3)
    span = events["tx_datetime"].max() - events["tx_datetime"].min()
    assert span > pd.Timedelta(days=99 * 365)
    for since in (None, pd.Timestamp("2018-04-10")):
        numpy_out = numpy_engine.compute(events, FRAUD, since=since)
        duck = duckdb_engine.compute(events, FRAUD, since=since)
        pd.testing.assert_frame_equal(numpy_out, duck, check_exact=True)
    # The windows are not trivially empty: customers and terminals have history inside the dense weeks.
    assert numpy_out["customer_nb_tx_30d"].max() > 1 and numpy_out["terminal_risk_30d"].max() > 0
    # A customer whose day spent nothing has no ratio to its mean: the definition's default.
    spent_nothing = numpy_out["customer_avg_amount_1d"] == 0
    assert spent_nothing.any() and (numpy_out.loc[spent_nothing, "amount_ratio_1d"] == 1.0).all()


def test_no_events_give_no_rows_with_the_feature_columns():
    empty = _events(10, seed=0).iloc[:0]
    numpy_out, duck = numpy_engine.compute(empty, FRAUD), duckdb_engine.compute(empty, FRAUD)
    assert numpy_out.empty and list(numpy_out.columns) == list(duck.columns)


@pytest.mark.slow
@pytest.mark.spark
def test_duckdb_and_spark_agree_on_three_weeks_with_external_labels(tmp_path, java, published):
    weeks = pd.read_parquet(published, filters=[("TX_TIME_DAYS", ">=", 20), ("TX_TIME_DAYS", "<", 41)])
    _labels_for_half(weeks, tmp_path)

    labels = tmp_path / "labels.parquet"
    n_duck = compute_file(tmp_path / "tx.parquet", tmp_path / "duck.parquet", labels, "duckdb", FRAUD)
    n_spark = compute_file(tmp_path / "tx.parquet", tmp_path / "spark.parquet", labels, "spark", FRAUD)
    duck, spark = pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(tmp_path / "spark.parquet")

    assert n_duck == n_spark == len(weeks)
    assert list(duck.columns) == list(spark.columns)
    assert duck["TRANSACTION_ID"].tolist() == spark["TRANSACTION_ID"].tolist()
    for column in duck.columns:
        assert duck[column].tolist() == spark[column].tolist(), column
    # The labels file was used: half the frauds are gone, so some terminal risks differ from TX_FRAUD's.
    assert duck["TERMINAL_ID_RISK_30DAY_WINDOW"].sum() > 0


@pytest.mark.parametrize("engine", [numpy_engine, duckdb_engine])
def test_the_habit_is_the_customers_mean_before_the_last_week_and_0_without_one(engine):
    """A card's first transactions have no habit (0, and their ratios to it 1); 10 days later, the habit is the
    mean of the days more than 7 days back, and the last week's spending is read against it."""
    times = pd.to_datetime(["2018-04-01 10:00", "2018-04-01 11:00", "2018-04-11 10:00", "2018-04-11 12:00"])
    events = pd.DataFrame(
        {
            "transaction_id": [1, 2, 3, 4],
            "tx_datetime": times,
            "customer_id": [5, 5, 5, 5],
            "terminal_id": [1, 2, 3, 4],
            "tx_amount": [10.0, 30.0, 100.0, 60.0],
            "tx_fraud": [0, 0, 0, 0],
        }
    )
    out = engine.compute(events, FRAUD).set_index("transaction_id")
    assert out.loc[[1, 2], "customer_habit_amount"].tolist() == [0.0, 0.0]
    assert out.loc[[1, 2], ["amount_to_habit", "spend_1d_to_habit", "spend_7d_to_habit"]].to_numpy().tolist() == [
        [1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0],
    ]
    assert out.loc[[3, 4], "customer_habit_amount"].tolist() == [20.0, 20.0]  # (10 + 30) / 2, 10 days back
    assert out.loc[4, "amount_to_habit"] == 3.0  # 60 / 20
    assert out.loc[4, "spend_1d_to_habit"] == 4.0  # (100 + 60) / 2 / 20: the last day's mean
