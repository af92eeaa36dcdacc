"""Sensors that react to new data."""

import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.jobs import daily_job, models_job, serving_job
from assets.partitions import DAILY
from mlplatform.retraining import REASON_TAG, RetrainPolicy, next_untrained_week, retrain_reason
from mlplatform.tracking import champion_version, versions
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
    records = versions(tracking)
    number = champion_version(tracking)
    champion = next((r for r in records if r.version == number), None)
    reason = retrain_reason(lake.get(), champion, RetrainPolicy())
    if reason is None:
        return SkipReason("no drift or performance drop over the thresholds on main")
    week = next_untrained_week(lake.get(), {r.week for r in records})
    if week is None:
        return SkipReason(f"{reason}; no training set on main is waiting for its model")
    context.log.info(f"requesting the model of week {week} early: {reason}")
    return RunRequest(run_key=f"retrain-{week}", partition_key=week, tags={REASON_TAG: reason})
