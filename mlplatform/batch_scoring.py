"""Batch predictions: each day's transactions scored by the champion in force on that day.

A version is in force from its decision day, which is after every day it trained on, so a model
never scores a day it was trained on or an earlier one; the check below makes that explicit.
"""

from __future__ import annotations

import pandas as pd

from mlplatform.models import PortableModel
from mlplatform.tracking import MODEL_NAME, ModelRecord, Tracking, champion_on, load_model, versions

KEYS = ["transaction_id", "tx_datetime", "customer_id", "terminal_id"]


class NoChampion(LookupError):
    pass


class LeakageError(RuntimeError):
    """A version would score a day it was trained on, or an earlier one."""


def champions_for(tracking: Tracking, days: list[str]) -> dict[str, ModelRecord]:
    """The champion of each day; a clear error for days before the first promotion."""
    records = versions(tracking)
    found = {day: champion_on(tracking, day, records) for day in days}
    chosen = {day: record for day, record in found.items() if record is not None}
    missing = [day for day in days if day not in chosen]
    if missing:
        starts = sorted(r.champion_from for r in records if r.champion_from)
        first = f"the first champion is in force from {starts[0]}" if starts else "no version has been promoted yet"
        raise NoChampion(f"no {MODEL_NAME} champion in force on {missing[0]}..{missing[-1]}: {first}")
    for day, record in chosen.items():
        if not record.cutoff or record.cutoff > day:
            raise LeakageError(f"version {record.version} trained on data up to {record.cutoff} cannot score {day}")
    return chosen


def score_day(features: pd.DataFrame, model: PortableModel, record: ModelRecord, features_commit: str) -> pd.DataFrame:
    out = features[KEYS].copy()
    out["score"] = model.score(features)
    out["model_name"] = MODEL_NAME
    out["model_version"] = record.version
    out["features_commit"] = features_commit
    return out.sort_values(["tx_datetime", "transaction_id"], ignore_index=True)


def score_days(
    tracking: Tracking, features: dict[str, pd.DataFrame], features_commit: str
) -> tuple[dict[str, pd.DataFrame], dict[str, ModelRecord]]:
    """Predictions per day and the version that made them (each version loaded once)."""
    chosen = champions_for(tracking, sorted(features))
    models: dict[str, PortableModel] = {}
    out = {}
    for day, record in chosen.items():
        model = models.get(record.version) or models.setdefault(record.version, load_model(tracking, record.version))
        out[day] = score_day(features[day], model, record, features_commit)
    return out, chosen
