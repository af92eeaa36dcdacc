"""Point-in-time (as-of) join: each spine row gets, per feature view, the latest values of its entity
at or before the row's timestamp, never after; every spine row is kept exactly once.

A view is unique on (entity, timestamp). DuckDB's ASOF LEFT JOIN does the work in one pass per view.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from mlplatform.duck import connect


@dataclass(frozen=True)
class FeatureView:
    name: str
    source: pd.DataFrame | str  # a DataFrame, or a SQL relation such as read_parquet('...')
    entity: str  # key column, present in the spine too
    timestamp: str
    features: tuple[str, ...]


def _relation(con: duckdb.DuckDBPyConnection, name: str, source: pd.DataFrame | str) -> str:
    if isinstance(source, pd.DataFrame):
        con.register(name, source)
        return name
    return source


def asof_sql(spine: str, spine_time: str, views: list[tuple[FeatureView, str]]) -> str:
    columns = ["s.*"]
    joins = []
    for i, (view, relation) in enumerate(views):
        alias = f"v{i}"
        columns += [f"{alias}.{f} as {view.name}__{f}" for f in view.features]
        joins.append(
            f"asof left join {relation} {alias} "
            f"on s.{view.entity} = {alias}.{view.entity} and s.{spine_time} >= {alias}.{view.timestamp}"
        )
    joined = "\n".join(joins)
    # Row numbers restore the spine's order, which the joins do not keep.
    return f"""
select * exclude (_spine_row) from (
  select {", ".join(columns)} from (select *, row_number() over () as _spine_row from {spine}) s
  {joined}
) order by _spine_row
"""


def point_in_time_join(
    spine: pd.DataFrame | str,
    timestamp: str,
    views: list[FeatureView],
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """The spine (in its order) with `<view>__<feature>` columns; null where no earlier value exists."""
    own = con is None
    con = con or connect()
    try:
        spine_rel = _relation(con, "spine_input", spine)
        rels = [(v, _relation(con, f"view_input_{i}", v.source)) for i, v in enumerate(views)]
        return con.execute(asof_sql(spine_rel, timestamp, rels)).df()
    finally:
        if own:
            con.close()
