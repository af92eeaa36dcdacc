"""A small platform on tmp_path: sources for a few days, resources, and helpers to run and publish."""

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, materialize

from assets.definitions import build_definitions
from assets.publishing import Effects, publish_run
from assets.raw_sources import RAW_ASSETS
from mlplatform.config import Settings
from mlplatform.demo import RunningServer, create_app, new_token, prepare, serve_in_thread
from mlplatform.features.definitions import FRAUD
from mlplatform.lake import LocalLake
from mlplatform.online_store import open_online_store
from mlplatform.tracking import Tracking
from resources import build_resources


@dataclass
class PlatformEnv:
    settings: Settings
    reports: pd.DataFrame
    api: RunningServer | None = None

    @property
    def lake(self) -> LocalLake:
        return LocalLake(self.settings.lake.root)

    def start_api(self) -> None:
        token = self.settings.fraud_api_token or new_token()
        self.api = serve_in_thread(create_app(self.reports, token))
        self.settings = replace(self.settings, fraud_api_url=self.api.url, fraud_api_token=token)

    def stop_api(self) -> None:
        if self.api:
            self.api.stop()
            self.api = None
            # Nothing listens here any more: the next run's fetch fails.
            self.settings = replace(self.settings, fraud_api_url="http://127.0.0.1:9")

    def run(self, partition: str, instance: DagsterInstance, **config):
        run_config = (
            {
                "ops": {
                    name: {"config": config}
                    for name in ("raw_transactions", "raw_customers", "raw_terminals", "raw_fraud_reports")
                }
            }
            if config
            else None
        )
        return materialize(
            RAW_ASSETS,
            partition_key=partition,
            resources=build_resources(self.settings),
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
        )

    def run_day(self, day: str, instance: DagsterInstance):
        """The `daily` job for one partition, as the landing-zone sensor launches it."""
        return self.run_job("daily", day, instance)

    def run_job(self, name: str, partition: str, instance: DagsterInstance, run_config: dict | None = None):
        job = build_definitions(self.settings).resolve_job_def(name)
        return job.execute_in_process(
            instance=instance, partition_key=partition, raise_on_error=False, run_config=run_config
        )

    def run_range(self, first: str, last: str, instance: DagsterInstance, job_name: str = "daily"):
        job = build_definitions(self.settings).resolve_job_def(job_name)
        return job.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
            raise_on_error=False,
        )

    def publish(self, instance: DagsterInstance, run_id: str):
        with open_online_store(self.settings.online_store, FRAUD) as store:
            effects = Effects(store, self.settings.bentoml_home, Tracking.of(self.settings))
            return publish_run(instance, run_id, self.lake, effects)


def make_env(root: Path, days: int) -> PlatformEnv:
    settings = Settings.from_env({"MLPLATFORM_HOME": str(root)})
    sources = prepare(settings, days, "parquet")
    return PlatformEnv(settings, pd.read_parquet(sources.reports_path))


def main_snapshot(lake: LocalLake) -> dict[str, bytes]:
    return {path: lake.get("main", path) for path in lake.list("main")}
