"""Training sets follow shared/docs/evaluation.md (its published counts) and never use late labels."""

import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.training_sets import Split, build


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    tx = pd.read_parquet(path, filters=[("TX_TIME_DAYS", ">=", 110), ("TX_TIME_DAYS", "<", 140)])
    return tx.rename(columns=str.lower)


def _all_known(tx: pd.DataFrame) -> pd.DataFrame:
    frauds = tx[tx["tx_fraud"] == 1]
    return pd.DataFrame({"transaction_id": frauds["transaction_id"], "label": 1, "known_at": pd.Timestamp.min})


def test_reference_split_reproduces_the_published_counts(published):
    features = published[["transaction_id", "tx_datetime", "customer_id", "tx_amount"]]
    out = build(features, _all_known(published), Split(pd.Timestamp("2018-07-25").date()))
    train, test = out[out["split"] == "train"], out[out["split"] == "test"]
    assert (len(train), int(train["label"].sum())) == (67_240, 598)
    assert (len(test), int(test["label"].sum())) == (58_264, 385)
    assert train["tx_datetime"].min() >= pd.Timestamp("2018-07-25")
    assert train["tx_datetime"].max() < pd.Timestamp("2018-08-01")
    assert test["tx_datetime"].min() >= pd.Timestamp("2018-08-08")
    assert test["tx_datetime"].max() < pd.Timestamp("2018-08-15")


def test_labels_reported_after_the_cutoff_are_not_used_for_training(published):
    features = published[["transaction_id", "tx_datetime", "customer_id", "tx_amount"]]
    labels = _all_known(published)
    split = Split(pd.Timestamp("2018-07-25").date())
    # Half the training window's frauds are reported only when the model is trained (too late).
    in_train = published["tx_datetime"].between("2018-07-25", "2018-08-01", inclusive="left")
    late_ids = published.loc[(published["tx_fraud"] == 1) & in_train, "transaction_id"].iloc[::2]
    late = labels["transaction_id"].isin(late_ids)
    labels.loc[late, "known_at"] = split.cutoff
    out = build(features, labels, split)
    train = out[out["split"] == "train"]
    assert int(late.sum()) == 299
    assert int(train["label"].sum()) == 598 - 299
    assert not train.loc[train["transaction_id"].isin(labels.loc[late, "transaction_id"]), "label"].any()
