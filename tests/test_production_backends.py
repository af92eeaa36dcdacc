"""Production backends: the raw-source assets with the landing zone on S3 (SeaweedFS) and the source DB on
PostgreSQL; the project's Dagster instance on PostgreSQL."""

import uuid

import pandas as pd
import pytest
from dagster import DagsterInstance

from assets.publishing import PUBLICATION_TAG
from assets.runs import project_instance
from mlplatform.config import DAGSTER_STORAGE, ConfigError, Settings, handbook_path
from mlplatform.demo import prepare
from mlplatform.lake.tables import read_table, table_path
from tests.platform_env import PlatformEnv

pytestmark = [
    pytest.mark.slow,
    pytest.mark.services,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]


def test_raw_sources_from_s3_and_postgresql(tmp_path, monkeypatch, s3_server, s3_bucket, postgres_schema_url):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings.from_env(
        {
            "MLPLATFORM_HOME": str(tmp_path),
            "MLPLATFORM_LANDING_URI": f"s3://{s3_bucket}/landing",
            "MLPLATFORM_SOURCE_DB_URL": postgres_schema_url,
        }
    )
    sources = prepare(settings, days=2)
    env = PlatformEnv(settings, pd.read_parquet(sources.reports_path))
    env.start_api()
    try:
        instance = DagsterInstance.ephemeral()
        result = env.run("2018-04-02", instance)
        assert result.success
        publication = env.publish(instance, result.run_id)
    finally:
        env.stop_api()
    assert publication.commit is not None
    landed = s3_server["client"].list_objects_v2(Bucket=s3_bucket, Prefix="landing/transactions/date=2018-04-02/")
    assert any(o["Key"].endswith("_SUCCESS") for o in landed["Contents"])
    tx = read_table(env.lake, "main", table_path(["raw_transactions"], "2018-04-02"))
    published = pd.read_parquet(handbook_path(), filters=[("TX_TIME_DAYS", "==", 1)])
    assert sorted(tx["transaction_id"]) == sorted(published["TRANSACTION_ID"])
    customers = read_table(env.lake, "main", table_path(["raw_customers"], "2018-04-02"))
    assert len(customers) == 5_000 and customers["email"].str.contains("@").all()


@pytest.fixture
def dagster_database(postgres_url):
    """A fresh PostgreSQL database for a Dagster instance's storage, dropped afterwards."""
    import psycopg

    server = postgres_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    name = f"mlp_dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"create database {name}")
    yield f"{server.replace('postgresql://', 'postgresql+psycopg2://')}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"drop database {name} with (force)")


def test_the_project_instance_keeps_runs_and_events_in_postgresql(tmp_path, monkeypatch, dagster_database):
    import psycopg

    monkeypatch.setenv(DAGSTER_STORAGE, dagster_database)
    settings = Settings.from_env({"MLPLATFORM_HOME": str(tmp_path), DAGSTER_STORAGE: dagster_database})
    sources = prepare(settings, days=1)
    env = PlatformEnv(settings, pd.read_parquet(sources.reports_path))
    instance = project_instance(settings)
    config = (settings.dagster_home / "dagster.yaml").read_text()
    assert f"env: {DAGSTER_STORAGE}" in config and dagster_database not in config  # the URL stays in the variable
    env.start_api()
    try:
        result = env.run_day("2018-04-01", instance)
        assert result.success
        env.publish(instance, result.run_id)
    finally:
        env.stop_api()
        instance.dispose()
    # Read back from PostgreSQL itself: the run, its publication tag and its materializations.
    with psycopg.connect(dagster_database.replace("+psycopg2", "")) as db:
        assert db.execute("select run_id, status from runs").fetchall() == [(result.run_id, "SUCCESS")]
        (tag,) = db.execute(
            "select value from run_tags where run_id = %s and key = %s", [result.run_id, PUBLICATION_TAG]
        ).fetchone()
        partitions = db.execute(
            "select partition from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION' and asset_key = %s",
            ['["raw_transactions"]'],
        ).fetchall()
    assert tag == f"published {env.lake.resolve('main')}"
    assert partitions == [("2018-04-01",)]
    assert not (settings.dagster_home / "history").exists()  # no SQLite storage beside it


def test_a_dagster_storage_that_is_not_postgresql_is_refused():
    with pytest.raises(ConfigError, match=f"{DAGSTER_STORAGE}='mysql://host/db'"):
        Settings.from_env({DAGSTER_STORAGE: "mysql://host/db"})
    with pytest.raises(ConfigError, match=f"{DAGSTER_STORAGE}='postgresql://...': expected postgresql\\+psycopg2://"):
        Settings.from_env({DAGSTER_STORAGE: "postgresql://me:secret@host/db"})
