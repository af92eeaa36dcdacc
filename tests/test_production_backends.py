"""The raw-source assets on production backends: landing zone on S3 (SeaweedFS), source DB on PostgreSQL."""

import pandas as pd
import pytest
from dagster import DagsterInstance

from mlplatform.config import Settings, handbook_path
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
