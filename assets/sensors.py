"""Sensors that react to new data."""

import json
from datetime import datetime

from dagster import (
    DagsterInstance,
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
from assets.publishing import awaiting_publication
from assets.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from mlplatform.automation import WATCHED, daily_due, performance_counted, plan
from mlplatform.features.definitions import FRAUD
from mlplatform.lake import MAIN, Lake
from mlplatform.lake.tables import stored_partitions
from mlplatform.lake.wap import RUN_PREFIX
from mlplatform.retraining import REASON_TAG, RetrainPolicy, next_untrained_week, retrain_reason
from mlplatform.tracking import champion_record, champion_version, versions
from resources import LakeResource, LandingZoneResource, MlflowResource

_UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def busy_jobs(instance: DagsterInstance, store: Lake, jobs: list[str]) -> set[str]:
    """Those of `jobs` with a run unfinished, or succeeded and not yet published (its branch is kept until the
    publish sensor merges it). A job that is busy gets no new request, so nothing starts from unpublished data."""
    busy = {r.job_name for r in instance.get_runs(RunsFilter(statuses=_UNFINISHED))}
    for name in store.branches():
        run = instance.get_run_by_id(name[len(RUN_PREFIX) :]) if name.startswith(RUN_PREFIX) else None
        if run is not None and awaiting_publication(run):
            busy.add(run.job_name)
    return busy & set(jobs)


def _request(job: str, first: str, last: str, key: str, tags: dict[str, str] | None = None) -> RunRequest:
    """A run of `job` over the partitions first..last (one partition, or a range run)."""
    span = {} if first == last else {PARTITION_RANGE_START: first, PARTITION_RANGE_END: last}
    return RunRequest(
        job_name=job,
        run_key=key,
        partition_key=first if first == last else None,
        tags={**span, **(tags or {})},
    )


@sensor(job=daily_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def landing_zone_sensor(context: SensorEvaluationContext, landing_zone: LandingZoneResource, lake: LakeResource):
    """Requests the daily run of the completed days that come next (mlplatform/automation.py `daily_due`): in
    day order, once each, consecutive days in one run, each only when the history it reads is on main."""
    requested = set(json.loads(context.cursor)) if context.cursor else set()
    store = lake.get()
    if busy_jobs(context.instance, store, [daily_job.name]):
        return SkipReason("a daily run is unfinished or not yet published")
    valid = DAILY.get_partition_keys(dynamic_partitions_store=context.instance)
    completed = [d for d in landing_zone.get().completed_days() if d in set(valid)]
    on_main = set(stored_partitions(store, MAIN, ["raw_transactions"]))
    days, waiting = daily_due(completed, requested, on_main, valid[0], FRAUD.history.days)
    if not days:
        return SkipReason(waiting)
    key = f"daily-{days[0]}" if len(days) == 1 else f"daily-{days[0]}-{days[-1]}"
    return SensorResult(
        run_requests=[_request(daily_job.name, days[0], days[-1], key)],
        cursor=json.dumps(sorted(requested | set(days))),
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


@sensor(jobs=_DOWNSTREAM, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def downstream_of_main(context: SensorEvaluationContext, lake: LakeResource, mlflow: MlflowResource):
    """Requests what published data makes due (mlplatform/automation.py): each complete week's training set,
    the weeks' models in order, the predictions of days whose champion is settled, their monitoring. A job
    with a run unfinished or not yet published waits, so nothing starts from unpublished data."""
    store = lake.get()
    published = {asset: set(stored_partitions(store, MAIN, [asset])) for asset in WATCHED}
    records = versions(mlflow.get())
    busy = busy_jobs(context.instance, store, [job.name for job in _DOWNSTREAM])
    weeks = list(TRAINING_WEEKS.get_partition_keys(current_time=datetime(2100, 1, 1)))
    starts = [r.champion_from for r in records if r.champion_from]
    counted = performance_counted(store, published["batch_predictions"])
    due = plan(published, {r.week for r in records}, busy, weeks, starts, counted)
    if not due:
        return SkipReason(f"nothing new on main to act on (busy: {', '.join(sorted(busy)) or 'none'})")
    return SensorResult(run_requests=[_request(r.job, r.first, r.last, r.key) for r in due])
