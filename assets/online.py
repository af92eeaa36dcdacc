"""Online features: what the online store needs from each day, proven equal to the offline features."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    DataVersion,
    MetadataValue,
    Output,
    asset,
)

from assets.partitions import DAILY, WITH_HISTORY
from mlplatform.features import parity
from mlplatform.features.definitions import FRAUD
from mlplatform.lake.tables import frames_hash
from mlplatform.online_sync import ASSET, online_rows

SHOWN = 20  # transaction ids listed in the check's metadata


@asset(
    name=ASSET,
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    io_manager_key="lake_io_manager",
    group_name="online",
    ins={
        "raw_transactions": AssetIn(partition_mapping=WITH_HISTORY),
        "raw_fraud_reports": AssetIn(partition_mapping=WITH_HISTORY),
        "transaction_features": AssetIn(),
    },
    check_specs=[
        AssetCheckSpec(
            "parity",
            asset=ASSET,
            blocking=True,
            description="The day replayed through the online engine gives the offline features of every transaction "
            "(within 1e-9; same-second ties counted apart).",
        )
    ],
)
def online_features(
    context: AssetExecutionContext,
    raw_transactions: dict[str, pd.DataFrame],
    raw_fraud_reports: dict[str, pd.DataFrame],
    transaction_features: dict[str, pd.DataFrame],
):
    """The online store's changes of the day: its transactions, and those flagged fraud by that day's chargebacks."""
    delay = FRAUD.label_delay
    frames = {}
    for day in context.partition_keys:
        recent = [d for d in raw_transactions if pd.Timestamp(day) - delay <= pd.Timestamp(d) <= pd.Timestamp(day)]
        frames[day] = online_rows(day, pd.concat([raw_transactions[d] for d in recent]), raw_fraud_reports[day], delay)
    yield Output(frames, data_version=DataVersion(frames_hash(frames)))

    days = parity.check(FRAUD, raw_transactions, raw_fraud_reports, transaction_features)
    ties = [t for d in days for t in d.tie_rows]
    mismatched = [t for d in days for t in d.mismatched_rows]
    worst = {name: min(d.matched[name] for d in days) for name in FRAUD.names}
    table = "| feature | exact matches (worst day) |\n|---|---|\n" + "\n".join(
        f"| {name} | {share:.4%} |" for name, share in worst.items()
    )
    yield AssetCheckResult(
        asset_key=ASSET,
        check_name="parity",
        passed=not mismatched,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows": sum(d.rows for d in days),
            "matches": MetadataValue.md(table),
            "tie_rows": len(ties),
            "tie_transactions": ties[:SHOWN],
            "mismatched_rows": len(mismatched),
            "mismatched_transactions": mismatched[:SHOWN],
        },
    )
