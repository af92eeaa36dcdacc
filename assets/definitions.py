"""The single Definitions of the platform (workspace.yaml points here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster import Definitions, EnvVar
from dagster_dbt import DbtCliResource

from assets.dbt_models import DBT_PROJECT, dbt_models
from assets.features import transaction_features
from assets.models import batch_predictions, fraud_model
from assets.publishing import expire_failed_run_branches, publish_successful_runs
from assets.raw_sources import RAW_ASSETS
from assets.sensors import daily_job, landing_zone_sensor, models_job, predictions_job, training_job
from assets.training import training_set
from mlplatform.config import Settings
from mlplatform.tracking import Tracking
from resources import (
    FraudApiResource,
    LakeIOManager,
    LakeResource,
    LandingZoneResource,
    MlflowResource,
    SourceDatabaseResource,
)


def _secret(name: str, default: str) -> str | EnvVar:
    """Secrets come through EnvVar when set, so they never appear in the UI's resource config."""
    return EnvVar(name) if name in os.environ else default


def dbt_executable() -> str:
    """The dbt installed beside this Python (its bin folder need not be on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def lake_resource(settings: Settings) -> LakeResource:
    if settings.lake_backend == "lakefs":
        return LakeResource(
            backend="lakefs",
            lakefs_endpoint=EnvVar("LAKEFS_ENDPOINT"),
            lakefs_access_key_id=EnvVar("LAKEFS_ACCESS_KEY_ID"),
            lakefs_secret_access_key=EnvVar("LAKEFS_SECRET_ACCESS_KEY"),
            lakefs_repository=os.environ.get("LAKEFS_REPOSITORY", "mlplatform"),
            lakefs_storage_namespace=os.environ.get("LAKEFS_STORAGE_NAMESPACE"),
        )
    return LakeResource(backend="local", root=str(settings.lake_root))


def mlflow_resource(settings: Settings) -> MlflowResource:
    if "MLFLOW_TRACKING_URI" in os.environ:
        return MlflowResource(tracking_uri=EnvVar("MLFLOW_TRACKING_URI"))
    embedded = Tracking.embedded(settings.home)
    return MlflowResource(tracking_uri=embedded.uri, artifact_root=embedded.artifact_root)


def build_resources(settings: Settings) -> dict:
    lake = lake_resource(settings)
    return {
        "lake": lake,
        "lake_io_manager": LakeIOManager(lake=lake),
        "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable()),
        "landing_zone": LandingZoneResource(uri=settings.landing_uri),
        "source_db": SourceDatabaseResource(url=_secret("MLPLATFORM_SOURCE_DB_URL", settings.source_db_url)),
        "mlflow": mlflow_resource(settings),
        "fraud_api": FraudApiResource(
            url=settings.fraud_api_url, token=_secret("MLPLATFORM_FRAUD_API_TOKEN", settings.fraud_api_token)
        ),
    }


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=[*RAW_ASSETS, dbt_models, transaction_features, training_set, fraud_model, batch_predictions],
        jobs=[daily_job, training_job, models_job, predictions_job],
        sensors=[landing_zone_sensor, publish_successful_runs, expire_failed_run_branches],
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())
