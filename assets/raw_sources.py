"""Raw sources, one daily-partitioned asset each (plus its quarantine), with blocking ingestion checks."""

from collections import Counter
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    BackfillPolicy,
    Config,
    DataVersion,
    Output,
    multi_asset,
)

from assets.partitions import DAILY
from assets.quality_checks import contract_result, contract_spec
from mlplatform.lake.tables import frames_hash
from mlplatform.lake.wap import open_run_branch
from mlplatform.pii import pii_columns
from mlplatform.sources import ingest
from mlplatform.sources.source_db import CUSTOMERS, TERMINALS
from mlplatform.sources.validation import Validated
from resources import FraudApiResource, LakeResource, LandingZoneResource, SourceDatabaseResource
from resources.io_manager import note_reads

GROUP = "raw"
IO = "lake_io_manager"


class IngestConfig(Config):
    max_quarantine_rate: float = 0.05  # above this share of bad records, the run is not published


def _outs(name: str, description: str) -> dict[str, AssetOut]:
    return {
        name: AssetOut(description=description, io_manager_key=IO, group_name=GROUP),
        f"{name}_quarantine": AssetOut(
            description=f"Records rejected while ingesting {name}, each with the reason (same partitions).",
            io_manager_key=IO,
            group_name=GROUP,
        ),
    }


def _checks(name: str, pii_allowed: bool = False) -> list[AssetCheckSpec]:
    specs = [
        AssetCheckSpec(
            "quarantine_rate", asset=name, blocking=True, description="Share of bad records is below the limit."
        )
    ]
    if not pii_allowed:
        specs.append(
            AssetCheckSpec("no_pii", asset=name, blocking=True, description="No PII column leaves the source.")
        )
    return specs


def _emit(
    context: AssetExecutionContext, name: str, results: dict[str, Validated], limit: float, pii_allowed: bool = False
) -> Iterator:
    accepted = {day: v.accepted for day, v in results.items()}
    quarantined = {day: v.quarantined for day, v in results.items()}
    totals: Counter[str] = Counter()
    for v in results.values():
        totals.update(v.counts())
    reasons = Counter(r for v in results.values() for r in v.quarantined["reason"])
    counts = {"rows_in": totals["rows_in"], "accepted": totals["accepted"], "quarantined": totals["quarantined"]}
    # Before the outputs: metadata added later would not reach their materializations.
    for day, v in results.items():
        context.add_asset_metadata(v.counts(), asset_key=name, partition_key=day)
        context.add_asset_metadata(
            {"quarantined": len(v.quarantined)}, asset_key=f"{name}_quarantine", partition_key=day
        )
    yield Output(accepted, output_name=name, data_version=DataVersion(frames_hash(accepted)))
    yield Output(
        quarantined,
        output_name=f"{name}_quarantine",
        data_version=DataVersion(frames_hash(quarantined)),
        metadata={"reasons": dict(reasons)},
    )
    rate = counts["quarantined"] / counts["rows_in"] if counts["rows_in"] else 0.0
    yield AssetCheckResult(
        asset_key=name,
        check_name="quarantine_rate",
        passed=rate <= limit,
        severity=AssetCheckSeverity.ERROR,
        metadata={"quarantine_rate": rate, "limit": limit, **counts},
    )
    if not pii_allowed:
        found = sorted({c for frame in accepted.values() for c in pii_columns(frame.columns)})
        yield AssetCheckResult(
            asset_key=name,
            check_name="no_pii",
            passed=not found,
            severity=AssetCheckSeverity.ERROR,
            metadata={"pii_columns": found},
        )


