"""Monitoring's measures on frames whose answers are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from mlplatform.features.definitions import FRAUD
from mlplatform.monitoring import (
    calendar_features,
    drifted,
    feature_drift,
    largest_drift,
    missing_label_share,
    performance,
    psi,
)
from mlplatform.retraining import RetrainPolicy, drift_reason, performance_reason


def test_psi_of_a_sample_against_itself_is_zero_and_of_a_shift_is_large():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    assert psi(reference, reference) == 0.0
    assert psi(reference, rng.normal(size=5_000)) < 0.02  # the same population
    assert psi(reference, rng.normal(loc=1.0, size=5_000)) > 0.2  # a shift of one standard deviation


def test_psi_of_a_binary_feature_by_hand():
    reference = np.array([0.0] * 70 + [1.0] * 30)
    current = np.array([0.0] * 40 + [1.0] * 60)
    expected = (0.4 - 0.7) * math.log(0.4 / 0.7) + (0.6 - 0.3) * math.log(0.6 / 0.3)
    assert psi(reference, current) == pytest.approx(expected)
    # An empty bin counts as a share of 1e-4, so the index stays finite; missing values are left out.
    only_ones = np.array([1.0] * 10 + [np.nan] * 5)
    assert psi(reference, only_ones) == pytest.approx((1e-4 - 0.7) * math.log(1e-4 / 0.7) + 0.7 * math.log(1 / 0.3))
    assert math.isnan(psi(reference, np.array([np.nan])))


def test_drift_rows_count_missing_and_out_of_range_values_by_definition():
    names = FRAUD.names
    reference = pd.DataFrame({n: [0.0, 1.0, 1.0, 0.0] for n in names})
    day = pd.DataFrame({n: [0.0, 1.0, 1.0, 0.0] for n in names})
    day["terminal_risk_7d"] = [0.5, np.nan, 1.5, -0.1]  # a rate: 1.5 and -0.1 are impossible
    day["tx_during_weekend"] = [1.0, 1.0, 1.0, 2.0]  # a flag: 2 is impossible
    drift = feature_drift("2018-05-05", day, reference, FRAUD).set_index("feature")
    assert list(drift.index) == names
    assert drift.loc["terminal_risk_7d", "missing_share"] == 0.25
    assert drift.loc["terminal_risk_7d", "out_of_range_share"] == 0.5
    assert drift.loc["tx_during_weekend", "out_of_range_share"] == 0.25
    assert drift.loc["customer_nb_tx_1d", "psi"] == 0.0 and drift.loc["customer_nb_tx_1d", "missing_share"] == 0.0
    # The weekend flag's PSI is high on any single day, and never flagged; the rate's shift is.
    assert drift.loc["tx_during_weekend", "psi"] > 0.2
    assert calendar_features(FRAUD) == ["tx_during_weekend"]
    assert "tx_during_weekend" not in drifted(drift.reset_index(), FRAUD)
    assert "terminal_risk_7d" in drifted(drift.reset_index(), FRAUD)


def test_the_largest_drift_leaves_calendar_features_and_missing_indices_aside():
    drift = pd.DataFrame(
        {
            "feature": ["tx_during_weekend", "customer_nb_tx_1d", "terminal_risk_7d", "tx_amount"],
            "psi": [2.4, 0.03, np.nan, 0.07],
        }
    )
    assert largest_drift(drift, FRAUD) == (0.07, "tx_amount")
    assert math.isnan(largest_drift(drift.iloc[[0, 2]], FRAUD)[0])  # the weekend flag and a NaN: none measured


def test_performance_labels_a_transaction_by_its_known_chargebacks():
    scored = pd.DataFrame(
        {
            "transaction_id": [1, 2, 3, 4],
            "customer_id": [10, 11, 12, 13],
            "score": [0.9, 0.8, 0.2, 0.1],
            "model_version": ["3", "3", "3", "3"],
        }
    )
    reports = pd.DataFrame(
        {
            "transaction_id": [1, 2, 99],
            "tx_datetime": pd.to_datetime(["2018-05-02 10:00", "2018-05-02 11:00", "2018-04-01 00:00"]),
            "reported_at": pd.to_datetime(["2018-05-04", "2018-05-05", "2018-04-03"]),
        }
    )
    row = performance("2018-05-02", scored, reports, "2018-05-06")
    assert row["frauds_known"] == 2 and row["transactions"] == 4 and row["model_versions"] == "3"
    assert row["auc_roc"] == 1.0 and row["average_precision"] == 1.0
    assert row["card_precision_at_100"] == pytest.approx(2 / 100)
    # Reports after the day's maturity (30 days) are not counted: the figures of a day stop changing.
    late = pd.DataFrame({"transaction_id": [3], "tx_datetime": [pd.Timestamp("2018-05-02 12:00")],
                         "reported_at": [pd.Timestamp("2018-06-02 00:00")]})  # fmt: skip
    settled = performance("2018-05-02", scored, pd.concat([reports, late]), "2018-06-20")
    assert settled["reports_through"] == "2018-06-01" and settled["frauds_known"] == 2
    assert (
        performance("2018-05-02", scored, pd.concat([reports, late]), "2018-05-20")["reports_through"] == "2018-05-20"
    )
    # Without a known fraud of the day, nothing can be ranked yet.
    early = performance("2018-05-02", scored, reports[reports["transaction_id"] == 99], "2018-05-02")
    assert early["frauds_known"] == 0 and math.isnan(early["auc_roc"])


def test_missing_labels_are_estimated_from_matured_report_delays():
    # Four transactions of early April, reported after 1, 2, 5 and 10 days: all matured by June.
    tx = pd.to_datetime(["2018-04-01 12:00"] * 4)
    reports = pd.DataFrame({"tx_datetime": tx, "reported_at": tx + pd.to_timedelta([1, 2, 5, 10], unit="D")})
    end = pd.Timestamp("2018-06-10")
    # A day whose middle is 3 days before the end: two of the four delays (5 and 10 days) were longer.
    assert missing_label_share(reports, end, "2018-06-06") == 0.5
    assert missing_label_share(reports, end, "2018-05-01") == 0.0
    assert math.isnan(missing_label_share(reports, pd.Timestamp("2018-04-20"), "2018-04-18"))  # none matured


def test_drift_calls_for_retraining_past_the_allowed_number_of_features():
    drift = pd.DataFrame(
        {
            "day": "2018-06-01",
            "feature": ["tx_during_weekend", "terminal_risk_7d", "customer_nb_tx_1d", "tx_amount"],
            "psi": [5.0, 0.31, 0.25, 0.1],
        }
    )
    assert drift_reason(drift, RetrainPolicy(max_drifted_features=2)) is None  # two over 0.2, the weekend aside
    assert drift_reason(drift, RetrainPolicy(max_drifted_features=1)) == (
        "feature drift on 2018-06-01: 2 features over PSI 0.2 (terminal_risk_7d 0.31, customer_nb_tx_1d 0.25)"
    )


def test_a_drop_in_precision_on_settled_days_calls_for_retraining():
    days = pd.date_range("2018-06-01", periods=9).strftime("%Y-%m-%d")
    performance = pd.DataFrame(
        {
            "day": days,
            "scores": "batch",
            "frauds_known": 5,
            "average_precision": [0.6, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.0],
            "labels_missing_estimate": [0.0] * 8 + [0.9],  # the last day is far from settled: left out
        }
    )
    policy = RetrainPolicy(ap_drop=0.25, recent_days=7)
    # The 7 newest settled days average (0.6 + 6 * 0.4) / 7 = 0.4286, under 0.75 * 0.6 = 0.45.
    assert performance_reason(performance, champion_ap=0.6, policy=policy) == (
        "performance drop: average precision 0.429 over 2018-06-02..2018-06-08, under 0.450 "
        "(25% below the champion's test 0.600)"
    )
    assert performance_reason(performance, champion_ap=0.55, policy=policy) is None  # 0.429 >= 0.4125
    assert performance_reason(performance.head(5), champion_ap=0.6, policy=policy) is None  # too few days yet
