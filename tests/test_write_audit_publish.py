"""Write-audit-publish through real Dagster runs: publish on success, main untouched otherwise."""

import json
import multiprocessing as mp

import numpy as np
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from assets.publishing import PUBLICATION_TAG, NotPublishable
from mlplatform.config import handbook_path
from mlplatform.features.definitions import FRAUD
from mlplatform.lake import MergeConflict
from mlplatform.lake.tables import from_parquet, read_table, table_path
from mlplatform.lake.wap import StaleInputs
from mlplatform.online_store import open_online_store
from tests.platform_env import main_snapshot, make_env

pytestmark = [  # end-to-end Dagster runs, each a few seconds
    pytest.mark.slow,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]
DAY = "2018-04-02"


@pytest.fixture
def env(tmp_path):
    env = make_env(tmp_path / "home", days=3)
    env.start_api()
    yield env
    env.stop_api()


def test_successful_run_is_published_in_one_commit_with_lineage(env):
    instance = DagsterInstance.ephemeral()
    result = env.run(DAY, instance)
    assert result.success
    lake = env.lake
    assert lake.list("main") == []  # nothing reaches main before publication
    publication = env.publish(instance, result.run_id)

    commit = publication.commit
    assert commit.metadata["run_id"] == result.run_id
    assert commit.metadata["partitions"] == DAY
    assert set(commit.metadata["asset_keys"].split(",")) >= {"raw_transactions", "raw_fraud_reports", "raw_customers"}
    assert commit.metadata["code_version"]
    assert lake.log("main", limit=1)[0].id == commit.id
    assert f"runs/{result.run_id}" not in lake.branches()  # deleted after the merge
    assert instance.get_run_by_id(result.run_id).tags[PUBLICATION_TAG] == f"published {commit.id}"

    tx = read_table(lake, "main", table_path(["raw_transactions"], DAY))
    assert len(tx) > 9_000
    assert tx["tx_datetime"].dt.strftime("%Y-%m-%d").eq(DAY).all()
    reports = read_table(lake, "main", table_path(["raw_fraud_reports"], DAY))
    assert (reports["reported_at"].dt.strftime("%Y-%m-%d") == DAY).all()
    assert "name" not in tx.columns and "email" not in reports.columns

    # The materialization records where its data is: reading that commit gives the same rows back.
    mat = instance.fetch_materializations(AssetKey("raw_transactions"), limit=1).records[0].asset_materialization
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["rows_in"] == meta["accepted"] + meta["quarantined"] == meta["row_count"] == len(tx)
    at_commit = from_parquet(lake.get(meta["commit_id"], meta["path"]))
    assert at_commit.equals(tx)
    assert mat.tags["dagster/data_version"] == meta["content_hash"]


def _land_bad_records(env, share: float) -> int:
    """Adds a late file of negative-amount records (new ids) to the day; returns how many."""
    zone_root = env.settings.home / "landing" / "transactions" / f"date={DAY}"
    good = [line for part in sorted(zone_root.glob("part-*.ndjson")) for line in part.read_text().splitlines()]
    n = int(len(good) * share / (1 - share)) + 1
    bad = [
        json.dumps({**json.loads(line), "transaction_id": 10**9 + i, "tx_amount": -1})
        for i, line in enumerate(good[:n])
    ]
    (zone_root / "part-99.ndjson").write_text("\n".join(bad))
    return n


def test_failing_blocking_check_keeps_main_unchanged(env):
    instance = DagsterInstance.ephemeral()
    env.publish(instance, env.run("2018-04-01", instance).run_id)
    before = env.lake.resolve("main")
    n_bad = _land_bad_records(env, share=0.10)  # 10 % bad records, above the 5 % limit

    result = env.run(DAY, instance)
    assert not result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["quarantine_rate"] is False
    with pytest.raises(NotPublishable, match="did not succeed"):
        env.publish(instance, result.run_id)
    assert env.lake.resolve("main") == before
    assert not env.lake.exists("main", table_path(["raw_transactions"], DAY))
    # The failed run's branch is kept for inspection, with the quarantined records in it.
    branch = f"runs/{result.run_id}"
    assert branch in env.lake.branches()
    quarantine = read_table(env.lake, branch, table_path(["raw_transactions_quarantine"], DAY))
    assert (quarantine["reason"] == "out of range: tx_amount must be from 0.0 to 1000000000.0").sum() == n_bad


