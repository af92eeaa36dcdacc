"""DuckDB and Spark compute identical features from the same definitions."""

import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.features.files import compute_file

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_duckdb_and_spark_agree_on_three_weeks_with_external_labels(tmp_path, java):
    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    weeks = pd.read_parquet(path, filters=[("TX_TIME_DAYS", ">=", 20), ("TX_TIME_DAYS", "<", 41)])
    weeks.drop(columns=["TX_FRAUD"]).to_parquet(tmp_path / "tx.parquet")
    # Labels in their own file, for part of the transactions only (the rest count as genuine).
    labels = weeks.loc[weeks["TRANSACTION_ID"] % 2 == 0, ["TRANSACTION_ID", "TX_FRAUD"]]
    labels.to_parquet(tmp_path / "labels.parquet")

    n_duck = compute_file(tmp_path / "tx.parquet", tmp_path / "duck.parquet", tmp_path / "labels.parquet", "duckdb")
    n_spark = compute_file(tmp_path / "tx.parquet", tmp_path / "spark.parquet", tmp_path / "labels.parquet", "spark")
    duck, spark = pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(tmp_path / "spark.parquet")

    assert n_duck == n_spark == len(weeks)
    assert list(duck.columns) == list(spark.columns)
    assert duck["TRANSACTION_ID"].tolist() == spark["TRANSACTION_ID"].tolist()
    for column in duck.columns:
        assert duck[column].tolist() == spark[column].tolist(), column
    # The labels file was used: half the frauds are gone, so some terminal risks differ from TX_FRAUD's.
    assert duck["TERMINAL_ID_RISK_30DAY_WINDOW"].sum() > 0
