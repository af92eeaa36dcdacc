"""Replays transactions as events into the landing zone, hour by hour, closing each day."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pandas as pd

from mlplatform.sources.landing import SUCCESS, TRANSACTIONS, LandingZone

EVENT_COLUMNS = {
    "TRANSACTION_ID": "transaction_id",
    "TX_DATETIME": "tx_datetime",
    "CUSTOMER_ID": "customer_id",
    "TERMINAL_ID": "terminal_id",
    "TX_AMOUNT": "tx_amount",
}


def to_events(transactions: pd.DataFrame) -> pd.DataFrame:
    """The event payload: what a card processor emits (no fraud label: labels come later, by API)."""
    events = transactions[list(EVENT_COLUMNS)].rename(columns=EVENT_COLUMNS)
    events["tx_datetime"] = events["tx_datetime"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return events


def replay(
    transactions: pd.DataFrame,
    zone: LandingZone,
    days: list[str],
    speed: float = 0.0,
    on_day: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Publishes the given days' transactions; `speed` > 0 paces hours at `speed`× real time."""
    stamp = transactions["TX_DATETIME"]
    wanted = stamp.dt.normalize().isin(pd.to_datetime(days))
    transactions, stamp = transactions[wanted], stamp[wanted]
    events = to_events(transactions)
    counts: dict[str, int] = {}
    for day in days:
        lo = pd.Timestamp(day)
        in_day_mask = (stamp >= lo) & (stamp < lo + pd.Timedelta(days=1))
        in_day = events[in_day_mask]
        hours = stamp[in_day_mask].dt.hour
        for hour, chunk in in_day.groupby(hours, sort=True):
            lines = chunk.to_json(orient="records", lines=True)
            zone.put(f"{TRANSACTIONS}/date={day}/part-{int(hour):02d}.ndjson", lines.encode())
            if speed > 0:
                time.sleep(3600 / speed)
        zone.put(f"{TRANSACTIONS}/date={day}/{SUCCESS}", json.dumps({"rows": len(in_day)}).encode())
        counts[day] = len(in_day)
        if on_day:
            on_day(day, len(in_day))
    return counts
