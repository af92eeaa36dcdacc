"""Dagster resources: thin ConfigurableResource wrappers around mlplatform clients, built from Settings."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar
from dagster_aws.s3 import S3Resource

from mlplatform.config import Settings
from resources.dbt import dbt_resource
from resources.io_manager import LakeIOManager
from resources.lake import LakeResource
from resources.online_store import BentoStoreResource, OnlineStoreResource, WorkspaceResource
from resources.sources import FraudApiResource, LandingZoneResource, SourceDatabaseResource
from resources.tracking import MlflowResource

__all__ = [
    "BentoStoreResource",
    "FraudApiResource",
    "LakeIOManager",
    "LakeResource",
    "LandingZoneResource",
    "MlflowResource",
    "OnlineStoreResource",
    "SourceDatabaseResource",
    "WorkspaceResource",
    "build_resources",
]


def _secret(variable: str, value: str) -> Any:
    """A secret taken from the environment reaches Dagster as EnvVar, so the UI never shows its value
    (a value set in code, such as the demo provider's token, is passed as it is)."""
    return EnvVar(variable) if value and os.environ.get(variable) == value else value


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource of the platform, each configured from `settings` (mlplatform.config decides)."""
    lake_settings = settings.lake
    lake = LakeResource(
        backend=lake_settings.backend,
        root=lake_settings.root,
        lakefs_endpoint=lake_settings.lakefs_endpoint,
        lakefs_access_key_id=_secret("LAKEFS_ACCESS_KEY_ID", lake_settings.lakefs_access_key_id),
        lakefs_secret_access_key=_secret("LAKEFS_SECRET_ACCESS_KEY", lake_settings.lakefs_secret_access_key),
        lakefs_repository=lake_settings.lakefs_repository,
        lakefs_storage_namespace=lake_settings.lakefs_storage_namespace,
    )
    s3 = S3Resource(
        endpoint_url=settings.aws_endpoint_url or None,
        # None: boto3's own chain (AWS_* variables, profiles, instance roles) finds the credentials.
        aws_access_key_id=_secret("AWS_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", "")) or None,
        aws_secret_access_key=_secret("AWS_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "")) or None,
    )
    return {
        "lake": lake,
        "lake_io_manager": LakeIOManager(lake=lake),
        "dbt": dbt_resource(),
        "landing_zone": LandingZoneResource(uri=settings.landing_uri, s3=s3),
        "source_db": SourceDatabaseResource(url=_secret("MLPLATFORM_SOURCE_DB_URL", settings.source_db_url)),
        "mlflow": MlflowResource(
            tracking_uri=settings.mlflow_tracking_uri, artifact_root=settings.mlflow_artifact_root
        ),
        "workspace": WorkspaceResource(root=str(settings.home / "work")),
        "bento_store": BentoStoreResource(home=str(settings.bentoml_home)),
        "online_store": OnlineStoreResource(uri=_secret("MLPLATFORM_ONLINE_STORE", settings.online_store)),
        "fraud_api": FraudApiResource(
            url=settings.fraud_api_url, token=_secret("MLPLATFORM_FRAUD_API_TOKEN", settings.fraud_api_token)
        ),
    }
