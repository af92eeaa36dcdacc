"""The main job: sources for N days, one Dagster run over the partition range, publish, summary."""

import contextlib
import os
import time
from dataclasses import dataclass, field, replace
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
from mlplatform.tracking import Tracking, versions
from mlplatform.training_sets import Split, input_days

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


@dataclass
class DemoResult:
    days: list[str]
    run_ids: list[str]  # daily, training (when a week is complete), one per model week, predictions
    success: bool  # every data run succeeded and was published (a refused challenger is not a failure)
    publications: list[Publication]
    row_counts: dict[str, dict[str, int]]
    seconds: dict[str, float]
    models: list[dict[str, object]] = field(default_factory=list)  # per week: version, metrics, decision
    predicted_days: list[str] = field(default_factory=list)


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


def _promotion(instance: DagsterInstance, run_id: str) -> dict[str, object]:
    """The promotion check's metadata of a model run (version, decision, metric values)."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.check_name == "promotion":
            return {"passed": evaluation.passed, **{k: v.value for k, v in evaluation.metadata.items()}}
    return {"passed": False, "reason": "the model step failed before its promotion check"}


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
    models: list[dict[str, object]] = []
    predicted: list[str] = []
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
        # Models: one run per week, in order, so each is compared with the champion of its decision day.
        stages += [("models", week, week) for week in weeks]
        for job_name, first, last in stages:
            started = time.perf_counter()
            result = _run(defs, job_name, first, last, instance)
            timings[f"{job_name}_run"] = timings.get(f"{job_name}_run", 0.0) + time.perf_counter() - started
            run_ids.append(result.run_id)
            _row_counts(instance, result.run_id, counts)
            if job_name == "models":
                models.append({"week": first, **_promotion(instance, result.run_id)})
                if not models[-1]["passed"]:
                    continue  # refused: the branch is kept for inspection, main and the champion are unchanged
            publication = _publish(instance, result.run_id, lake, timings, job_name)
            if not (result.success and publication and publication.commit):
                success = False
                break
            publications.append(publication)
        # Days with a champion in force (from this demo or an earlier one on the same home).
        starts = [r.champion_from for r in versions(Tracking.from_env(settings.home)) if r.champion_from]
        predicted = [d for d in sources.days if starts and d >= min(starts)]
        if success and predicted:
            started = time.perf_counter()
            result = _run(defs, "predictions", predicted[0], predicted[-1], instance)
            timings["predictions_run"] = time.perf_counter() - started
            run_ids.append(result.run_id)
            _row_counts(instance, result.run_id, counts)
            publication = _publish(instance, result.run_id, lake, timings, "predictions")
            if result.success and publication and publication.commit:
                publications.append(publication)
            else:
                success = False
    finally:
        api.stop()
    return DemoResult(sources.days, run_ids, success, publications, counts, timings, models, predicted)


def _publish(instance: DagsterInstance, run_id: str, lake, timings: dict[str, float], job_name: str):
    started = time.perf_counter()
    publication = None
    with contextlib.suppress(NotPublishable):  # a failed run stays on its branch; the caller reports it
        publication = publish_run(instance, run_id, lake)
    timings[f"{job_name}_publish"] = timings.get(f"{job_name}_publish", 0.0) + time.perf_counter() - started
    return publication
