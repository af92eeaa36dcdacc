"""What should run next, decided from published data only: a downstream run starts from what main holds, never
from a run branch, so nothing races publishing, and a failed or refused run (kept off main) triggers nothing.

`plan` is a pure function of main's partitions, the registry's decided weeks and the jobs already busy; the
`downstream_of_main` sensor (assets/sensors.py) feeds it and turns its answer into run requests, each with a
key so that the same request is never made twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from mlplatform.training_sets import Split

# The assets whose published partitions the plan reads.
WATCHED = ["transaction_features", "raw_fraud_reports", "training_set", "batch_predictions", "feature_drift"]


@dataclass(frozen=True)
class Request:
    job: str
    first: str
    last: str
    key: str  # the run key: a request is made once


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
) -> list[Request]:
    """The runs due: training sets of ready weeks, the earliest undecided week's model (weeks in order, each
    compared with the champion of its decision day), predictions of days whose champion is settled (every
    week decided by then is decided), and the monitoring of newly scored days. A job in `busy` (a run queued,
    running, or succeeded and not yet published) gets nothing new."""
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
    monitored = sorted(d for d in published["batch_predictions"] if d not in published["feature_drift"])
    if monitored and "monitoring" not in busy:
        due.append(Request("monitoring", monitored[0], monitored[-1], f"monitoring-{monitored[0]}-{monitored[-1]}"))
    return due
