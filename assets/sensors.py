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

from assets.jobs import daily_job, serving_job
from assets.partitions import DAILY
from mlplatform.tracking import champion_version
from resources import LandingZoneResource, MlflowResource


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
