"""Sensors that react to new data."""

import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from assets.partitions import DAILY
from assets.raw_sources import RAW_ASSETS
from resources import LandingZoneResource

raw_sources_job = define_asset_job("raw_sources", selection=RAW_ASSETS)


def new_days(completed: list[str], seen: set[str], materialized: set[str], valid: set[str]) -> list[str]:
    """Completed days not yet requested nor already materialized, in any order they arrive."""
    return [d for d in completed if d not in seen and d not in materialized and d in valid]


@sensor(job=raw_sources_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def landing_zone_sensor(context: SensorEvaluationContext, landing_zone: LandingZoneResource):
    """Requests the raw-sources run of each day whose landing is complete, exactly once per day."""
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    completed = landing_zone.get().completed_days()
    materialized = context.instance.get_materialized_partitions(AssetKey("raw_transactions"))
    valid = set(DAILY.get_partition_keys(dynamic_partitions_store=context.instance))
    days = new_days(completed, seen, materialized, valid)
    return SensorResult(
        run_requests=[RunRequest(run_key=f"raw_sources-{d}", partition_key=d) for d in days],
        cursor=json.dumps(sorted(seen | set(days) | (set(completed) & materialized))),
    )
