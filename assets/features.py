"""Feature assets: computed daily from the same definitions as every other engine."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    DataVersion,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)

from assets.partitions import DAILY, WITH_HISTORY
from assets.quality_checks import contract_result, contract_spec
from mlplatform.features import engines
from mlplatform.features.definitions import FRAUD
from mlplatform.features.events import build_events, split_days
from mlplatform.lake.tables import frames_hash

FEATURE_SCHEMA = TableSchema(
    columns=[
        TableColumn("transaction_id", "int64", description="Key: the transaction."),
        TableColumn("tx_datetime", "datetime64[ns]", description="When the transaction happened."),
        TableColumn("customer_id", "int64", description="Entity key: the card."),
        TableColumn("terminal_id", "int64", description="Entity key: the terminal."),
        *[
            TableColumn(f.name, f.dtype, description=f"{f.description} [{f.entity}; reference: {f.reference_name}]")
            for f in FRAUD.features
        ],
    ]
)


@asset(
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    group_name="features",
    ins={
        "raw_transactions": AssetIn(partition_mapping=WITH_HISTORY),
        "raw_fraud_reports": AssetIn(partition_mapping=WITH_HISTORY),
    },
    metadata={"dagster/column_schema": FEATURE_SCHEMA, "feature_set": FRAUD.name},
    check_specs=[contract_spec("transaction_features")],
)
def transaction_features(
    context: AssetExecutionContext,
    raw_transactions: dict[str, pd.DataFrame],
    raw_fraud_reports: dict[str, pd.DataFrame],
):
    """The platform's fraud features (FRAUD: the 15 reference ones and the amount ratios) of every transaction of
    the day (point-in-time correct)."""
    events = build_events(list(raw_transactions.values()), list(raw_fraud_reports.values()), FRAUD.label_delay)
    first_day = pd.Timestamp(context.partition_keys[0])
    computed = engines.compute(events, FRAUD, since=first_day)
    frames = split_days(computed, list(context.partition_keys))
    history = sorted(raw_transactions)
    yield Output(
        frames,
        data_version=DataVersion(frames_hash(frames)),
        metadata={"history_read": MetadataValue.text(f"{history[0]}..{history[-1]} ({len(history)} days)")},
    )
    yield contract_result("transaction_features", frames, fresh_at=context.partition_time_window.end)
