"""Monitoring of the model in service: how far each day's features drifted from the champion's training window,
and how well each day's scores did against the chargebacks known so far (labels arrive for weeks).

Both are plain functions of frames; the Dagster assets in assets/monitoring.py read the lake and store what
these return, one partition per day, so a day's health is versioned and published like everything else.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from mlplatform.evaluation import evaluate
from mlplatform.features.definitions import FeatureSet, RequestFeature, valid_range
from mlplatform.lake import Lake
from mlplatform.lake.tables import read_table, stored_partitions, table_path

PSI_BINS = 10  # deciles of the reference window
PSI_THRESHOLD = 0.2  # the usual reading: under 0.1 stable, 0.1 to 0.2 moderate, over 0.2 a significant shift
_EMPTY_SHARE = 1e-4  # an empty bin's share, so that the index stays finite
# Chargebacks are taken to be reported within this long of the transaction (the demo's provider: 1 to 30 days):
# transactions older than that give the distribution of report delays that estimates the labels still missing.
REPORT_MATURITY = timedelta(days=30)
SETTLED = 0.1  # a day's labels count as (nearly) all in when at most this share is estimated missing

DRIFT_COLUMNS = ["day", "feature", "psi", "missing_share", "out_of_range_share", "rows", "reference_rows"]
PERFORMANCE_COLUMNS = [
    "day",
    "scores",  # "batch" (batch_predictions) or "served" (the service's scoring log)
    "model_versions",
    "transactions",
    "frauds_known",
    "auc_roc",
    "average_precision",
    "card_precision_at_100",
    "reports_through",  # the last day of chargeback reports counted (at most REPORT_MATURITY after the day)
    "labels_missing_estimate",
]


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against `reference`: sum over the reference's quantile bins of
    (current share - reference share) * ln(current share / reference share). Missing values are left out (they
    are counted apart); NaN when either side has no value."""
    reference = reference[~np.isnan(reference)]
    current = current[~np.isnan(current)]
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    # Inner edges at the reference's quantiles; a discrete feature has fewer distinct edges, hence fewer bins.
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference), minlength=len(edges) + 1) / len(reference)
    actual = np.bincount(np.searchsorted(edges, current), minlength=len(edges) + 1) / len(current)
    expected, actual = np.maximum(expected, _EMPTY_SHARE), np.maximum(actual, _EMPTY_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _out_of_range(values: pd.Series, feature) -> pd.Series:
    allowed = valid_range(feature)
    outside = pd.Series(False, index=values.index)
    if allowed.values is not None:
        outside |= values.notna() & ~values.isin(allowed.values)
    if allowed.min is not None:
        outside |= values < allowed.min
    if allowed.max is not None:
        outside |= values > allowed.max
    return outside


def feature_drift(day: str, features: pd.DataFrame, reference: pd.DataFrame, feature_set: FeatureSet) -> pd.DataFrame:
    """One row per feature: PSI of the day against the reference window, shares of missing and out-of-range
    values (by the feature's definition)."""
    rows = []
    for feature in feature_set.features:
        values = pd.to_numeric(features[feature.name], errors="coerce").astype("float64")
        base = pd.to_numeric(reference[feature.name], errors="coerce").astype("float64")
        rows.append(
            {
                "day": day,
                "feature": feature.name,
                "psi": psi(base.to_numpy(), values.to_numpy()),
                "missing_share": float(values.isna().mean()) if len(values) else float("nan"),
                "out_of_range_share": float(_out_of_range(values, feature).mean()) if len(values) else float("nan"),
                "rows": len(values),
                "reference_rows": len(base),
            }
        )
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


def calendar_features(feature_set: FeatureSet) -> list[str]:
    """Features fixed by the day itself (a day is all weekend or not): their PSI against a week-long window is
    always high and says nothing, so they are measured but never flagged."""
    return [f.name for f in feature_set.features if isinstance(f, RequestFeature) and f.transform == "is_weekend"]


def largest_drift(drift: pd.DataFrame, feature_set: FeatureSet) -> tuple[float, str]:
    """The largest PSI of a day and its feature, calendar features aside (as `drifted` leaves them); NaN and
    "" when no feature has one."""
    measured = drift[~drift["feature"].isin(calendar_features(feature_set))].dropna(subset=["psi"])
    if measured.empty:
        return float("nan"), ""
    top = measured.sort_values("psi", kind="stable").iloc[-1]
    return float(top["psi"]), str(top["feature"])


def drifted(drift: pd.DataFrame, feature_set: FeatureSet, threshold: float = PSI_THRESHOLD) -> list[str]:
    """The features whose PSI is over `threshold` (calendar features aside)."""
    over = drift.loc[drift["psi"] > threshold, "feature"]
    return [f for f in over if f not in calendar_features(feature_set)]


def missing_label_share(reports: pd.DataFrame, reports_end: pd.Timestamp, day: str) -> float:
    """An estimate of the share of `day`'s chargebacks not reported by `reports_end`: the share of matured
    transactions (older than REPORT_MATURITY at `reports_end`) whose report took longer than the time the day
    has had (from its middle). NaN when no reported transaction is that old yet."""
    tx_time = pd.to_datetime(reports["tx_datetime"])
    delays = pd.to_datetime(reports["reported_at"]) - tx_time
    matured = delays[tx_time < reports_end - REPORT_MATURITY]
    if matured.empty:
        return float("nan")
    elapsed = reports_end - (pd.Timestamp(day) + pd.Timedelta(hours=12))
    return float((matured > elapsed).mean())


def reports_through(day: str, newest_report_day: str) -> str:
    """The last day of chargeback reports a day's performance counts: the newest, but no later than
    REPORT_MATURITY after the day (its labels are all in by then), so the day's figures stop changing and a
    later re-run gives the same ones."""
    cap = str((pd.Timestamp(day) + REPORT_MATURITY).date())
    return min(newest_report_day, cap) if newest_report_day else day


def performance(
    day: str, scored: pd.DataFrame, reports: pd.DataFrame, newest_report_day: str, scores: str = "batch"
) -> dict[str, object]:
    """The protocol's metrics of a day's scores (`transaction_id`, `customer_id`, `score`, `model_version`), a
    transaction counting as fraud when a chargeback for it was reported by `reports_through(day, ...)`. The
    metrics are NaN while no fraud of the day is known (a ranking needs both classes)."""
    through = reports_through(day, newest_report_day)
    end = pd.Timestamp(through) + pd.Timedelta(days=1)
    reports = reports[pd.to_datetime(reports["reported_at"]) < end]
    frauds = set(reports["transaction_id"].astype("int64"))
    test = pd.DataFrame(
        {
            "day": day,
            "customer_id": scored["customer_id"].to_numpy(),
            "label": scored["transaction_id"].astype("int64").isin(frauds).astype("int64").to_numpy(),
            "score": scored["score"].astype("float64").to_numpy(),
        }
    )
    known = int(test["label"].sum())
    both_classes = 0 < known < len(test)
    metrics = evaluate(test) if both_classes else None
    return {
        "day": day,
        "scores": scores,
        "model_versions": ",".join(sorted({str(v) for v in scored["model_version"]})),
        "transactions": len(test),
        "frauds_known": known,
        "auc_roc": metrics.auc_roc if metrics else float("nan"),
        "average_precision": metrics.average_precision if metrics else float("nan"),
        "card_precision_at_100": metrics.card_precision_at_100 if metrics else float("nan"),
        "reports_through": through,
        "labels_missing_estimate": missing_label_share(reports, end, day),
    }


def known_reports(lake: Lake, ref: str) -> tuple[pd.DataFrame, list[str], str]:
    """Every chargeback report stored at `ref`, the paths read and the newest report day ("" if none)."""
    days = stored_partitions(lake, ref, ["raw_fraud_reports"])
    paths = [table_path(["raw_fraud_reports"], d) for d in days]
    frames = [read_table(lake, ref, p) for p in paths]
    reports = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if reports.empty:
        reports = pd.DataFrame({"transaction_id": [], "tx_datetime": [], "reported_at": []})
    return reports, paths, days[-1] if days else ""
