"""Batch predictions: every transaction of a day scored by the champion in force that day."""

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    DataVersion,
    Failure,
    Output,
    asset,
)

from assets.partitions import DAILY
from assets.quality_checks import contract_result, contract_spec
from mlplatform.batch_scoring import NoChampion, score_days
from mlplatform.lake.tables import frames_hash
from resources import MlflowResource


@asset(
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    group_name="predictions",
    ins={"transaction_features": AssetIn()},
    deps=[AssetDep("fraud_model", partition_mapping=AllPartitionMapping())],
    check_specs=[contract_spec("batch_predictions")],
)
def batch_predictions(
    context: AssetExecutionContext, mlflow: MlflowResource, transaction_features: dict[str, pd.DataFrame]
):
    """Fraud score of every transaction of the day by the champion in force that day."""
    commits = {frame.attrs.get("lake_commit", "") for frame in transaction_features.values()}
    try:
        frames, chosen = score_days(mlflow.get(), transaction_features, ",".join(sorted(commits)))
    except NoChampion as error:
        raise Failure(str(error)) from error
    for day, record in chosen.items():
        context.add_asset_metadata(
            {"model_version": record.version, "model_week": record.week, "champion_from": record.champion_from},
            partition_key=day,
        )
    yield Output(frames, data_version=DataVersion(frames_hash(frames)))
    yield contract_result("batch_predictions", frames, fresh_at=None)
