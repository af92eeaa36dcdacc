"""Reading each raw source for one day and validating it into accepted and quarantined rows."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mlplatform.lake import Lake
from mlplatform.lake.tables import SOURCE_FILES
from mlplatform.scoring_log import DATASET as SCORING_LOGS
from mlplatform.scoring_log import FEATURE_NAMES
from mlplatform.sources.landing import LandingZone
from mlplatform.sources.validation import Field, RecordChecker, Validated, read_ndjson

# Values a transaction may take, wherever it enters (ingestion, the scoring service).
MAX_AMOUNT = 1e9
EARLIEST, LATEST = pd.Timestamp("2000-01-01"), pd.Timestamp("2100-01-01")

AMOUNT = (0.0, MAX_AMOUNT)
TIME = (EARLIEST, LATEST)

TRANSACTION_FIELDS = [
    Field("transaction_id", "int"),
    Field("tx_datetime", "datetime", *TIME),
    Field("customer_id", "int"),
    Field("terminal_id", "int"),
    Field("tx_amount", "float", *AMOUNT),
]
CUSTOMER_FIELDS = [
    Field("customer_id", "int"),
    Field("x", "float"),
    Field("y", "float"),
    Field("mean_amount", "float", *AMOUNT),
    Field("std_amount", "float", *AMOUNT),
    Field("mean_nb_tx_per_day", "float", 0.0),
    Field("name", "str"),
    Field("email", "str"),
    Field("card_number", "str"),
]
TERMINAL_FIELDS = [Field("terminal_id", "int"), Field("x", "float"), Field("y", "float")]
FRAUD_REPORT_FIELDS = [
    Field("report_id", "str"),
    Field("transaction_id", "int"),
    Field("customer_id", "int"),
    Field("tx_datetime", "datetime", *TIME),
    Field("reported_at", "datetime", *TIME),
]
SCORING_LOG_FIELDS = [
    Field("request_id", "str"),
    Field("received_at", "datetime"),
    Field("transaction_id", "int"),
    Field("tx_datetime", "datetime", *TIME),
    Field("customer_id", "int"),
    Field("terminal_id", "int"),
    Field("tx_amount", "float", *AMOUNT),
    Field("features", "json"),
    Field("score", "float", 0.0, 1.0),
    Field("model_version", "str"),
    Field("latency_ms", "float", 0.0),
]


def day_window(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day)
    return start, start + pd.Timedelta(days=1)


def ingest_transactions(
    zone: LandingZone,
    day: str,
    customers: np.ndarray | pd.Series,
    terminals: np.ndarray | pd.Series,
    published: pd.Series | None = None,
) -> Validated:
    """The landed transactions of `day`, checked against the known customers and terminals and against the
    ids already published (`published`: transaction id -> the day that holds it)."""
    files = [(key, zone.get(key)) for key in zone.day_files(day)]
    check = RecordChecker.from_ndjson(files, TRANSACTION_FIELDS)
    frame = check.frame
    start, end = day_window(day)
    check.require((frame["tx_datetime"] >= start) & (frame["tx_datetime"] < end), f"timestamp outside partition {day}")
    check.require(frame["customer_id"].isin(customers), "unknown customer_id")
    check.require(frame["terminal_id"].isin(terminals), "unknown terminal_id")
    if published is not None and len(published):
        earlier = frame["transaction_id"].map(published)
        check.require(earlier.isna(), "duplicate transaction_id: published on " + earlier.fillna("").astype(str))
    check.unique("transaction_id")
    result = check.result()
    # Kept with the partition: keys in the landing zone, so equal data gives equal bytes wherever the zone is.
    result.accepted.attrs[SOURCE_FILES] = [key for key, _ in files]
    return result


def published_ids(lake: Lake, ref: str, before: str) -> tuple[pd.Series, list[str]]:
    """Transaction id -> the day holding it, over every raw_transactions partition at `ref` before `before`;
    and the paths read."""
    parts, paths = [], []
    for path in lake.list(ref, "tables/raw_transactions/"):
        day = path.split("date=")[1][:10]
        if day < before:
            ids = pq.read_table(io.BytesIO(lake.get(ref, path)), columns=["transaction_id"]).column(0)
            parts.append(pd.Series(day, index=ids.to_numpy(), dtype=object))
            paths.append(path)
    return (pd.concat(parts) if parts else pd.Series(dtype=object)), paths


def ingest_scoring_logs(zone: LandingZone, day: str) -> Validated:
    """The service's scoring log of `day` (by transaction time): one row per scored request, its features a
    JSON object named by its file's header (files of the earlier layout, without one, name them on each line)."""
    files = [(key, zone.get(key)) for key in zone.day_files(day, SCORING_LOGS)]
    records, origins = [], []
    for key, data in files:
        parsed, where = read_ndjson(key, data)
        names = _feature_names(parsed[0]) if parsed else None
        if names is not None:
            parsed, where = [_named(record, names) for record in parsed[1:]], where[1:]
        records += parsed
        origins += where
    check = RecordChecker(records, SCORING_LOG_FIELDS, origins)
    frame = check.frame
    start, end = day_window(day)
    check.require((frame["tx_datetime"] >= start) & (frame["tx_datetime"] < end), f"timestamp outside partition {day}")
    check.unique("request_id")
    result = check.result()
    result.accepted.attrs[SOURCE_FILES] = [key for key, _ in files]
    return result


def _feature_names(record: Any) -> list[str] | None:
    """The names a scoring-log file's header gives its lines' features; None if `record` is not a header."""
    if not isinstance(record, dict) or set(record) != {FEATURE_NAMES}:
        return None
    names = record[FEATURE_NAMES]
    return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


def _named(record: Any, names: list[str]) -> Any:
    """The record with its features as an object of `names`; as it is if they are not an array of that length
    (which the checks then quarantine: features must be a JSON object)."""
    features = record.get("features") if isinstance(record, dict) else None
    if not isinstance(features, list) or len(features) != len(names):
        return record
    return {**record, "features": dict(zip(names, features, strict=True))}


def validate_rows(rows: pd.DataFrame, fields: list[Field], key: str) -> Validated:
    """Rows read from a database table: typed, with unique keys."""
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    check = RecordChecker(records, fields, ["source-db"] * len(records))
    check.unique(key)
    return check.result()


def validate_fraud_reports(records: list[dict[str, Any]], day: str) -> Validated:
    """Fraud reports received for `day` (by when they were reported)."""
    check = RecordChecker(records, FRAUD_REPORT_FIELDS, ["fraud-api"] * len(records))
    frame = check.frame
    start, end = day_window(day)
    check.require(
        (frame["reported_at"] >= start) & (frame["reported_at"] < end), f"reported_at outside partition {day}"
    )
    check.require(frame["reported_at"] >= frame["tx_datetime"], "reported before the transaction happened")
    check.unique("report_id")
    return check.result()
