"""Moving data between the lake and the dbt project's DuckDB database for one run.

Raw partitions are loaded from a lake commit into `raw.<table>` with a `partition_date` column;
after `dbt build`, each model is exported back per partition_date.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlplatform.duck import connect
from mlplatform.lake import Lake
from mlplatform.lake.tables import read_table, table_path


def load_raw_partitions(lake: Lake, ref: str, tables: list[str], days: list[str], database: Path) -> dict[str, int]:
    """Creates raw.<table> in `database` from the lake partitions of `days` at `ref`; returns row counts."""
    con = connect(str(database))
    counts = {}
    try:
        con.execute("create schema if not exists raw")
        for table in tables:
            frames = [
                read_table(lake, ref, table_path([table], day)).assign(partition_date=pd.Timestamp(day).date())
                for day in days
            ]
            frame = pd.concat(frames, ignore_index=True)
            con.register("incoming", frame)
            con.execute(f"create or replace table raw.{table} as select * from incoming")
            con.unregister("incoming")
            counts[table] = len(frame)
    finally:
        con.close()
    return counts


def export_model(database: Path, model: str, days: list[str]) -> dict[str, pd.DataFrame]:
    """A built model's rows per day partition (partition_date dropped: the partition says it)."""
    con = connect(str(database))
    try:
        schema = con.execute(
            "select table_schema from information_schema.tables where table_name = ? and table_schema <> 'raw'", [model]
        ).fetchone()
        if schema is None:
            raise LookupError(f"dbt model {model!r} was not built in {database}")
        frame = con.execute(f'select * from "{schema[0]}"."{model}"').df()
    finally:
        con.close()
    stamp = pd.to_datetime(frame.pop("partition_date")).dt.strftime("%Y-%m-%d")
    # dbt returns rows in no set order: sorted by every column, a rerun on the same inputs writes the same bytes.
    ordered = frame.sort_values(list(frame.columns), kind="stable", na_position="last")
    return {day: ordered[stamp.loc[ordered.index] == day].reset_index(drop=True) for day in days}
