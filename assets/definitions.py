"""The single Definitions of the platform (workspace.yaml points at `defs`)."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from assets.dbt_models import dbt_models
from assets.features import transaction_features
from assets.jobs import JOBS
from assets.models import fraud_model
from assets.monitoring import feature_drift, model_performance
from assets.online import online_features
from assets.predictions import batch_predictions
from assets.publishing import catch_up_with_main, expire_failed_run_branches, publish_successful_runs
from assets.raw_sources import RAW_ASSETS
from assets.sensors import champion_changed, downstream_of_main, landing_zone_sensor, retrain_on_drift_or_decay
from assets.serving import fraud_scorer_bento
from assets.training_sets import training_set
from mlplatform import telemetry
from mlplatform.config import Settings
from resources import build_resources


def build_definitions(settings: Settings) -> Definitions:
    telemetry.off()
    return Definitions(
        assets=[
            *RAW_ASSETS,
            dbt_models,
            transaction_features,
            online_features,
            training_set,
            fraud_model,
            batch_predictions,
            feature_drift,
            model_performance,
            fraud_scorer_bento,
        ],
        jobs=JOBS,
        sensors=[
            landing_zone_sensor,
            publish_successful_runs,
            catch_up_with_main,
            champion_changed,
            downstream_of_main,
            retrain_on_drift_or_decay,
            expire_failed_run_branches,
        ],
        resources=build_resources(settings),
        # A run's steps in its own process: a process per step would import the platform (torch, dbt, Dagster)
        # again for each, which cost a 12-day daily run 173 s under the daemon here.
        executor=in_process_executor,
    )


defs = build_definitions(Settings.from_env())
