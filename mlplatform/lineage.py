"""Lineage of one prediction: prediction -> model version -> training-set commit -> raw partitions -> files."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import pyarrow.parquet as pq

from mlplatform.lake import MAIN, Lake
from mlplatform.lake.tables import read_table, source_files, table_path
from mlplatform.sources.landing import LandingZone
from mlplatform.tracking import ModelRecord, Tracking, version
from mlplatform.training_sets import Split

PREDICTIONS = "batch_predictions"


@dataclass(frozen=True)
class RawPartition:
    asset: str
    day: str
    rows: int
    source_files: list[str]


@dataclass(frozen=True)
class Lineage:
    transaction_id: int
    day: str
    score: float
    ref_commit: str  # the commit of `ref` the prediction was read at
    features_commit: str
    scored_partition: RawPartition  # where the scored transaction itself came from
    model: ModelRecord
    training_set_path: str
    training_set_rows: int
    raw: list[RawPartition]  # what the training set was built from, at its commit


class NotPredicted(LookupError):
    pass


def _raw(lake: Lake, commit: str, asset: str, day: str, landing: LandingZone | None) -> RawPartition:
    path = table_path([asset], day)
    rows = pq.read_metadata(io.BytesIO(lake.get(commit, path))).num_rows
    keys = source_files(lake, commit, path)  # landing-zone keys, recorded at ingestion
    return RawPartition(asset, day, rows, [landing.location(k) for k in keys] if landing else keys)


def find_prediction(lake: Lake, ref: str, transaction_id: int) -> tuple[str, dict]:
    """The day and row of a transaction's prediction (one Parquet object per day is scanned)."""
    for path in sorted(lake.list(ref, f"tables/{PREDICTIONS}/"), reverse=True):
        table = pq.read_table(io.BytesIO(lake.get(ref, path)), filters=[("transaction_id", "=", transaction_id)])
        if table.num_rows:
            day = path.split("date=")[1].split("/")[0]
            return day, table.to_pylist()[0]
    raise NotPredicted(f"transaction {transaction_id} has no prediction in {PREDICTIONS} on {ref}")


def trace(
    lake: Lake, tracking: Tracking, transaction_id: int, ref: str = MAIN, landing: LandingZone | None = None
) -> Lineage:
    """The chain of one prediction; with `landing`, source files are shown where they lie in it."""
    commit = lake.resolve(ref)
    day, row = find_prediction(lake, commit, transaction_id)
    model = version(tracking, str(row["model_version"]))
    path = table_path(["training_set"], model.week)
    training_rows = len(read_table(lake, model.training_set_commit, path))
    split = Split(date.fromisoformat(model.week))
    raw = [_raw(lake, model.training_set_commit, "raw_transactions", d, landing) for d in split.feature_days]
    raw += [_raw(lake, model.training_set_commit, "raw_fraud_reports", d, landing) for d in split.report_days]
    return Lineage(
        transaction_id=transaction_id,
        day=day,
        score=float(row["score"]),
        ref_commit=commit,
        features_commit=str(row["features_commit"]),
        scored_partition=_raw(lake, commit, "raw_transactions", day, landing),
        model=model,
        training_set_path=path,
        training_set_rows=training_rows,
        raw=raw,
    )


def _files(partition: RawPartition) -> str:
    files = partition.source_files
    if not files:
        return "no source files recorded (an API or database source)"
    return files[0] + (f" (+{len(files) - 1} more)" if len(files) > 1 else "")


def describe(lineage: Lineage) -> list[str]:
    """The chain as printable lines, most recent first."""
    m = lineage.model
    lines = [
        f"prediction    transaction {lineage.transaction_id} on {lineage.day}: score {lineage.score:.6f}"
        f" ({PREDICTIONS} at commit {lineage.ref_commit})",
        f"  scored from raw_transactions date={lineage.day} ({lineage.scored_partition.rows:,} rows) <- "
        + _files(lineage.scored_partition),
        f"  features read at commit {lineage.features_commit}",
        f"model         fraud_detector v{m.version} (MLflow run {m.run_id}); trained on week {m.week},"
        f" data before {m.cutoff}; champion from {m.champion_from}",
        f"training set  {lineage.training_set_path} at commit {m.training_set_commit}"
        f" ({lineage.training_set_rows:,} rows)",
        "raw partitions at that commit:",
    ]
    lines += [f"  {p.asset} date={p.day} ({p.rows:,} rows) <- {_files(p)}" for p in lineage.raw]
    return lines
