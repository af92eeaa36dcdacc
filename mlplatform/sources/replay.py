"""Replays transactions as events, hour by hour, closing each day: into the landing zone as files, or onto an
event stream (mlplatform/stream/), whose consumer writes the same files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pandas as pd

from mlplatform.sources.landing import SUCCESS, TRANSACTIONS, LandingZone

if TYPE_CHECKING:
    from mlplatform.stream import EventStream

EVENT_COLUMNS = {
    "TRANSACTION_ID": "transaction_id",
    "TX_DATETIME": "tx_datetime",
    "CUSTOMER_ID": "customer_id",
    "TERMINAL_ID": "terminal_id",
    "TX_AMOUNT": "tx_amount",
}
EVENT_FIELDS = list(EVENT_COLUMNS.values())


def to_events(transactions: pd.DataFrame) -> pd.DataFrame:
    """The event payload: what a card processor emits (no fraud label: labels come later, by API)."""
    events = transactions[list(EVENT_COLUMNS)].rename(columns=EVENT_COLUMNS)
    events["tx_datetime"] = events["tx_datetime"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return events


def hour_key(day: str, hour: int) -> str:
    return f"{TRANSACTIONS}/date={day}/part-{hour:02d}.ndjson"


def success_key(day: str) -> str:
    return f"{TRANSACTIONS}/date={day}/{SUCCESS}"


def hour_file(events: pd.DataFrame) -> bytes:
    """One hour's landing file: its events (EVENT_FIELDS) as NDJSON, in arrival order (the published data's
    order, which is by time but not by id within a second)."""
    ordered = events if list(events.columns) == EVENT_FIELDS else events[EVENT_FIELDS]
    return ordered.to_json(orient="records", lines=True).encode()


def success_marker(rows: int) -> bytes:
    """The marker that closes a day, with the day's number of events."""
    return json.dumps({"rows": rows}).encode()


def hourly(transactions: pd.DataFrame, days: list[str]) -> Iterator[tuple[str, int | None, pd.DataFrame]]:
    """(day, hour, events) for each hour of `days` that has transactions, then (day, None, the day's events)."""
    stamp = transactions["TX_DATETIME"]
    wanted = stamp.dt.normalize().isin(pd.to_datetime(days))
    transactions, stamp = transactions[wanted], stamp[wanted]
    events = to_events(transactions)
    for day in days:
        lo = pd.Timestamp(day)
        in_day_mask = (stamp >= lo) & (stamp < lo + pd.Timedelta(days=1))
        in_day = events[in_day_mask]
        for hour, chunk in in_day.groupby(stamp[in_day_mask].dt.hour, sort=True):
            yield day, int(hour), chunk
        yield day, None, in_day


def replay(
    transactions: pd.DataFrame,
    zone: LandingZone,
    days: list[str],
    speed: float = 0.0,
    on_day: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Lands the given days' transactions as files; `speed` > 0 paces hours at `speed`× real time."""
    counts: dict[str, int] = {}
    for day, hour, chunk in hourly(transactions, days):
        if hour is not None:
            zone.put(hour_key(day, hour), hour_file(chunk))
            if speed > 0:
                time.sleep(3600 / speed)
            continue
        zone.put(success_key(day), success_marker(len(chunk)))
        counts[day] = len(chunk)
        if on_day:
            on_day(day, len(chunk))
    return counts


def replay_to_stream(
    transactions: pd.DataFrame,
    stream: EventStream,
    days: list[str],
    speed: float = 0.0,
    on_day: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Publishes the given days' transactions as events (each a landing file's line), and after each day a
    punctuation `{"watermark": "<next midnight>"}` that lets the consumer close it at once."""
    counts: dict[str, int] = {}
    for day, hour, chunk in hourly(transactions, days):
        if hour is not None:
            stream.publish(hour_file(chunk).splitlines())
            if speed > 0:
                time.sleep(3600 / speed)
            continue
        midnight = (pd.Timestamp(day) + pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
        stream.publish([json.dumps({"watermark": midnight}).encode()])
        counts[day] = len(chunk)
        if on_day:
            on_day(day, len(chunk))
    return counts
