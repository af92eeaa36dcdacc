from __future__ import annotations

from functools import cache

from dagster import ConfigurableResource

from mlplatform.lake import Lake, LocalLake


@cache
def _local(root: str) -> Lake:
    return LocalLake(root)


@cache
def _lakefs(endpoint: str, key: str, secret: str, repository: str, namespace: str | None) -> Lake:
    from mlplatform.lake.lakefs import LakeFSLake

    return LakeFSLake(endpoint, key, secret, repository, namespace)


class LakeResource(ConfigurableResource):
    """The versioned lake: `local` (a directory) or `lakefs` (endpoint and keys through EnvVar)."""

    backend: str = "local"
    root: str = ""
    lakefs_endpoint: str | None = None
    lakefs_access_key_id: str | None = None
    lakefs_secret_access_key: str | None = None
    lakefs_repository: str = "mlplatform"
    lakefs_storage_namespace: str | None = None

    def get(self) -> Lake:
        if self.backend == "local":
            return _local(self.root)
        if self.backend == "lakefs":
            if not (self.lakefs_endpoint and self.lakefs_access_key_id and self.lakefs_secret_access_key):
                raise ValueError(
                    "the lakefs backend needs LAKEFS_ENDPOINT, LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY"
                )
            return _lakefs(
                self.lakefs_endpoint,
                self.lakefs_access_key_id,
                self.lakefs_secret_access_key,
                self.lakefs_repository,
                self.lakefs_storage_namespace,
            )
        raise ValueError(f"unknown lake backend {self.backend!r} (expected 'local' or 'lakefs')")
