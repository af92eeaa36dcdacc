"""The main job: sources for N days, one Dagster run over the partition range, publish, summary."""

import contextlib
import os
import time
from dataclasses import dataclass, replace

import pandas as pd
from dagster import DagsterEventType, DagsterInstance

from assets.definitions import build_definitions
from assets.publishing import NotPublishable, publish_run
from mlplatform.config import Settings
from mlplatform.lake.wap import Publication
from mlplatform.sources.demo_data import Source, prepare
from mlplatform.sources.fraud_api import create_app, serve_in_thread

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


@dataclass
class DemoResult:
    days: list[str]
    run_id: str
    success: bool
    publication: Publication | None
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


def run_demo(settings: Settings, days: int, source: Source = "parquet", on_day=None) -> DemoResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    sources = prepare(settings, days, source, on_day=on_day)
    timings["sources"] = time.perf_counter() - started

    api = serve_in_thread(create_app(pd.read_parquet(sources.reports_path), settings.fraud_api_token))
    try:
        settings = replace(settings, fraud_api_url=api.url)
        defs = build_definitions(settings)
        instance = ensure_dagster_home(settings)
        job = defs.resolve_job_def("daily")
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START: sources.days[0], PARTITION_RANGE_END: sources.days[-1]},
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        timings["dagster_run"] = time.perf_counter() - started
    finally:
        api.stop()

    counts: dict[str, dict[str, int]] = {}
    for record in instance.get_records_for_run(result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.asset_materialization
        if mat is None:
            continue
        totals = counts.setdefault(mat.asset_key.to_user_string(), {})
        for key in ("rows_in", "accepted", "quarantined", "row_count"):
            if key in mat.metadata:
                totals[key] = totals.get(key, 0) + int(mat.metadata[key].value)
    publication = None
    started = time.perf_counter()
    with contextlib.suppress(NotPublishable):  # a failed run stays on its branch; the caller reports it
        publication = publish_run(instance, result.run_id, defs.resources["lake"].get())
    timings["publish"] = time.perf_counter() - started
    return DemoResult(sources.days, result.run_id, result.success, publication, counts, timings)