def test_crash_mid_run_leaves_main_untouched_and_a_rerun_converges(env, tmp_path):
    instance = DagsterInstance.ephemeral()
    env.stop_api()  # the provider is down: raw_fraud_reports fails after the other sources were written
    crashed = env.run(DAY, instance)
    assert not crashed.success
    assert env.lake.list("main") == []
    assert env.lake.list(f"runs/{crashed.run_id}", "tables/raw_transactions/")  # partial work exists on the branch

    env.start_api()
    rerun = env.run(DAY, instance)
    assert rerun.success
    env.publish(instance, rerun.run_id)

    # The same partition run cleanly on a fresh platform gives byte-identical tables.
    clean = make_env(tmp_path / "clean", days=3)
    clean.start_api()
    try:
        clean_instance = DagsterInstance.ephemeral()
        clean.publish(clean_instance, clean.run(DAY, clean_instance).run_id)
    finally:
        clean.stop_api()
    assert main_snapshot(env.lake) == main_snapshot(clean.lake)


def test_same_partition_with_different_content_never_silently_overwrites(env):
    instance = DagsterInstance.ephemeral()
    first = env.run(DAY, instance)
    _land_bad_records(env, share=0.01)  # changes the day's data, still under the limit
    second = env.run(DAY, instance)
    assert first.success and second.success
    env.publish(instance, first.run_id)
    published = env.lake.resolve("main")
    with pytest.raises(MergeConflict, match="raw_transactions"):
        env.publish(instance, second.run_id)
    assert env.lake.resolve("main") == published
    assert f"runs/{second.run_id}" in env.lake.branches()


def _run_partition(home: str, api_url: str, token: str, day: str, queue) -> None:
    from dataclasses import replace

    import pandas as pd
    from dagster import DagsterInstance

    from mlplatform.config import Settings
    from tests.platform_env import PlatformEnv

    settings = replace(Settings.from_env({"MLPLATFORM_HOME": home}), fraud_api_url=api_url, fraud_api_token=token)
    env = PlatformEnv(settings, pd.DataFrame())
    instance = DagsterInstance.ephemeral()
    result = env.run(day, instance)
    publication = env.publish(instance, result.run_id)
    queue.put((day, result.success, publication.commit.id))


def test_two_concurrent_runs_of_different_partitions_both_publish(env):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_run_partition, args=(str(env.settings.home), env.api.url, env.settings.fraud_api_token, day, queue)
        )
        for day in ("2018-04-01", "2018-04-02")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
        assert p.exitcode == 0
    outcomes = sorted(queue.get(timeout=5) for _ in procs)
    assert [o[1] for o in outcomes] == [True, True]
    lake = env.lake
    for day in ("2018-04-01", "2018-04-02"):
        assert lake.exists("main", table_path(["raw_transactions"], day))
    published = {c.id for c in lake.log("main")}
    assert {o[2] for o in outcomes} <= published