@multi_asset(
    outs=_outs("raw_customers", "Daily snapshot of the customers table of the source database (holds PII)."),
    check_specs=_checks("raw_customers", pii_allowed=True),
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_customers(context: AssetExecutionContext, config: IngestConfig, source_db: SourceDatabaseResource):
    """Daily snapshot of the customers table, validated."""
    snapshot = ingest.validate_rows(source_db.read(CUSTOMERS), ingest.CUSTOMER_FIELDS, "customer_id")
    yield from _emit(
        context,
        "raw_customers",
        dict.fromkeys(context.partition_keys, snapshot),
        config.max_quarantine_rate,
        pii_allowed=True,
    )


@multi_asset(
    outs=_outs("raw_terminals", "Daily snapshot of the terminals table of the source database."),
    check_specs=_checks("raw_terminals"),
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_terminals(context: AssetExecutionContext, config: IngestConfig, source_db: SourceDatabaseResource):
    """Daily snapshot of the terminals table, validated."""
    snapshot = ingest.validate_rows(source_db.read(TERMINALS), ingest.TERMINAL_FIELDS, "terminal_id")
    yield from _emit(
        context, "raw_terminals", dict.fromkeys(context.partition_keys, snapshot), config.max_quarantine_rate
    )


@multi_asset(
    outs=_outs("raw_transactions", "Card transactions of the day from the event stream's landing zone, validated."),
    ins={"raw_customers": AssetIn(), "raw_terminals": AssetIn()},
    check_specs=[*_checks("raw_transactions"), contract_spec("raw_transactions")],
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_transactions(
    context: AssetExecutionContext,
    config: IngestConfig,
    landing_zone: LandingZoneResource,
    lake: LakeResource,
    raw_customers: dict[str, pd.DataFrame],
    raw_terminals: dict[str, pd.DataFrame],
):
    """Card transactions landed for the day, checked against that day's customers and terminals and against
    every transaction published on an earlier day."""
    zone, store = landing_zone.get(), lake.get()
    days = list(context.partition_keys)
    published, read = ingest.published_ids(store, open_run_branch(store, context.run_id), days[0])
    # Published days read here count as inputs: publishing refuses the run if main changes them meanwhile.
    note_reads(context.run_id, context.op_execution_context.node_handle.name, read)
    results = {}
    for day in days:  # in order: a day's ids count as published for the days after it in this run
        results[day] = ingest.ingest_transactions(
            zone, day, raw_customers[day]["customer_id"], raw_terminals[day]["terminal_id"], published
        )
        ids = results[day].accepted["transaction_id"].to_numpy()
        published = pd.concat([published, pd.Series(day, index=ids, dtype=object)])
    yield from _emit(context, "raw_transactions", results, config.max_quarantine_rate)
    accepted = {day: v.accepted for day, v in results.items()}
    yield contract_result("raw_transactions", accepted, fresh_at=context.partition_time_window.end)


@multi_asset(
    outs=_outs("raw_fraud_reports", "Chargeback (confirmed fraud) reports received that day from the provider's API."),
    check_specs=[*_checks("raw_fraud_reports"), contract_spec("raw_fraud_reports")],
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_fraud_reports(context: AssetExecutionContext, config: IngestConfig, fraud_api: FraudApiResource):
    """Fraud reports by the day they were reported (labels are known only from then on)."""
    window = context.partition_time_window
    client = fraud_api.client()
    try:
        records = client.fetch(window.start.strftime("%Y-%m-%dT%H:%M:%S"), window.end.strftime("%Y-%m-%dT%H:%M:%S"))
    finally:
        client.close()
    by_day: dict[str, list] = {day: [] for day in context.partition_keys}
    for record in records:
        day = str(record.get("reported_at", ""))[:10] if isinstance(record, dict) else ""
        # A record outside every partition is kept with the first day, where validation quarantines it.
        by_day[day if day in by_day else context.partition_keys[0]].append(record)
    context.log.info(f"{len(records)} reports in {client.requests} requests")
    results = {day: ingest.validate_fraud_reports(recs, day) for day, recs in by_day.items()}
    yield from _emit(context, "raw_fraud_reports", results, config.max_quarantine_rate)
    yield contract_result("raw_fraud_reports", {day: v.accepted for day, v in results.items()}, fresh_at=None)


@multi_asset(
    outs=_outs("raw_scoring_logs", "What the scoring service answered: one row per scored request (its log)."),
    check_specs=_checks("raw_scoring_logs"),
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_scoring_logs(context: AssetExecutionContext, config: IngestConfig, landing_zone: LandingZoneResource):
    """Scored requests of the day (by transaction time): the transaction, its features, score, version, latency."""
    zone = landing_zone.get()
    results = {day: ingest.ingest_scoring_logs(zone, day) for day in context.partition_keys}
    yield from _emit(context, "raw_scoring_logs", results, config.max_quarantine_rate)


# The four kinds of source: an event stream (landing zone), a database, a third-party API and logs.
RAW_ASSETS = [raw_customers, raw_terminals, raw_transactions, raw_fraud_reports, raw_scoring_logs]
