"""What should run next, decided from published data only: a downstream run starts from what main holds, never
from a run branch, so nothing races publishing, and a failed or refused run (kept off main) triggers nothing.

`plan` is a pure function of main's partitions, the registry's decided weeks and the jobs already busy; the
`downstream_of_main` sensor (assets/sensors.py) feeds it and turns its answer into run requests, each with a
key so that the same request is never made twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from mlplatform.lake import MAIN, Lake
from mlplatform.lake.tables import read_table, stored_partitions, table_path
from mlplatform.monitoring import REPORT_MATURITY, reports_through
from mlplatform.training_sets import Split

# The assets whose published partitions the plan reads.
WATCHED = ["transaction_features", "raw_fraud_reports", "training_set", "batch_predictions", "feature_drift"]


@dataclass(frozen=True)
class Request:
    job: str
    first: str
    last: str
    key: str  # the run key: a request is made once


def daily_due(
    completed: list[str], requested: set[str], on_main: set[str], first_day: str, history_days: int
) -> tuple[list[str], str]:
    """The days of the next daily run, and why there are none when there are none: the earliest completed
    days neither requested yet nor on main, consecutive, provided every day of the history the first one
    reads (`history_days` before it, from the partitions' `first_day`) is on main. A day whose run failed
    stays requested and not on main, so the days after it wait for its rerun."""
    pending = sorted(set(completed) - requested - on_main)
    if not pending:
        return [], "no completed day in the landing zone waits for its daily run"
    start = date.fromisoformat(pending[0])
    history = (start - timedelta(days=n) for n in range(history_days, 0, -1))
    missing = [d for day in history if (d := day.isoformat()) >= first_day and d not in on_main]
    if missing:
        why = "its daily run failed: rerun it" if missing[-1] in requested else "it has not landed"
        return [], f"{pending[0]} waits for {missing[-1]} on main ({why})"
    days = [pending[0]]
    for day in pending[1:]:
        if date.fromisoformat(day) - date.fromisoformat(days[-1]) != timedelta(days=1):
            break
        days.append(day)
    return days, ""


def _ready_weeks(published: Mapping[str, set[str]], weeks: list[str]) -> list[str]:
    """Weeks whose every feature and report day is on main (and that start on or after the first day)."""
    features, reports = published["transaction_features"], published["raw_fraud_reports"]
    if not features:
        return []
    first = min(features)
    ready = []
    for week in weeks:
        split = Split(date.fromisoformat(week))
        if week >= first and set(split.feature_days) <= features and set(split.report_days) <= reports:
            ready.append(week)
    return ready


def plan(
    published: Mapping[str, set[str]],
    decided_weeks: set[str],
    busy: set[str],
    weeks: list[str],
    champion_starts: list[str],
    counted: Mapping[str, str] | None = None,
) -> list[Request]:
    """The runs due: training sets of ready weeks, the earliest undecided week's model (weeks in order, each
    compared with the champion of its decision day), predictions of days whose champion is settled (every
    week decided by then is decided), and the monitoring of newly scored days and of those whose performance
    can count more chargebacks (`counted`: day -> the last report day its published performance counted). A
    job in `busy` (a run queued, running, or succeeded and not yet published) gets nothing new."""
    due: list[Request] = []
    ready = _ready_weeks(published, weeks)
    training = [w for w in ready if w not in published["training_set"]]
    if training and "training" not in busy:
        due.append(Request("training", training[0], training[-1], f"training-{training[0]}-{training[-1]}"))
    undecided = sorted(w for w in published["training_set"] if w not in decided_weeks)
    if undecided and "models" not in busy:
        due.append(Request("models", undecided[0], undecided[0], f"models-{undecided[0]}"))
    if "predictions" not in busy and champion_starts:
        # A ready week not yet decided may still make the champion of the days from its decision day: they wait.
        pending = [Split(date.fromisoformat(w)).decision_day for w in ready if w not in decided_weeks]
        waiting_from = min(pending, default="9999-12-31")
        days = sorted(
            d
            for d in published["transaction_features"]
            if min(champion_starts) <= d < waiting_from and d not in published["batch_predictions"]
        )
        if days:
            due.append(Request("predictions", days[0], days[-1], f"predictions-{days[0]}-{days[-1]}"))
    if "monitoring" not in busy:
        # Newly scored days, and scored days whose performance counted fewer chargeback days than it now can.
        newest = max(published["raw_fraud_reports"], default="")
        stale = {d for d, through in (counted or {}).items() if through < reports_through(d, newest)}
        monitored = sorted(
            d for d in published["batch_predictions"] if d not in published["feature_drift"] or d in stale
        )
        if monitored:
            key = f"monitoring-{monitored[0]}-{monitored[-1]}-reports-{newest}"
            due.append(Request("monitoring", monitored[0], monitored[-1], key))
    return due


def performance_counted(lake: Lake, days: set[str]) -> dict[str, str]:
    """For each day whose performance is on main, the last report day it counted; only days within
    REPORT_MATURITY of the newest published performance are read (older ones are final)."""
    stored = stored_partitions(lake, MAIN, ["model_performance"])
    if not stored:
        return {}
    recent = str((pd.Timestamp(stored[-1]) - REPORT_MATURITY).date())
    return {
        d: str(read_table(lake, MAIN, table_path(["model_performance"], d))["reports_through"].iloc[0])
        for d in stored
        if d >= recent and d in days
    }
