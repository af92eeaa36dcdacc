"""Versioned data lake with lakeFS semantics: one interface, a local and a lakeFS implementation."""

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
]
