"""Training sets: one per week, built from features and fraud reports as known at each cutoff."""

from datetime import date

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    DataVersion,
    Output,
    TimeWindowPartitionMapping,
    asset,
)

from assets.partitions import TRAINING_WEEKS
from assets.quality_checks import contract_result, contract_spec
from mlplatform.lake.tables import frames_hash
from mlplatform.training_sets import Split, build_week

_SPLIT = Split(date.fromisoformat(TRAINING_WEEKS.start.strftime("%Y-%m-%d")))  # every week has this shape
# A week reads features from its training start to its test end, and reports until its decision day.
FEATURE_WEEKS = TimeWindowPartitionMapping(start_offset=0, end_offset=-(-len(_SPLIT.feature_days) // 7) - 1)
REPORT_WEEKS = TimeWindowPartitionMapping(start_offset=0, end_offset=-(-len(_SPLIT.report_days) // 7) - 1)


def _commit(frames: dict[str, pd.DataFrame]) -> str:
    commits = {frame.attrs.get("lake_commit", "") for frame in frames.values()}
    return ",".join(sorted(commits))


@asset(
    partitions_def=TRAINING_WEEKS,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    group_name="training",
    ins={
        "transaction_features": AssetIn(partition_mapping=FEATURE_WEEKS),
        "raw_fraud_reports": AssetIn(partition_mapping=REPORT_WEEKS),
    },
    check_specs=[contract_spec("training_set")],
)
def training_set(
    context: AssetExecutionContext,
    transaction_features: dict[str, pd.DataFrame],
    raw_fraud_reports: dict[str, pd.DataFrame],
):
    """Training (7 days) and test (7 days, after a 7-day delay) rows of the week, labelled as known."""
    frames = {}
    for week in context.partition_keys:
        frames[week] = out = build_week(transaction_features, raw_fraud_reports, week)
        split = Split(date.fromisoformat(week))
        train, test = out[out["split"] == "train"], out[out["split"] == "test"]
        context.add_asset_metadata(
            {
                "train_rows": len(train),
                "train_frauds": int(train["label"].sum()),
                "test_rows": len(test),
                "test_frauds": int(test["label"].sum()),
                "windows": f"train {split.train_start}, test {split.test_start.date()}..{split.end.date()} (excl.)",
            },
            partition_key=week,
        )
    yield Output(
        frames,
        data_version=DataVersion(frames_hash(frames)),
        metadata={
            "input_commit/transaction_features": _commit(transaction_features),
            "input_commit/raw_fraud_reports": _commit(raw_fraud_reports),
        },
    )
    yield contract_result("training_set", frames, fresh_at=None, per_partition=True)
