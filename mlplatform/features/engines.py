"""The offline feature engines by name, and the one the platform computes with.

All three compile the same definitions and agree value for value: NumPy (the default: one sort per
entity, cumulative sums and binary search, several times faster than the others on one machine),
DuckDB (the same features as one SQL query) and Spark (the same SQL on a cluster, files only).
"""

from __future__ import annotations

from typing import Literal, get_args

import pandas as pd

from mlplatform.features.definitions import FeatureSet

Engine = Literal["numpy", "duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
DEFAULT: Engine = "numpy"


def compute(
    events: pd.DataFrame, features: FeatureSet, since: pd.Timestamp | None = None, engine: Engine = DEFAULT
) -> pd.DataFrame:
    """Features of every event (or of those at or after `since`, the rest serving as history), ordered by
    time then id: the event relation's id, time and entity keys, then one column per feature."""
    if engine == "numpy":
        from mlplatform.features import numpy_engine

        return numpy_engine.compute(events, features, since)
    if engine == "duckdb":
        from mlplatform.features import duckdb_engine

        return duckdb_engine.compute(events, features, since)
    raise ValueError(f"the {engine} engine computes files only (mlplatform.features.files.compute_file)")
