"""The versioned-lake interface: lakeFS semantics (branches, commits, merges, tags) over paths."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

MAIN = "main"


class LakeError(Exception):
    """Base class of the lake's errors."""


class RefNotFound(LakeError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no branch, tag or commit named {ref!r}")
        self.ref = ref


class PathNotFound(LakeError, FileNotFoundError):
    def __init__(self, ref: str, path: str) -> None:
        super().__init__(f"{path!r} does not exist at {ref!r}")


class BranchExists(LakeError):
    pass


class NothingToCommit(LakeError):
    pass


class MergeConflict(LakeError):
    """Both sides changed the same paths differently since their common ancestor."""

    def __init__(self, source: str, destination: str, paths: list[str]) -> None:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(f"cannot merge {source!r} into {destination!r}: conflicting changes to {shown}")
        self.paths = paths


@dataclass(frozen=True)
class Commit:
    id: str
    parents: tuple[str, ...]
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    created: float = 0.0  # seconds since the epoch
    committer: str = ""


ChangeType = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    type: ChangeType
    path: str


class Lake(ABC):
    """A repository of paths versioned on branches; every implementation passes tests/lake_contract.py."""

    @abstractmethod
    def create_branch(self, name: str, source: str = MAIN, *, exist_ok: bool = False) -> str:
        """Creates `name` at `source`'s head and returns the commit id it points to."""

    @abstractmethod
    def delete_branch(self, name: str) -> None: ...

    @abstractmethod
    def branches(self) -> dict[str, str]:
        """Branch name -> head commit id."""

    @abstractmethod
    def put(self, branch: str, path: str, data: bytes) -> None:
        """Writes an uncommitted object on `branch`."""

    @abstractmethod
    def remove(self, branch: str, path: str) -> None: ...

    @abstractmethod
    def get(self, ref: str, path: str) -> bytes:
        """Reads `path` at a branch (uncommitted changes included), tag or commit id."""

    @abstractmethod
    def list(self, ref: str, prefix: str = "") -> builtins.list[str]:
        """Sorted paths under `prefix` at `ref`."""

    @abstractmethod
    def uncommitted(self, branch: str) -> builtins.list[Change]: ...

    @abstractmethod
    def commit(self, branch: str, message: str, metadata: dict[str, str] | None = None) -> Commit:
        """Commits the branch's uncommitted changes; raises NothingToCommit if there are none."""

    @abstractmethod
    def merge(self, source: str, destination: str, message: str = "", metadata: dict[str, str] | None = None) -> Commit:
        """Three-way merges `source`'s head into branch `destination` in one commit (MergeConflict)."""

    @abstractmethod
    def diff(self, left: str, right: str, prefix: str = "") -> builtins.list[Change]:
        """What changed from the committed state of `left` to that of `right`, sorted by path."""

    @abstractmethod
    def create_tag(self, name: str, ref: str) -> str: ...

    @abstractmethod
    def delete_tag(self, name: str) -> None: ...

    @abstractmethod
    def tags(self) -> dict[str, str]: ...

    @abstractmethod
    def log(self, ref: str, limit: int | None = None) -> builtins.list[Commit]:
        """Commits reachable from `ref`, newest first."""

    @abstractmethod
    def revert(self, branch: str, commit_id: str) -> Commit:
        """Commits the inverse of `commit_id`'s changes (against its first parent) on `branch`."""

    @abstractmethod
    def resolve(self, ref: str) -> str:
        """The commit id a branch, tag or commit id points to (RefNotFound otherwise)."""

    @abstractmethod
    def uri(self, ref: str, path: str) -> str:
        """Where `path` at `ref` can be read by other tools (a file path or lakefs:// URI)."""

    def exists(self, ref: str, path: str) -> bool:
        try:
            self.get(ref, path)
        except PathNotFound:
            return False
        return True

    def get_commit(self, ref: str) -> Commit:
        return self.log(ref, limit=1)[0]
