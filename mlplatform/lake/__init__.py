"""Versioned data lake with lakeFS semantics: one interface, a local and a lakeFS implementation."""

from __future__ import annotations

from functools import cache

from mlplatform.config import ConfigError, LakeSettings
from mlplatform.lake.base import (
    MAIN,
    BranchExists,
    Change,
    Commit,
    Lake,
    LakeError,
    MergeConflict,
    NothingToCommit,
    PathNotFound,
    RefNotFound,
)
from mlplatform.lake.local import LocalLake


@cache  # one client per configuration and process: the local lake caches trees and commits
def open_lake(settings: LakeSettings) -> Lake:
    """The configured lake: a directory (`local`) or a lakeFS repository (`lakefs`)."""
    if settings.backend == "local":
        return LocalLake(settings.root)
    missing = [
        name
        for name, value in (
            ("LAKEFS_ENDPOINT", settings.lakefs_endpoint),
            ("LAKEFS_ACCESS_KEY_ID", settings.lakefs_access_key_id),
            ("LAKEFS_SECRET_ACCESS_KEY", settings.lakefs_secret_access_key),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"the lakefs lake needs {', '.join(missing)}")
    from mlplatform.lake.lakefs import LakeFSLake

    return LakeFSLake(
        settings.lakefs_endpoint,
        settings.lakefs_access_key_id,
        settings.lakefs_secret_access_key,
        settings.lakefs_repository,
        settings.lakefs_storage_namespace or None,
    )


__all__ = [
    "MAIN",
    "BranchExists",
    "Change",
    "Commit",
    "Lake",
    "LakeError",
    "LocalLake",
    "MergeConflict",
    "NothingToCommit",
    "PathNotFound",
    "RefNotFound",
    "open_lake",
]