def test_range_run_publishes_every_partition_in_one_merge(env):
    instance = DagsterInstance.ephemeral()
    result = env.run_range("2018-04-01", "2018-04-03", instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    publication = env.publish(instance, result.run_id)
    assert publication.commit.metadata["partitions"] == "2018-04-01..2018-04-03 (3)"
    # One path per materialized (asset, partition): 5 sources and their quarantines, 5 dbt models, features,
    # online rows.
    materialized = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    assert publication.changed_paths == len(materialized) == 17 * 3
    for asset in ("raw_transactions", "transaction_features"):
        days = [p.split("date=")[1][:10] for p in env.lake.list("main", f"tables/{asset}/")]
        assert days == ["2018-04-01", "2018-04-02", "2018-04-03"]
    tx = read_table(env.lake, "main", table_path(["raw_transactions"], "2018-04-03"))
    features = read_table(env.lake, "main", table_path(["transaction_features"], "2018-04-03"))
    assert sorted(features["transaction_id"]) == sorted(tx["transaction_id"])

    # The online features passed their parity check on every row, and publishing loaded them into the store.
    (parity,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "parity"]
    days = ("2018-04-01", "2018-04-02", "2018-04-03")
    rows = sum(len(read_table(env.lake, "main", table_path(["raw_transactions"], d))) for d in days)
    assert parity.passed and parity.metadata["rows"].value == rows
    with open_online_store(env.settings.online_store, FRAUD) as store:
        assert sorted(store.loaded()) == list(days)
        stored = store.histories("customer_id", np.unique(tx["customer_id"].to_numpy())).transaction_id
        assert set(tx["transaction_id"]) <= set(stored.tolist())


def test_publish_sensor_publishes_successful_runs_and_skips_failed_ones(env):
    from dagster import DagsterEventType, build_run_status_sensor_context

    from assets.publishing import publish_successful_runs
    from resources import build_resources

    resources = build_resources(env.settings)
    sensor_resources = {k: resources[k] for k in publish_successful_runs.required_resource_keys}
    instance = DagsterInstance.ephemeral()

    def tick(result):
        run = instance.get_run_by_id(result.run_id)
        status_type = DagsterEventType.RUN_SUCCESS if result.success else DagsterEventType.RUN_FAILURE
        event = instance.get_records_for_run(result.run_id, of_type=status_type).records[0].event_log_entry
        context = build_run_status_sensor_context(
            sensor_name="publish_successful_runs",
            dagster_event=event.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
        )
        return publish_successful_runs(context, **sensor_resources)

    ok = env.run("2018-04-01", instance)
    tick(ok)
    assert env.lake.get_commit("main").metadata["run_id"] == ok.run_id

    _land_bad_records(env, share=0.10)
    failed = env.run(DAY, instance)
    skipped = tick(failed)
    assert "did not succeed" in skipped.skip_message
    assert env.lake.get_commit("main").metadata["run_id"] == ok.run_id


def test_a_run_whose_inputs_changed_on_main_since_it_started_is_refused(env):
    """Issue 12's defect 3: a later day's features computed from an earlier day's old data once published."""
    instance = DagsterInstance.ephemeral()
    for day in ("2018-04-01", DAY):
        env.publish(instance, env.run_day(day, instance).run_id)
    landing = env.settings.home / "landing" / "transactions"
    buyer = json.loads((landing / f"date={DAY}" / "part-10.ndjson").read_text().splitlines()[0])
    # A late transaction lands for day 1, in its last second, by a customer who buys on day 2 as well.
    late = buyer | {"transaction_id": 10**9, "tx_datetime": "2018-04-01T23:59:59"}
    (landing / "date=2018-04-01" / "part-99.ndjson").write_text(json.dumps(late))
    # Day 2 gets a late transaction of its own, so its run has something new to publish.
    (landing / f"date={DAY}" / "part-99.ndjson").write_text(json.dumps(buyer | {"transaction_id": 10**9 + 1}))
    day1 = env.run_day("2018-04-01", instance)  # day 1 again, with the late transaction...
    day2 = env.run_day(DAY, instance)  # ...while day 2 runs from main's old day 1 (its features read it)
    assert day1.success and day2.success
    # Issue 12's defect 9: a successful run leaves no scratch (dbt's DuckDB copy) behind.
    assert not (env.settings.home / "work" / day1.run_id).exists()
    assert not (env.settings.home / "work" / day2.run_id).exists()
    env.publish(instance, day1.run_id)
    before = env.lake.resolve("main")
    with pytest.raises(StaleInputs, match=r"read \d+ table\(s\) that main changed since it started"):
        env.publish(instance, day2.run_id)
    assert env.lake.resolve("main") == before and f"runs/{day2.run_id}" in env.lake.branches()
    refusal = instance.get_run_by_id(day2.run_id).tags[PUBLICATION_TAG]  # decided: the automation moves on
    assert refusal.startswith(f"refused: run {day2.run_id} read ")
    # Run again on today's main, day 2 publishes (its features now count the late transaction).
    rerun = env.run_day(DAY, instance)
    assert env.publish(instance, rerun.run_id).commit is not None
