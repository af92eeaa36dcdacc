"""When to retrain before the weekly schedule: the champion's features drifted, or its precision on days whose
labels are (nearly) all in fell well below what it showed on its own test window. Read from main only, so a
decision never rests on an unpublished run."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mlplatform.features.definitions import FRAUD
from mlplatform.lake import MAIN, Lake
from mlplatform.lake.tables import read_table, stored_partitions, table_path
from mlplatform.monitoring import PSI_THRESHOLD, SETTLED, drifted
from mlplatform.tracking import ModelRecord

REASON_TAG = "mlplatform/retrain_reason"  # the tag a run requested early carries, with why


@dataclass(frozen=True)
class RetrainPolicy:
    psi_threshold: float = PSI_THRESHOLD
    max_drifted_features: int = 2  # more features than this over the threshold on the newest day: retrain
    ap_drop: float = 0.25  # retrain when the recent average precision is this share below the champion's test AP
    recent_days: int = 7  # the days averaged, among those ...
    max_missing_labels: float = SETTLED  # ... whose labels are (nearly) all in


def drift_reason(drift: pd.DataFrame, policy: RetrainPolicy) -> str | None:
    """Why the newest day's drift calls for a new model, if it does."""
    over = drifted(drift, FRAUD, policy.psi_threshold)
    if len(over) <= policy.max_drifted_features:
        return None
    psi = drift.set_index("feature")["psi"]
    named = ", ".join(f"{f} {psi[f]:.2f}" for f in over)
    return f"feature drift on {drift['day'].iloc[0]}: {len(over)} features over PSI {policy.psi_threshold} ({named})"


def performance_reason(performance: pd.DataFrame, champion_ap: float, policy: RetrainPolicy) -> str | None:
    """Why the recent precision calls for a new model, if it does (`performance`: model_performance rows)."""
    batch = performance[(performance["scores"] == "batch") & (performance["frauds_known"] > 0)]
    settled = batch[batch["labels_missing_estimate"] <= policy.max_missing_labels].sort_values("day")
    recent = settled.tail(policy.recent_days)
    if len(recent) < policy.recent_days:
        return None  # too few days with their labels in to judge
    mean_ap = float(recent["average_precision"].mean())
    floor = champion_ap * (1 - policy.ap_drop)
    if mean_ap >= floor:
        return None
    span = f"{recent['day'].iloc[0]}..{recent['day'].iloc[-1]}"
    return (
        f"performance drop: average precision {mean_ap:.3f} over {span}, under {floor:.3f} "
        f"({policy.ap_drop:.0%} below the champion's test {champion_ap:.3f})"
    )


def retrain_reason(lake: Lake, champion: ModelRecord | None, policy: RetrainPolicy) -> str | None:
    """The reason to retrain now, from what main holds (None: no reason, or nothing to judge yet)."""
    if champion is None:
        return None
    reasons = []
    drift_days = stored_partitions(lake, MAIN, ["feature_drift"])
    if drift_days:
        reasons.append(drift_reason(read_table(lake, MAIN, table_path(["feature_drift"], drift_days[-1])), policy))
    card_path = table_path(["fraud_model"], champion.week)
    performance_days = stored_partitions(lake, MAIN, ["model_performance"])
    if performance_days and lake.exists(MAIN, card_path):
        card = read_table(lake, MAIN, card_path)
        champion_ap = float(card["test_average_precision"].iloc[0])
        window = performance_days[-(policy.recent_days * 5) :]  # enough days to find settled ones
        frames = [read_table(lake, MAIN, table_path(["model_performance"], d)) for d in window]
        reasons.append(performance_reason(pd.concat(frames, ignore_index=True), champion_ap, policy))
    found = [r for r in reasons if r]
    return "; ".join(found) if found else None


def next_untrained_week(lake: Lake, trained_weeks: set[str]) -> str | None:
    """The earliest week whose training set is on main and which no registered version was trained on."""
    waiting = [w for w in stored_partitions(lake, MAIN, ["training_set"]) if w not in trained_weeks]
    return waiting[0] if waiting else None
