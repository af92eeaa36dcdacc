"""The main job: sources for N days, one Dagster run over the partition range, publish, summary."""

import contextlib
import os
import time
from dataclasses import dataclass, replace
from datetime import date, datetime

import pandas as pd
from dagster import DagsterEventType, DagsterInstance

from assets.definitions import build_definitions
from assets.partitions import TRAINING_WEEKS
from assets.publishing import NotPublishable, publish_run
from mlplatform.config import Settings
from mlplatform.lake.wap import Publication
from mlplatform.sources.demo_data import Source, prepare
from mlplatform.sources.fraud_api import create_app, serve_in_thread
from mlplatform.training_sets import Split, input_days

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


@dataclass
class DemoResult:
    days: list[str]
    run_ids: list[str]  # the daily run, then the training run when a week is complete
    success: bool  # every run succeeded and was published
    publications: list[Publication]
    row_counts: dict[str, dict[str, int]]
    seconds: dict[str, float]


def ensure_dagster_home(settings: Settings) -> DagsterInstance:
    """The project-local Dagster instance (the one `dagster dev` shows), telemetry off."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def _run(defs, job_name: str, first: str, last: str, instance: DagsterInstance):
    """One Dagster run over a partition range (a single-run backfill)."""
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        tags={PARTITION_RANGE_START: first, PARTITION_RANGE_END: last},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def _row_counts(instance: DagsterInstance, run_id: str, into: dict[str, dict[str, int]]) -> None:
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.asset_materialization
        if mat is None:
            continue
        totals = into.setdefault(mat.asset_key.to_user_string(), {})
        for key in ("rows_in", "accepted", "quarantined", "row_count"):
            if key in mat.metadata:
                totals[key] = totals.get(key, 0) + int(mat.metadata[key].value)


def complete_training_weeks(days: list[str]) -> list[str]:
    """Weeks whose training set can be built: features to the test end and reports a week beyond."""
    return [
        week
        for week in TRAINING_WEEKS.get_partition_keys(current_time=datetime(2100, 1, 1))
        if week >= days[0] and input_days(Split(date.fromisoformat(week)))[1][-1] <= days[-1]
    ]


def run_demo(settings: Settings, days: int, source: Source = "parquet", on_day=None) -> DemoResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    sources = prepare(settings, days, source, on_day=on_day)
    timings["sources"] = time.perf_counter() - started

    counts: dict[str, dict[str, int]] = {}
    publications: list[Publication] = []
    success = True
    run_ids = []
    api = serve_in_thread(create_app(pd.read_parquet(sources.reports_path), settings.fraud_api_token))
    try:
        settings = replace(settings, fraud_api_url=api.url)
        defs = build_definitions(settings)
        instance = ensure_dagster_home(settings)
        lake = defs.resources["lake"].get()
        weeks = complete_training_weeks(sources.days)
        stages = [("daily", sources.days[0], sources.days[-1])]
        if weeks:
            stages.append(("training", weeks[0], weeks[-1]))
        for job_name, first, last in stages:
            started = time.perf_counter()
            result = _run(defs, job_name, first, last, instance)
            timings[f"{job_name}_run"] = time.perf_counter() - started
            run_ids.append(result.run_id)
            _row_counts(instance, result.run_id, counts)
            started = time.perf_counter()
            publication = None
            with contextlib.suppress(NotPublishable):  # a failed run stays on its branch; the caller reports it
                publication = publish_run(instance, result.run_id, lake)
            timings[f"{job_name}_publish"] = time.perf_counter() - started
            if not (result.success and publication and publication.commit):
                success = False
                break
            publications.append(publication)
    finally:
        api.stop()
    return DemoResult(sources.days, run_ids, success, publications, counts, timings)
