"""The Spark engine on a cluster master: `local-cluster[2,1,1024]` runs two executor JVMs apart from the driver,
as a standalone cluster's workers would (MLPLATFORM_SPARK_MASTER=spark://host:7077 there), and the features
it computes are DuckDB's, value for value."""

import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.features.files import compute_file

pytestmark = [pytest.mark.slow, pytest.mark.spark]
MASTER = "local-cluster[2,1,1024]"


def test_the_spark_engine_on_a_two_executor_cluster_computes_duckdbs_features(tmp_path, java, monkeypatch):
    from pyspark.sql import SparkSession

    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    week = pd.read_parquet(path, filters=[("TX_TIME_DAYS", ">=", 30), ("TX_TIME_DAYS", "<", 37)])
    week.to_parquet(tmp_path / "tx.parquet")
    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()  # a local[*] session of this process would be reused: the master is set at creation
    monkeypatch.setenv("MLPLATFORM_SPARK_MASTER", MASTER)
    monkeypatch.setenv("MLPLATFORM_SPARK_DRIVER_MEMORY", "1g")
    try:
        n_spark = compute_file(tmp_path / "tx.parquet", tmp_path / "spark.parquet", engine="spark")
        spark = SparkSession.getActiveSession()
        assert spark is not None and spark.sparkContext.master == MASTER
        # The driver and two executors registered with the cluster's master.
        assert spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() == 3
    finally:
        if (active := SparkSession.getActiveSession()) is not None:
            active.stop()
    n_duck = compute_file(tmp_path / "tx.parquet", tmp_path / "duck.parquet", engine="duckdb")
    duck, spark_out = pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(tmp_path / "spark.parquet")
    assert n_spark == n_duck == len(week)
    for column in duck.columns:
        assert duck[column].tolist() == spark_out[column].tolist(), column
