"""dbt models as partitioned assets: PII-free staging, marts, dbt tests as blocking checks, in the lake."""

import hashlib
import os

import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from assets.dbt_models import dbt_models
from assets.publishing import NotPublishable
from mlplatform.config import handbook_path
from mlplatform.lake import MAIN
from mlplatform.lake.tables import read_table, table_path, write_table
from resources import build_resources
from tests.platform_env import make_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]
DAY = "2018-04-02"


@pytest.fixture(scope="module")
def published_env(tmp_path_factory):
    env = make_env(tmp_path_factory.mktemp("dbt") / "home", days=2)
    env.start_api()
    try:
        instance = DagsterInstance.ephemeral()
        result = env.run_range("2018-04-01", DAY, instance)
        assert result.success
        env.publish(instance, result.run_id)
    finally:
        env.stop_api()
    return env, result


def test_staged_customers_hold_no_pii_but_a_keyed_card_hash(published_env):
    env, _ = published_env
    staged = read_table(env.lake, MAIN, table_path(["stg_source_db__customers"], DAY))
    raw = read_table(env.lake, MAIN, table_path(["raw_customers"], DAY))
    assert not {"name", "email", "card_number"} & set(staged.columns)
    assert len(staged) == len(raw) == 5_000
    key = os.environ.get("MLPLATFORM_PII_KEY", "demo-pii-key")
    by_id = raw.set_index("customer_id")["card_number"]
    for row in staged.sample(20, random_state=0).itertuples():
        assert row.card_number_hash == hashlib.sha256((key + by_id[row.customer_id]).encode()).hexdigest()


def test_mart_enriches_every_transaction_of_the_day(published_env):
    env, _ = published_env
    raw = read_table(env.lake, MAIN, table_path(["raw_transactions"], DAY))
    mart = read_table(env.lake, MAIN, table_path(["transactions_enriched"], DAY)).set_index("transaction_id")
    assert sorted(mart.index) == sorted(raw["transaction_id"])
    customers = read_table(env.lake, MAIN, table_path(["raw_customers"], DAY)).set_index("customer_id")
    terminals = read_table(env.lake, MAIN, table_path(["raw_terminals"], DAY)).set_index("terminal_id")
    row = mart.iloc[123]
    c, t = customers.loc[row.customer_id], terminals.loc[row.terminal_id]
    assert row.customer_terminal_distance == pytest.approx(np.hypot(c.x - t.x, c.y - t.y))
    assert row.customer_mean_amount == pytest.approx(c.mean_amount)


def test_dbt_tests_run_as_asset_checks(published_env):
    _, result = published_env
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("stg_source_db__customers", "no_pii_columns_stg_source_db__customers_")]
    assert checks[("transactions_enriched", "unique_transactions_enriched_transaction_id")]
    assert all(checks.values())


def test_a_failing_dbt_test_keeps_main_unchanged(published_env, tmp_path):
    env, _ = published_env
    # An upstream bug wrote a raw partition whose transactions lost their customer.
    raw = read_table(env.lake, MAIN, table_path(["raw_transactions"], DAY))
    env.lake.create_branch("bug", MAIN)
    write_table(env.lake, "bug", table_path(["raw_transactions"], DAY), raw.assign(customer_id=np.nan))
    env.lake.commit("bug", "bad raw partition")
    env.lake.merge("bug", MAIN)
    before = env.lake.resolve(MAIN)
    staged_before = env.lake.get(MAIN, table_path(["stg_landing__transactions"], DAY))

    instance = DagsterInstance.ephemeral()
    result = materialize(
        [dbt_models],
        partition_key=DAY,
        resources=build_resources(env.settings),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert "not_null_stg_landing__transactions_customer_id" in failed
    with pytest.raises(NotPublishable, match="did not succeed"):
        env.publish(instance, result.run_id)
    assert env.lake.resolve(MAIN) == before
    assert env.lake.get(MAIN, table_path(["stg_landing__transactions"], DAY)) == staged_before
