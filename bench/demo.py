"""The main job's time: `mlplatform demo --days 183` as one run, against one Dagster run per day."""

import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from dagster import BetaWarning, DagsterInstance

from assets.definitions import build_definitions
from mlplatform.config import Settings
from mlplatform.demo import create_app, new_token, reports_path, run_demo, serve_in_thread


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
        for stage, seconds in result.seconds.items():
            print(f"  {stage:<12} {seconds:7.1f} s")
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
