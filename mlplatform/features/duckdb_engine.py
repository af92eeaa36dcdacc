"""The DuckDB engine: a FeatureSet compiled to one SQL query with window functions.

Times are compared as integer microseconds, so "(t - w, t]" is the RANGE frame
`w - 1 PRECEDING AND CURRENT ROW` (peers at t included: time-based ties) and a delayed window
"(t - w - d, t - d]" is `w + d - 1 PRECEDING AND d PRECEDING`.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from mlplatform.duck import connect
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
EXACT = "decimal(18, 6)"  # amounts are summed exactly at micro-unit precision


def _us(delta: timedelta) -> int:
    return int(delta.total_seconds() * US)


def _request_sql(f: RequestFeature) -> str:
    if f.transform == "identity":
        return f"{f.column}"
    if f.transform == "is_weekend":  # DuckDB: Sunday = 0, Saturday = 6
        return f"cast(dayofweek({f.column}) in (0, 6) as bigint)"
    if f.transform == "is_night":
        return f"cast(hour({f.column}) <= 6 as bigint)"
    raise ValueError(f"unknown transform {f.transform!r}")


def _frame(f: WindowFeature) -> str:
    end = "current row" if not f.delay else f"{_us(f.delay)} preceding"
    return f"(partition by {f.entity} order by _t range between {_us(f.window + f.delay) - 1} preceding and {end})"


def _window_sql(f: WindowFeature) -> str:
    frame = _frame(f)
    if f.aggregation == "count":
        return f"count(*) over {frame}"
    if f.aggregation == "mean":
        # An exact decimal sum, then one division: the same bits whatever the frame's evaluation
        # order, so a day computed alone equals that day computed inside a longer range (and Spark).
        # An empty frame (a delayed window can be) has mean 0.
        total = f"cast(sum(cast({f.column} as {EXACT})) over {frame} as double)"
        return f"coalesce({total} / nullif(count(*) over {frame}, 0), 0.0)"
    if f.aggregation == "label_rate":
        return f"coalesce(sum({LABEL}) over {frame} / nullif(count(*) over {frame}, 0), 0.0)"
    raise ValueError(f"unknown aggregation {f.aggregation!r}")


def _ratio_sql(f: RatioFeature) -> str:
    return f"case when {f.denominator} = 0 then {f.default} else {f.numerator} / {f.denominator} end"


def feature_sql(features: FeatureSet, source: str, keep: str | None = None) -> str:
    """SQL computing `features` for every event of `source`; `keep` filters the rows returned."""
    columns = [
        f"{_request_sql(f) if isinstance(f, RequestFeature) else _window_sql(f)} as {f.name}"
        for f in features.features
        if not isinstance(f, RatioFeature)
    ]
    select = ",\n  ".join([EVENT_ID, EVENT_TIME, *features.entities, *columns])
    ratios = "".join(f", {_ratio_sql(f)} as {f.name}" for f in features.features if isinstance(f, RatioFeature))
    where = f"where {keep}" if keep else ""
    return f"""
with events as (select *, epoch_us({EVENT_TIME}) as _t from {source}),
computed as (select\n  {select}\nfrom events)
select {", ".join([EVENT_ID, EVENT_TIME, *features.entities, *features.names])}
from (select *{ratios} from computed) {where} order by {EVENT_TIME}, {EVENT_ID}
"""


def compute(
    events: pd.DataFrame,
    features: FeatureSet,
    since: pd.Timestamp | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """Features of every event (or of those at or after `since`, the rest serving as history)."""
    own = con is None
    con = con or connect()
    try:
        con.register("input_events", events)
        keep = f"{EVENT_TIME} >= timestamp '{pd.Timestamp(since)}'" if since is not None else None
        return con.execute(feature_sql(features, "input_events", keep)).df()
    finally:
        con.unregister("input_events")
        if own:
            con.close()
