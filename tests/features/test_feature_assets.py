"""Feature assets read their history from the lake: results never depend on how runs were cut."""

import re

import pytest
from dagster import DagsterInstance

from mlplatform.config import handbook_path
from mlplatform.features.definitions import FRAUD
from mlplatform.lake.tables import read_table, table_path
from tests.platform_env import make_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]
DAYS = ["2018-04-01", "2018-04-02", "2018-04-03"]  # one range run against three daily runs


def _features(env, day):
    return env.lake.get("main", table_path(["transaction_features"], day))


def test_one_range_run_and_one_run_per_day_give_identical_features(tmp_path):
    together, separate = make_env(tmp_path / "together", days=3), make_env(tmp_path / "separate", days=3)
    for env in (together, separate):
        env.start_api()
    try:
        instance = DagsterInstance.ephemeral()
        run = together.run_range(DAYS[0], DAYS[-1], instance)
        assert run.success
        together.publish(instance, run.run_id)
        for day in DAYS:
            result = separate.run_day(day, instance)
            assert result.success
            separate.publish(instance, result.run_id)
    finally:
        for env in (together, separate):
            env.stop_api()

    for day in DAYS:
        assert _features(together, day) == _features(separate, day), day
    frame = read_table(together.lake, "main", table_path(["transaction_features"], DAYS[-1]))
    assert list(frame.columns) == ["transaction_id", "tx_datetime", "customer_id", "terminal_id", *FRAUD.names]
    assert (frame["customer_nb_tx_1d"] >= 1).all()
    assert frame["tx_datetime"].dt.strftime("%Y-%m-%d").eq(DAYS[-1]).all()


def test_missing_history_is_a_clear_error(tmp_path):
    env = make_env(tmp_path / "home", days=3)
    env.start_api()
    try:
        instance = DagsterInstance.ephemeral()
        result = env.run_day("2018-04-03", instance)  # 04-01 and 04-02 were never materialized
    finally:
        env.stop_api()
    assert not result.success
    message = str(result.failure_data_for_node("transaction_features").error.cause)
    assert re.search(r"raw_(transactions|fraud_reports) partitions 2018-04-01\.\.2018-04-02 \(2\)", message)
