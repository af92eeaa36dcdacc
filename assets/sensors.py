"""Sensors that react to new data."""

import json
from datetime import datetime

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.jobs import daily_job, models_job, monitoring_job, predictions_job, serving_job, training_job
from assets.partitions import DAILY, TRAINING_WEEKS
from assets.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from mlplatform.automation import WATCHED, performance_counted, plan
from mlplatform.lake import MAIN
from mlplatform.lake.tables import stored_partitions
from mlplatform.lake.wap import RUN_PREFIX
from mlplatform.retraining import REASON_TAG, RetrainPolicy, next_untrained_week, retrain_reason
from mlplatform.tracking import champion_record, champion_version, versions
from resources import LakeResource, LandingZoneResource, MlflowResource


def new_days(completed: list[str], seen: set[str], materialized: set[str], valid: set[str]) -> list[str]:
    """Completed days not yet requested nor already materialized, in any order they arrive."""
    return [d for d in completed if d not in seen and d not in materialized and d in valid]


@sensor(job=daily_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def landing_zone_sensor(context: SensorEvaluationContext, landing_zone: LandingZoneResource):
    """Requests the daily run of each day whose landing is complete, exactly once per day."""
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    completed = landing_zone.get().completed_days()
    materialized = context.instance.get_materialized_partitions(AssetKey("raw_transactions"))
    valid = set(DAILY.get_partition_keys(dynamic_partitions_store=context.instance))
    days = new_days(completed, seen, materialized, valid)
    return SensorResult(
        run_requests=[RunRequest(run_key=f"daily-{d}", partition_key=d) for d in days],
        cursor=json.dumps(sorted(seen | set(days) | (set(completed) & materialized))),
    )


@sensor(job=serving_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def champion_changed(context: SensorEvaluationContext, mlflow: MlflowResource):
    """Requests the Bento of each new champion (once per version): the registry's alias is watched."""
    version = champion_version(mlflow.get())
    if version is None or version == context.cursor:
        return SkipReason(f"champion: {version or 'none yet'}, packaged already" if version else "no champion yet")
    return SensorResult(run_requests=[RunRequest(run_key=f"bento-v{version}")], cursor=version)


@sensor(job=models_job, minimum_interval_seconds=3600, default_status=DefaultSensorStatus.RUNNING)
def retrain_on_drift_or_decay(context: SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    """Requests the next week's model early when main's monitoring says the champion drifted or decayed
    (mlplatform/retraining.py); the run carries the reason in its tags."""
    tracking = mlflow.get()
    reason = retrain_reason(lake.get(), champion_record(tracking), RetrainPolicy())
    if reason is None:
        return SkipReason("no drift or performance drop over the thresholds on main")
    week = next_untrained_week(lake.get(), {r.week for r in versions(tracking)})
    if week is None:
        return SkipReason(f"{reason}; no training set on main is waiting for its model")
    if context.instance.get_runs(RunsFilter(job_name=models_job.name, tags={"dagster/partition": week}), limit=1):
        return SkipReason(f"{reason}; week {week}'s model already has a run (downstream_of_main requested it)")
    context.log.info(f"requesting the model of week {week} early: {reason}")
    return RunRequest(run_key=f"retrain-{week}", partition_key=week, tags={REASON_TAG: reason})


_DOWNSTREAM = [training_job, models_job, predictions_job, monitoring_job]
_UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@sensor(jobs=_DOWNSTREAM, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def downstream_of_main(context: SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    """Requests what published data makes due (mlplatform/automation.py): each complete week's training set,
    the weeks' models in order, the predictions of days whose champion is settled, their monitoring. A job
    with a run unfinished or not yet published waits, so nothing starts from unpublished data."""
    store = lake.get()
    published = {asset: set(stored_partitions(store, MAIN, [asset])) for asset in WATCHED}
    records = versions(mlflow.get())
    names = [job.name for job in _DOWNSTREAM]
    busy = {r.job_name for r in context.instance.get_runs(RunsFilter(statuses=_UNFINISHED))}
    kept = [name[len(RUN_PREFIX) :] for name in store.branches() if name.startswith(RUN_PREFIX)]
    for run_id in kept:  # a branch outlives its run until published (or, for a failure, until it expires)
        run = context.instance.get_run_by_id(run_id)
        if run is not None and run.status == DagsterRunStatus.SUCCESS:
            busy.add(run.job_name)
    weeks = list(TRAINING_WEEKS.get_partition_keys(current_time=datetime(2100, 1, 1)))
    starts = [r.champion_from for r in records if r.champion_from]
    counted = performance_counted(store, published["batch_predictions"])
    due = plan(published, {r.week for r in records}, busy & set(names), weeks, starts, counted)
    if not due:
        return SkipReason(f"nothing new on main to act on (busy: {', '.join(sorted(busy & set(names))) or 'none'})")
    return SensorResult(
        run_requests=[
            RunRequest(
                job_name=r.job,
                run_key=r.key,
                partition_key=r.first if r.first == r.last else None,
                tags={} if r.first == r.last else {PARTITION_RANGE_START: r.first, PARTITION_RANGE_END: r.last},
            )
            for r in due
        ]
    )
