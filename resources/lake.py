from __future__ import annotations

from dagster import ConfigurableResource

from mlplatform.config import LakeBackend, LakeSettings
from mlplatform.lake import Lake, open_lake


class LakeResource(ConfigurableResource):
    """The versioned lake (`mlplatform.config.LakeSettings`): lakeFS keys arrive through EnvVar."""

    backend: LakeBackend = "local"
    root: str = ""
    lakefs_endpoint: str = ""
    lakefs_access_key_id: str = ""
    lakefs_secret_access_key: str = ""
    lakefs_repository: str = "mlplatform"
    lakefs_storage_namespace: str = ""

    def get(self) -> Lake:
        return open_lake(LakeSettings(**self.model_dump()))
