"""The platform's health as main and the registry hold it (`mlplatform status`): what is published up to which
day, the champion and since when, the latest drift and performance, and the branches failed runs left."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mlplatform.features.definitions import FRAUD
from mlplatform.lake import MAIN, Lake
from mlplatform.lake.tables import read_table, stored_partitions, table_path
from mlplatform.lake.wap import RUN_PREFIX
from mlplatform.monitoring import PSI_THRESHOLD, SETTLED, drifted, largest_drift
from mlplatform.tracking import ModelRecord, Tracking, champion_record


@dataclass(frozen=True)
class Published:
    asset: str
    partitions: int  # 0 for an unpartitioned asset
    last: str  # the newest partition ("" unpartitioned)


@dataclass(frozen=True)
class Status:
    published: list[Published]
    champion: ModelRecord | None
    drift: dict[str, object] | None  # the newest feature_drift day: max PSI, features over the threshold
    performance: dict[str, object] | None  # the newest model_performance day with settled labels (or a known fraud)
    kept_branches: list[tuple[str, float]]  # run branches (kept by failed runs) and their heads' times


def published_assets(lake: Lake, ref: str = MAIN) -> list[Published]:
    found: dict[str, list[str]] = {}
    for path in lake.list(ref, "tables/"):
        if not path.endswith("/data.parquet"):
            continue
        folder = path[len("tables/") : -len("/data.parquet")]
        asset, _, partition = folder.partition("/date=")
        found.setdefault(asset, [])
        if partition:
            found[asset].append(partition)
    return [Published(a, len(p), max(p, default="")) for a, p in sorted(found.items())]


def _newest(lake: Lake, asset: str, published: list[Published]) -> tuple[str, pd.DataFrame] | None:
    entry = next((p for p in published if p.asset == asset and p.last), None)
    return (entry.last, read_table(lake, MAIN, table_path([asset], entry.last))) if entry else None


def current_status(lake: Lake, tracking: Tracking) -> Status:
    published = published_assets(lake)
    champion = champion_record(tracking)
    drift = None
    if newest := _newest(lake, "feature_drift", published):
        day, frame = newest
        largest, feature = largest_drift(frame, FRAUD)
        drift = {"day": day, "max_psi": largest, "max_feature": feature, "over": drifted(frame, FRAUD, PSI_THRESHOLD)}
    performance = None
    # The newest day whose labels are (nearly) all in; failing that, the newest with a known fraud (the last days'
    # figures rest on the few chargebacks reported yet).
    for day in reversed(stored_partitions(lake, MAIN, ["model_performance"])):
        rows = read_table(lake, MAIN, table_path(["model_performance"], day))
        batch = rows[(rows["scores"] == "batch") & (rows["frauds_known"] > 0)]
        if batch.empty:
            continue
        row = {k: batch[k].iloc[0] for k in batch.columns}
        performance = performance or row
        if float(row["labels_missing_estimate"]) <= SETTLED:
            performance = row
            break
    kept = [
        (name, lake.get_commit(head).created)
        for name, head in sorted(lake.branches().items())
        if name.startswith(RUN_PREFIX)
    ]
    return Status(published, champion, drift, performance, kept)
