"""The event relation the engines read, built from raw transactions and fraud reports.

A transaction counts as fraudulent for features only if its chargeback was reported within the
feature set's label delay of the transaction: a terminal window ends `delay` before t, so every label it
uses was known by t. Labels reported later are simply not used (never a label from the future).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from mlplatform.features.definitions import AMOUNT, EVENT_ID, EVENT_TIME, LABEL

EVENT_COLUMNS = [EVENT_ID, EVENT_TIME, "customer_id", "terminal_id", AMOUNT]


def known_labels(transactions: pd.DataFrame, reports: pd.DataFrame, delay: timedelta) -> pd.Series:
    """1 where a report for the transaction arrived at most `delay` after it, else 0."""
    if reports.empty:
        return pd.Series(0, index=transactions.index, dtype="int64")
    first_report = reports.groupby("transaction_id")["reported_at"].min()
    reported = transactions[EVENT_ID].map(first_report)
    return (reported <= transactions[EVENT_TIME] + delay).fillna(False).astype("int64")


def build_events(transactions: list[pd.DataFrame], reports: list[pd.DataFrame], delay: timedelta) -> pd.DataFrame:
    """The engines' event relation; `delay` is the feature set's `label_delay`."""
    tx = pd.concat([t[EVENT_COLUMNS] for t in transactions], ignore_index=True)
    rep = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame(columns=["transaction_id", "reported_at"])
    tx[LABEL] = known_labels(tx, rep, delay)
    return tx.sort_values([EVENT_TIME, EVENT_ID], ignore_index=True)


def split_days(frame: pd.DataFrame, days: list[str]) -> dict[str, pd.DataFrame]:
    """Rows of each day, by event time."""
    stamp = frame[EVENT_TIME].dt.strftime("%Y-%m-%d")
    return {day: frame[stamp == day].reset_index(drop=True) for day in days}
