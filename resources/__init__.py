"""Dagster resources: thin ConfigurableResource wrappers around mlplatform clients."""

from resources.io_manager import LakeIOManager
from resources.lake import LakeResource
from resources.sources import FraudApiResource, LandingZoneResource, SourceDatabaseResource
from resources.tracking import MlflowResource

__all__ = [
    "FraudApiResource",
    "LakeIOManager",
    "LakeResource",
    "LandingZoneResource",
    "MlflowResource",
    "SourceDatabaseResource",
]
