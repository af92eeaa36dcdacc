"""Monitoring assets: each day's feature drift against the champion's training window, and each day's model
performance against the chargebacks known so far (re-materialize a day as its labels arrive)."""

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    Config,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from assets.metadata import image
from assets.partitions import DAILY
from mlplatform import curves, monitoring
from mlplatform.batch_scoring import NoChampion, champions_for
from mlplatform.features.definitions import FRAUD
from mlplatform.lake import Lake
from mlplatform.lake.tables import frames_hash, read_recent, read_table, stored_partitions, table_path
from mlplatform.lake.wap import open_run_branch
from mlplatform.training_sets import SPLIT_COLUMN
from resources import LakeResource, MlflowResource
from resources.io_manager import note_reads

DRIFT_TREND_DAYS = 30
PERFORMANCE_TREND_DAYS = 60


class DriftConfig(Config):
    psi_threshold: float = monitoring.PSI_THRESHOLD  # a feature over it is flagged (a warning, not a block)


def _step(context: AssetExecutionContext) -> str:
    return context.op_execution_context.node_handle.name


def _lake_at_run(context: AssetExecutionContext, lake: LakeResource) -> tuple[Lake, str]:
    store = lake.get()
    return store, store.resolve(open_run_branch(store, context.run_id))


@asset(
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    group_name="monitoring",
    ins={"transaction_features": AssetIn()},
    deps=[AssetDep("training_set", partition_mapping=AllPartitionMapping())],
    check_specs=[
        AssetCheckSpec(
            "psi_under_threshold",
            asset="feature_drift",
            blocking=False,
            description="Every feature's PSI against the champion's training window is under the threshold "
            "(a warning: drift is news, not bad data).",
        )
    ],
)
def feature_drift(
    context: AssetExecutionContext,
    config: DriftConfig,
    lake: LakeResource,
    mlflow: MlflowResource,
    transaction_features: dict[str, pd.DataFrame],
):
    """Per feature: the day's population stability index against the training window of the champion in force
    that day, and the shares of missing and out-of-range values."""
    days = sorted(transaction_features)
    try:
        champions = champions_for(mlflow.get(), days)
    except NoChampion as error:  # nothing to compare with yet
        raise Failure(str(error)) from error
    store, commit = _lake_at_run(context, lake)
    references: dict[str, pd.DataFrame] = {}
    frames: dict[str, pd.DataFrame] = {}
    over: dict[str, list[str]] = {}
    for day in days:
        week = champions[day].week
        if week not in references:
            path = table_path(["training_set"], week)
            note_reads(context.run_id, _step(context), [path])
            rows = read_table(store, commit, path)
            references[week] = rows[rows[SPLIT_COLUMN] == "train"]
        frames[day] = drift = monitoring.feature_drift(day, transaction_features[day], references[week], FRAUD)
        over[day] = monitoring.drifted(drift, FRAUD, config.psi_threshold)
    history = read_recent(store, commit, ["feature_drift"], days[0], DRIFT_TREND_DAYS)
    trend_rows = pd.concat([history, *frames.values()], ignore_index=True)
    for day, drift in frames.items():
        window = trend_rows[(trend_rows["day"] <= day) & (trend_rows["day"] > _minus(day, DRIFT_TREND_DAYS))]
        by_day = window.pivot_table(index="day", columns="feature", values="psi").max(axis=1).to_frame("max PSI")
        context.add_asset_metadata(
            {
                "champion_version": champions[day].version,
                "reference_week": champions[day].week,
                "max_psi": float(drift["psi"].max()),
                "features_over_threshold": ", ".join(over[day]) or "none",
                "not_flagged": ", ".join(monitoring.calendar_features(FRAUD)) + " (fixed by the day of the week)",
                "psi_chart": image("PSI", curves.bars(dict(zip(drift["feature"], drift["psi"], strict=True)),
                                                       config.psi_threshold, f"PSI per feature, {day}")),
                "psi_trend": image("PSI trend", curves.trend(by_day, f"max PSI, {DRIFT_TREND_DAYS} days to {day}",
                                                              config.psi_threshold)),
            },
            partition_key=day,
        )  # fmt: skip
    yield Output(frames, data_version=DataVersion(frames_hash(frames)))
    flagged = {day: features for day, features in over.items() if features}
    yield AssetCheckResult(
        check_name="psi_under_threshold",
        passed=not flagged,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "threshold": config.psi_threshold,
            "days_flagged": len(flagged),
            "flagged": MetadataValue.json(flagged),
        },
    )


def _minus(day: str, days: int) -> str:
    return str((pd.Timestamp(day) - pd.Timedelta(days=days)).date())


@asset(
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    group_name="monitoring",
    ins={"batch_predictions": AssetIn()},
    deps=[
        AssetDep("raw_fraud_reports", partition_mapping=AllPartitionMapping()),
        AssetDep("raw_scoring_logs", partition_mapping=AllPartitionMapping()),
    ],
)
def model_performance(context: AssetExecutionContext, lake: LakeResource, batch_predictions: dict[str, pd.DataFrame]):
    """AUC ROC, average precision and card precision@100 of the day's batch predictions (and of the scores the
    service served, when its log has the day) against every chargeback known so far, with an estimate of the
    share of the day's labels still missing."""
    store, commit = _lake_at_run(context, lake)
    reports, paths, newest = monitoring.known_reports(store, commit)
    note_reads(context.run_id, _step(context), paths)
    served_days = set(stored_partitions(store, commit, ["raw_scoring_logs"]))
    frames: dict[str, pd.DataFrame] = {}
    for day, predictions in sorted(batch_predictions.items()):
        rows = [monitoring.performance(day, predictions, reports, newest, "batch")]
        if day in served_days:
            path = table_path(["raw_scoring_logs"], day)
            note_reads(context.run_id, _step(context), [path])
            served = read_table(store, commit, path).drop_duplicates("transaction_id", keep="last")
            if not served.empty:  # a day the service scored nothing has an empty log
                rows.append(monitoring.performance(day, served, reports, newest, "served"))
        frames[day] = pd.DataFrame(rows, columns=monitoring.PERFORMANCE_COLUMNS)
    history = read_recent(store, commit, ["model_performance"], min(frames), PERFORMANCE_TREND_DAYS)
    all_rows = pd.concat([history, *frames.values()], ignore_index=True)
    batch = all_rows[all_rows["scores"] == "batch"].set_index("day").sort_index()
    for day, frame in frames.items():
        row = frame.iloc[0]
        window = batch.loc[(batch.index <= day) & (batch.index > _minus(day, PERFORMANCE_TREND_DAYS))]
        metrics = window[["auc_roc", "average_precision", "card_precision_at_100"]].astype("float64")
        context.add_asset_metadata(
            {
                "model_versions": str(row["model_versions"]),
                "frauds_known": int(row["frauds_known"]),
                "auc_roc": float(row["auc_roc"]),
                "average_precision": float(row["average_precision"]),
                "card_precision_at_100": float(row["card_precision_at_100"]),
                "reports_through": str(row["reports_through"]),
                "labels_missing_estimate": float(row["labels_missing_estimate"]),
                "served_scores": "served" in set(frame["scores"]),
                "trend": image("performance", curves.trend(metrics, f"batch scores, {PERFORMANCE_TREND_DAYS} days "
                                                                     f"to {day}")),
            },
            partition_key=day,
        )  # fmt: skip
    yield Output(frames, data_version=DataVersion(frames_hash(frames)))
