"""The main job's time: `mlplatform demo --days 183` as one run, against one Dagster run per day; and the same
demo with the Dagster instance on PostgreSQL (dagster-postgres) instead of its SQLite files, stage by stage.
The PostgreSQL server is MLPLATFORM_BENCH_POSTGRES (default: the machine's, 127.0.0.1:5432)."""

import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd
from dagster import BetaWarning, DagsterInstance

from assets.definitions import build_definitions
from mlplatform.config import DAGSTER_STORAGE, Settings
from mlplatform.demo import DemoResult, create_app, new_token, reports_path, run_demo, serve_in_thread

POSTGRES = os.environ.get("MLPLATFORM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


@contextmanager
def dagster_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server for the instance, dropped after."""
    import psycopg

    name = f"bench_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        yield f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg2://')}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f"drop database {name} with (force)")


def on_postgres(home: Path, days: int) -> DemoResult | None:
    """The demo with the project's instance on PostgreSQL (None if the server is not reachable)."""
    import psycopg

    try:
        with dagster_database() as url:
            os.environ[DAGSTER_STORAGE] = url  # each process of the instance reads it from there
            try:
                result = run_demo(Settings.from_env({"MLPLATFORM_HOME": str(home), DAGSTER_STORAGE: url}), days)
            finally:
                del os.environ[DAGSTER_STORAGE]
    except psycopg.OperationalError as error:  # no server here (psycopg is only the bench's admin client)
        print(f"(the instance on PostgreSQL is not measured: {error})")
        return None
    assert result.success
    return result


def main(quick: bool = False) -> None:
    warnings.filterwarnings("ignore", category=BetaWarning)
    days = 14 if quick else 183
    per_day_sample = 7
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"MLPLATFORM_HOME": str(Path(tmp) / "single")})
        started = time.perf_counter()
        result = run_demo(settings, days)
        total = time.perf_counter() - started
        assert result.success
        rows = result.row_counts["raw_transactions"]["accepted"]
        print(f"demo --days {days}: {total:.1f} s in total ({rows:,} transactions, one Dagster run)")
        postgres = on_postgres(Path(tmp) / "postgres", days)
        print(f"  {'stage':<12} {'SQLite':>9} {'PostgreSQL':>11}   (the Dagster instance's storage)")
        for stage, seconds in result.seconds.items():
            other = f"{postgres.seconds[stage]:9.1f} s" if postgres else "        -"
            print(f"  {stage:<12} {seconds:7.1f} s {other}")
        run_s = result.seconds["daily"]

        # The alternative: one run per partition (what a per-day backfill would launch), on a sample of days.
        token = new_token()
        api = serve_in_thread(create_app(pd.read_parquet(reports_path(settings)), token))
        try:
            job = build_definitions(replace(settings, fraud_api_url=api.url, fraud_api_token=token)).resolve_job_def(
                "daily"
            )
            instance = DagsterInstance.ephemeral()
            started = time.perf_counter()
            for day in result.days[:per_day_sample]:
                job.execute_in_process(
                    instance=instance,
                    partition_key=day,
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                )
            per_run = (time.perf_counter() - started) / per_day_sample
        finally:
            api.stop()
    estimate = per_run * days
    print(f"one run per day: {per_run:.2f} s per run -> ~{estimate:.0f} s for {days} days")
    print(f"single-run backfill is {estimate / run_s:.1f}x faster than one run per day")
