"""Sensors that react to new data."""

import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.jobs import daily_job
from assets.partitions import DAILY
from resources import LandingZoneResource


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
