"""The weekly training-set asset: lineage to lake commits, byte-identical rebuilds, late labels unused."""

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from mlplatform.config import handbook_path
from mlplatform.lake.tables import read_table, table_path, to_parquet
from mlplatform.training_sets import rebuild
from tests.platform_env import make_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]
WEEK = "2018-04-04"


def test_training_set_is_reproducible_from_its_recorded_commits(tmp_path):
    env = make_env(tmp_path / "home", days=31)  # 2018-04-04 + 28 days of features and reports
    env.start_api()
    try:
        instance = DagsterInstance.ephemeral()
        daily = env.run_range("2018-04-01", "2018-05-01", instance)
        assert daily.success
        env.publish(instance, daily.run_id)
        training = env.run_job("training", WEEK, instance)
        assert training.success
        env.publish(instance, training.run_id)
    finally:
        env.stop_api()

    stored = env.lake.get("main", table_path(["training_set"], WEEK))
    frame = read_table(env.lake, "main", table_path(["training_set"], WEEK))
    assert set(frame["split"]) == {"train", "test"}
    assert (
        frame.loc[frame["split"] == "train", "tx_datetime"].between("2018-04-04", "2018-04-11", inclusive="left").all()
    )
    assert (
        frame.loc[frame["split"] == "test", "tx_datetime"].between("2018-04-18", "2018-04-25", inclusive="left").all()
    )

    mat = instance.fetch_materializations(AssetKey("training_set"), limit=1).records[0].asset_materialization
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["train_rows"] + meta["test_rows"] == len(frame)
    rebuilt = rebuild(
        env.lake,
        meta["input_commit/transaction_features"],
        meta["input_commit/raw_fraud_reports"],
        WEEK,
    )
    assert to_parquet(rebuilt) == stored

    # Training labels are only those reported before the cutoff (the start of the test window).
    reports = pd.concat(
        read_table(env.lake, "main", path) for path in env.lake.list("main", "tables/raw_fraud_reports/")
    )
    reported_late = reports.loc[reports["reported_at"] >= pd.Timestamp("2018-04-18"), "transaction_id"]
    train = frame[frame["split"] == "train"]
    assert train["transaction_id"].isin(reported_late).any()
    assert train.loc[train["transaction_id"].isin(reported_late), "label"].eq(0).all()
    assert train["label"].sum() > 0
