"""Models: a torch model per training week, registered in MLflow and promoted only by a blocking check."""

import hashlib

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    Config,
    DataVersion,
    Output,
    asset,
)

from assets.metadata import image
from assets.partitions import TRAINING_WEEKS
from mlplatform.code_version import code_version
from mlplatform.lake.tables import frames_hash, table_path
from mlplatform.models import BINS, CLASS_WEIGHT, FEATURES, HIDDEN, LEARNING_RATE, MAX_EPOCHS
from mlplatform.promotion import PromotionPolicy
from mlplatform.weekly_training import TrainingOptions, train_week
from resources import LakeResource, MlflowResource

ASSET = "fraud_model"


class ModelConfig(Config):
    # Config is a pydantic model, which copies list defaults per instance.
    seed: int = 0
    features: list[str] = list(FEATURES)  # noqa: RUF012  (a subset of the platform's features)
    hidden: list[int] = list(HIDDEN)  # noqa: RUF012
    max_epochs: int = MAX_EPOCHS
    learning_rate: float = LEARNING_RATE
    bins: int = BINS  # piecewise-linear encoding of each feature (0: off)
    class_weight: bool = CLASS_WEIGHT  # frauds weighted up in the loss by the classes' ratio
    promotion_metric: str = "average_precision"  # auc_roc | average_precision | card_precision_at_100
    promotion_margin: float = 0.0  # the challenger must reach champion + margin ...
    baseline_margin: float = 0.0  # ... and the logistic baseline + this


@asset(
    partitions_def=TRAINING_WEEKS,
    backfill_policy=BackfillPolicy.multi_run(1),  # each week is its own run: a refusal blocks only that week
    io_manager_key="lake_io_manager",
    group_name="models",
    ins={"training_set": AssetIn()},
    check_specs=[
        AssetCheckSpec(
            "promotion",
            asset="fraud_model",
            blocking=True,
            description="The challenger beats the champion and the baseline on its test window; only then is it "
            "champion.",
        )
    ],
)
def fraud_model(
    context: AssetExecutionContext,
    config: ModelConfig,
    lake: LakeResource,
    mlflow: MlflowResource,
    training_set: dict[str, pd.DataFrame],
):
    """The week's torch model (and logistic baseline), registered in MLflow as challenger."""
    week = context.partition_key
    rows = training_set[week]
    commit = rows.attrs.get("lake_commit", "")
    path = table_path(["training_set"], week)
    digest = hashlib.sha256(lake.get().get(commit, path)).hexdigest()  # the stored Parquet's, as the IO manager's
    result = train_week(
        mlflow.get(),
        rows,
        week,
        TrainingOptions(
            config.seed,
            tuple(config.features),
            tuple(config.hidden),
            config.max_epochs,
            config.learning_rate,
            config.bins,
            config.class_weight,
        ),
        PromotionPolicy(config.promotion_metric, config.promotion_margin, config.baseline_margin),
        (lake.get().uri(commit, path), commit, digest),
        {"dagster_run_id": context.run_id, "dagster_partition": week, "code_version": code_version()},
    )
    card = result.card()
    record = result.record
    context.add_asset_metadata(
        {
            "model_version": record.version,
            "mlflow_run_id": record.run_id,
            "training_set_commit": commit,
            **{f"test_{k}": v for k, v in result.metrics.rounded().items()},
            "baseline_average_precision": round(result.baseline.average_precision, 3),
            "roc_curve": image("ROC", result.figures["roc.png"]),
            "precision_recall_curve": image("Precision-recall", result.figures["precision_recall.png"]),
        },
        partition_key=week,
    )
    yield Output({week: card}, data_version=DataVersion(frames_hash({week: card})))
    yield AssetCheckResult(
        asset_key="fraud_model",
        check_name="promotion",
        passed=result.decision.promote,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            **result.decision.as_metadata(),
            "challenger_version": record.version,
            "champion_version": result.champion.version if result.champion else "none",
            # Applied to the registry when the run is published.
            "champion_from": record.decision_day if result.decision.promote else "not promoted",
        },
    )
