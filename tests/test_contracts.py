"""Soda contracts: each kind of bad data fails its rule, and a failing contract blocks publication."""

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from mlplatform.config import handbook_path
from mlplatform.lake.tables import table_path
from mlplatform.quality import verify
from tests.platform_env import make_env

CONTRACTS = Path(__file__).parent.parent / "assets" / "contracts"
END_OF_DAY = pd.Timestamp("2018-04-02")


def _transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": [1, 2, 3],
            "tx_datetime": pd.to_datetime(["2018-04-01 08:00", "2018-04-01 12:00", "2018-04-01 23:30"]),
            "customer_id": [10, 11, 12],
            "terminal_id": [5, 6, 7],
            "tx_amount": [12.5, 0.0, 99.99],
        }
    )


def test_good_data_passes_every_rule():
    result = verify(_transactions(), CONTRACTS / "raw_transactions.yml", END_OF_DAY)
    assert result.passed, result.failed_rules()
    names = {r.name for r in result.rules}
    assert {"transaction_id: duplicate", "tx_amount: invalid", "schema", "row_count", "freshness"} <= names
    freshness = next(r for r in result.rules if r.name == "freshness")
    assert freshness.measured["freshness_in_hours"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("corrupt", "rule"),
    [
        (lambda df: df.assign(tx_amount=[12.5, -1.0, 3.0]), "tx_amount: invalid"),
        (lambda df: df.assign(transaction_id=[1, 1, 3]), "transaction_id: duplicate"),
        (lambda df: df.assign(customer_id=[10, None, 12]), "customer_id: missing"),
        (lambda df: df.assign(email=["a@x", "b@x", "c@x"]), "schema"),  # a PII column leaks in
        (lambda df: df.iloc[:2], "freshness"),  # the evening never landed
        (lambda df: df.iloc[:0], "row_count"),
    ],
)
def test_each_kind_of_bad_data_fails_its_rule(corrupt, rule):
    result = verify(corrupt(_transactions()), CONTRACTS / "raw_transactions.yml", END_OF_DAY)
    assert not result.passed
    assert rule in result.failed_rules()


def _features_row() -> pd.DataFrame:
    from mlplatform.features.definitions import FRAUD

    row = {"transaction_id": 1, "tx_datetime": pd.Timestamp("2018-04-01 23:00"), "customer_id": 1, "terminal_id": 1}
    return pd.DataFrame([row | {name: 1 for name in FRAUD.names}])


def test_feature_ranges_follow_their_definitions():
    good = _features_row()
    assert verify(good, CONTRACTS / "transaction_features.yml", END_OF_DAY).passed
    bad = good.assign(terminal_risk_7d=1.5, customer_nb_tx_1d=0)
    failed = verify(bad, CONTRACTS / "transaction_features.yml", END_OF_DAY).failed_rules()
    assert set(failed) == {"terminal_risk_7d: invalid", "customer_nb_tx_1d: invalid"}


@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
@pytest.mark.slow
def test_an_incomplete_day_fails_the_contract_and_main_is_unchanged(tmp_path):
    env = make_env(tmp_path / "home", days=2)
    day = env.settings.home / "landing" / "transactions" / "date=2018-04-02"
    for part in day.glob("part-*.ndjson"):
        if int(part.stem.split("-")[1]) >= 18:
            part.unlink()  # the day is marked complete, but its evening is missing
    env.start_api()
    try:
        instance = DagsterInstance.ephemeral()
        env.publish(instance, env.run("2018-04-01", instance).run_id)
        before = env.lake.resolve("main")
        result = env.run("2018-04-02", instance)
    finally:
        env.stop_api()
    assert not result.success
    contract = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "contract" and e.asset_key.to_user_string() == "raw_transactions"
    )
    assert not contract.passed
    assert contract.metadata["failed_rules"].value == ["freshness"]
    assert env.lake.resolve("main") == before
    assert not env.lake.exists("main", table_path(["raw_transactions"], "2018-04-02"))


def test_overlapping_weekly_partitions_are_verified_one_by_one():
    from assets.quality_checks import contract_result
    from mlplatform.features.definitions import FRAUD

    def week(ids):
        rows = {"split": "train", "transaction_id": ids, "tx_datetime": pd.Timestamp("2018-04-20"), "customer_id": 1}
        rows |= {"terminal_id": 1} | {name: 1.0 for name in FRAUD.names} | {"label": 0}  # the asset's order
        return pd.DataFrame(rows)

    # Week 1's test transactions are week 3's training transactions: the same ids in two partitions.
    frames = {"2018-04-04": week([1, 2, 3]), "2018-04-18": week([3, 4, 5])}
    assert contract_result("training_set", frames, None, per_partition=True).passed
    assert not contract_result("training_set", frames, None).passed  # verified together, 3 is a duplicate
    bad = {**frames, "2018-04-25": week([6, 6])}
    result = contract_result("training_set", bad, None, per_partition=True)
    assert not result.passed
    assert result.metadata["failed_rules"].value == ["transaction_id: duplicate [2018-04-25]"]


def test_contract_feature_columns_come_from_the_feature_definitions(monkeypatch):
    from dataclasses import replace
    from datetime import timedelta

    import yaml

    from mlplatform import quality
    from mlplatform.features.definitions import FRAUD, WindowFeature

    for name in ("transaction_features", "training_set"):
        contract = quality.expand(yaml.safe_load((CONTRACTS / f"{name}.yml").read_text()))
        columns = [c["name"] for c in contract["columns"]]
        assert [c for c in columns if c in FRAUD.names] == FRAUD.names
    # A feature added to the definitions is checked by the same contract file, with its own range.
    extra = WindowFeature(
        "terminal_risk_90d", "X", "terminal_id", "label_rate", timedelta(90), timedelta(7), "float64", ""
    )
    monkeypatch.setitem(quality.FEATURE_SETS, FRAUD.name, replace(FRAUD, features=(*FRAUD.features, extra)))
    contract = quality.expand(yaml.safe_load((CONTRACTS / "transaction_features.yml").read_text()))
    (column,) = [c for c in contract["columns"] if c["name"] == "terminal_risk_90d"]
    assert column["checks"][1] == {"invalid": {"valid_min": 0, "valid_max": 1}}
    frame = _features_row().assign(terminal_risk_90d=[1.5])
    assert verify(frame, CONTRACTS / "transaction_features.yml", END_OF_DAY).failed_rules() == [
        "terminal_risk_90d: invalid"
    ]
