"""The Spark engine: the same FeatureSet compiled to PySpark window specifications.

Frames use integer microseconds exactly as the DuckDB engine does, so both engines agree value for
value; `local[*]` here, any master URL (MLPLATFORM_SPARK_MASTER) in production.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mlplatform.features.definitions import (
    EVENT_ID,
    EVENT_TIME,
    LABEL,
    FeatureSet,
    RatioFeature,
    RequestFeature,
    WindowFeature,
)

US = 1_000_000
EXACT = "decimal(18,6)"


def session(master: str | None = None, app_name: str = "mlplatform-features") -> SparkSession:
    """A Spark session in UTC with the UI and network-facing extras off."""
    return (
        SparkSession.builder.master(master or os.environ.get("MLPLATFORM_SPARK_MASTER", "local[*]"))
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", os.environ.get("MLPLATFORM_SPARK_DRIVER_MEMORY", "6g"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Pandas writes nanosecond timestamps, which Spark reads as longs with this flag.
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )


def _us(delta: timedelta) -> int:
    return int(delta.total_seconds() * US)


def _request(f: RequestFeature) -> Column:
    if f.transform == "identity":
        return F.col(f.column)
    if f.transform == "is_weekend":  # Spark: Sunday = 1, Saturday = 7
        return F.dayofweek(F.col(f.column)).isin(1, 7).cast("long")
    if f.transform == "is_night":
        return (F.hour(F.col(f.column)) <= 6).cast("long")
    raise ValueError(f"unknown transform {f.transform!r}")


def _window(f: WindowFeature) -> Column:
    frame = Window.partitionBy(f.entity).orderBy("_t").rangeBetween(-(_us(f.window + f.delay) - 1), -_us(f.delay))
    if f.aggregation == "count":
        return F.count(F.lit(1)).over(frame)
    if f.aggregation == "mean":  # as the DuckDB engine: exact decimal sum, then one double division
        total = F.sum(F.col(f.column).cast(EXACT)).over(frame).cast("double")
        count = F.count(F.lit(1)).over(frame).cast("double")
        return F.coalesce(total / F.when(count > 0, count), F.lit(0.0))  # an empty (delayed) window: 0
    if f.aggregation == "label_rate":
        total = F.count(F.lit(1)).over(frame)
        return F.coalesce(F.sum(F.col(LABEL)).over(frame) / F.when(total > 0, total), F.lit(0.0))
    raise ValueError(f"unknown aggregation {f.aggregation!r}")


def compute(events: DataFrame, features: FeatureSet) -> DataFrame:
    """Features of every event of a Spark DataFrame with the event relation's columns."""
    events = events.withColumn("_t", F.unix_micros(F.col(EVENT_TIME)))
    columns = [
        (_request(f) if isinstance(f, RequestFeature) else _window(f)).alias(f.name)
        for f in features.features
        if not isinstance(f, RatioFeature)
    ]
    computed = events.select(EVENT_ID, EVENT_TIME, *features.entities, *columns)
    for f in features.features:
        if isinstance(f, RatioFeature):  # as DuckDB's: the default where the denominator is 0
            ratio = F.col(f.numerator).cast("double") / F.col(f.denominator).cast("double")
            computed = computed.withColumn(f.name, F.when(F.col(f.denominator) == 0, F.lit(f.default)).otherwise(ratio))
    return computed.select(EVENT_ID, EVENT_TIME, *features.entities, *features.names)


def read_events(spark: SparkSession, input_path: Path, labels_path: Path | None) -> DataFrame:
    """The event relation from a file in the published schema (nanosecond timestamps read as longs)."""
    tx = spark.read.parquet(str(input_path))
    when = F.col("TX_DATETIME")
    if dict(tx.dtypes)["TX_DATETIME"] in ("bigint", "long"):
        when = F.timestamp_micros(F.expr("TX_DATETIME div 1000"))
    events = tx.select(
        F.col("TRANSACTION_ID").alias(EVENT_ID),
        when.cast("timestamp").alias(EVENT_TIME),
        F.col("CUSTOMER_ID").alias("customer_id"),
        F.col("TERMINAL_ID").alias("terminal_id"),
        F.col("TX_AMOUNT").alias("tx_amount"),
        *([] if labels_path else [F.col("TX_FRAUD").alias(LABEL)]),
    )
    if labels_path:
        labels = spark.read.parquet(str(labels_path)).select(
            F.col("TRANSACTION_ID").alias(EVENT_ID), F.col("TX_FRAUD").alias(LABEL)
        )
        events = events.join(labels, EVENT_ID, "left").fillna({LABEL: 0})
    return events


def compute_file(input_path: Path, output_path: Path, labels_path: Path | None, features: FeatureSet) -> int:
    spark = session()
    spark.sparkContext.setLogLevel("ERROR")
    computed = compute(read_events(spark, input_path, labels_path), features)
    out = computed.select(
        F.col(EVENT_ID).alias("TRANSACTION_ID"),
        *[F.col(f.name).alias(f.reference_name) for f in features.features if f.name != "tx_amount"],
    ).orderBy("TRANSACTION_ID")
    table = pa.Table.from_pandas(out.toPandas(), preserve_index=False)
    pq.write_table(table, output_path, compression="zstd")
    return table.num_rows
