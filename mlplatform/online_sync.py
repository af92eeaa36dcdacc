"""What the online store takes from each published day, and loading it there.

The `online_features` partition of a day holds the store's changes that day: the day's transactions,
and every transaction (of the label delay before) whose chargeback was reported that day within the
delay, flagged as fraud. Loading is idempotent (writes by transaction id, flags only set), so `sync`
can load any published day again, in any order, and converge; it runs when a run is published
(the write-audit-publish rule for side effects) and again on a schedule, to catch up after a failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from mlplatform.features.definitions import FeatureSet
from mlplatform.features.online import transactions
from mlplatform.lake import Lake
from mlplatform.lake.tables import from_parquet
from mlplatform.online_store import DAY_US, OnlineStore

ASSET = "online_features"
COLUMNS = ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "fraud"]


def online_rows(day: str, recent: pd.DataFrame, reports: pd.DataFrame, delay: timedelta) -> pd.DataFrame:
    """The store's changes on `day`, from the transactions of `day` and the `delay` before it (`recent`)
    and the chargebacks reported on `day`."""
    start = pd.Timestamp(day)
    reported = reports.groupby("transaction_id")["reported_at"].min()
    when = reported.reindex(recent["transaction_id"].to_numpy()).to_numpy("datetime64[ns]")  # NaT: no report
    fraud = when <= (recent["tx_datetime"] + delay).to_numpy("datetime64[ns]")
    today = (recent["tx_datetime"] >= start) & (recent["tx_datetime"] < start + pd.Timedelta(days=1))
    rows = recent.loc[today.to_numpy() | fraud, COLUMNS[:-1]].assign(
        fraud=fraud[today.to_numpy() | fraud].astype("int64")
    )
    return rows.sort_values(["tx_datetime", "transaction_id"], ignore_index=True)


@dataclass(frozen=True)
class SyncReport:
    loaded: list[str]  # days loaded now (their content was new to the store)
    transactions: int  # new transactions stored
    trimmed: int


def sync(lake: Lake, ref: str, store: OnlineStore, features: FeatureSet) -> SyncReport:
    """Loads the published days the store still lacks, within the history the windows reach, then forgets
    what no window reaches any more."""
    prefix = f"tables/{ASSET}/"
    paths = {path.split("date=")[1][:10]: path for path in lake.list(ref, prefix)}
    if not paths:
        return SyncReport([], 0, 0)
    latest = max(paths)
    reach = pd.Timestamp(latest) + pd.Timedelta(days=1) - features.history  # the next day's windows start here
    loaded = store.loaded()
    done, added = [], 0
    for day in sorted(d for d in paths if pd.Timestamp(d) + pd.Timedelta(days=1) > reach):
        data = lake.get(ref, paths[day])
        digest = hashlib.sha256(data).hexdigest()
        if loaded.get(day) == digest:
            continue
        added += store.write(transactions(from_parquet(data), store.entities))
        store.mark_loaded(day, digest)
        done.append(day)
    trimmed = store.trim(int(reach.value // 1_000) - DAY_US)  # a day of slack for late transactions
    return SyncReport(done, added, trimmed)
