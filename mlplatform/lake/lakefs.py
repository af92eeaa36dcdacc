"""LakeFSLake: the production lake, a lakeFS repository driven through the official `lakefs` SDK.

lakeFS branch ids may not contain "/", so the platform's branch names are encoded ("/" -> "__")
on the way in and decoded on the way out; everything else maps one to one onto lakeFS calls.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable

import lakefs
from lakefs.exceptions import ConflictException, LakeFSException, NotFoundException

from mlplatform.lake.base import (
    MAIN,
    BranchExists,
    Change,
    ChangeType,
    Commit,
    Lake,
    LakeError,
    MergeConflict,
    NothingToCommit,
    PathNotFound,
    RefNotFound,
)


def _enc(name: str) -> str:
    return name.replace("/", "__")


def _dec(name: str) -> str:
    return name.replace("__", "/")


class LakeFSLake(Lake):
    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        repository: str,
        storage_namespace: str | None = None,
    ) -> None:
        self.client = lakefs.Client(host=endpoint, username=access_key_id, password=secret_access_key)
        self.repo = lakefs.Repository(repository, client=self.client)
        if storage_namespace:
            self.repo.create(storage_namespace=storage_namespace, default_branch=MAIN, exist_ok=True)
        self.repository = repository

    def _ref(self, ref: str) -> lakefs.Reference:
        return self.repo.ref(_enc(ref))

    def create_branch(self, name: str, source: str = MAIN, *, exist_ok: bool = False) -> str:
        branch = self.repo.branch(_enc(name))
        try:
            branch.create(source_reference=_enc(source), exist_ok=exist_ok)
        except ConflictException as exc:
            raise BranchExists(f"branch {name!r} already exists") from exc
        except NotFoundException as exc:
            raise RefNotFound(source) from exc
        return branch.get_commit().id

    def delete_branch(self, name: str) -> None:
        if name == MAIN:
            raise LakeError("the main branch cannot be deleted")
        try:
            self.repo.branch(_enc(name)).delete()
        except NotFoundException as exc:
            raise RefNotFound(name) from exc

    def branches(self) -> dict[str, str]:
        return {_dec(b.id): b.get_commit().id for b in self.repo.branches()}

    def put(self, branch: str, path: str, data: bytes) -> None:
        try:
            self.repo.branch(_enc(branch)).object(path).upload(data=data, mode="wb")
        except NotFoundException as exc:
            raise RefNotFound(branch) from exc

    def remove(self, branch: str, path: str) -> None:
        try:
            self.repo.branch(_enc(branch)).object(path).delete()
        except NotFoundException as exc:
            raise PathNotFound(branch, path) from exc

    def get(self, ref: str, path: str) -> bytes:
        try:
            with self._ref(ref).object(path).reader(mode="rb") as reader:
                data = reader.read()
        except NotFoundException as exc:
            if not self._ref_exists(ref):
                raise RefNotFound(ref) from exc
            raise PathNotFound(ref, path) from exc
        return data if isinstance(data, bytes) else data.encode()  # mode "rb" gives bytes

    def uri(self, ref: str, path: str) -> str:
        return f"lakefs://{self.repository}/{_enc(ref)}/{path}"

    def list(self, ref: str, prefix: str = "") -> builtins.list[str]:
        try:
            return sorted(o.path for o in self._ref(ref).objects(prefix=prefix))
        except NotFoundException as exc:
            raise RefNotFound(ref) from exc

    def uncommitted(self, branch: str) -> builtins.list[Change]:
        changes = self.repo.branch(_enc(branch)).uncommitted()
        return _changes(changes)

    def commit(self, branch: str, message: str, metadata: dict[str, str] | None = None) -> Commit:
        if not self.uncommitted(branch):
            raise NothingToCommit(f"no changes to commit on {branch!r}")
        ref = self.repo.branch(_enc(branch)).commit(message=message, metadata=_meta(metadata))
        return _commit(ref.get_commit())

    def merge(self, source: str, destination: str, message: str = "", metadata: dict[str, str] | None = None) -> Commit:
        try:
            commit_id = self._ref(source).merge_into(
                _enc(destination),
                message=message or f"Merge {source!r} into {destination!r}",
                metadata=_meta(metadata),
                allow_empty=True,
            )
        except ConflictException as exc:
            conflicts = [c.path for c in self._ref(source).diff(_enc(destination), type="three_dot")]
            raise MergeConflict(source, destination, conflicts) from exc
        return _commit(self.repo.commit(commit_id).get_commit())

    def diff(self, left: str, right: str, prefix: str = "") -> builtins.list[Change]:
        changes = self._ref(self.resolve(left)).diff(self.resolve(right), prefix=prefix or None, type="two_dot")
        return _changes(c for c in changes if c.path_type == "object")

    def create_tag(self, name: str, ref: str) -> str:
        try:
            tag = self.repo.tag(name).create(_enc(ref))
        except ConflictException as exc:
            raise BranchExists(f"tag {name!r} already exists") from exc
        return tag.get_commit().id

    def delete_tag(self, name: str) -> None:
        try:
            self.repo.tag(name).delete()
        except NotFoundException as exc:
            raise RefNotFound(name) from exc

    def tags(self) -> dict[str, str]:
        return {t.id: t.get_commit().id for t in self.repo.tags()}

    def log(self, ref: str, limit: int | None = None) -> builtins.list[Commit]:
        try:
            return [_commit(c) for c in self._ref(ref).log(max_amount=limit)]
        except NotFoundException as exc:
            raise RefNotFound(ref) from exc

    def revert(self, branch: str, commit_id: str) -> Commit:
        parents = self.repo.commit(commit_id).get_commit().parents
        try:
            return _commit(self.repo.branch(_enc(branch)).revert(commit_id, parent_number=1 if len(parents) > 1 else 0))
        except ConflictException as exc:
            raise MergeConflict(f"revert of {commit_id[:12]}", branch, []) from exc

    def resolve(self, ref: str) -> str:
        try:
            return self._ref(ref).get_commit().id
        except NotFoundException as exc:
            raise RefNotFound(ref) from exc
        except LakeFSException as exc:  # malformed ids come back as 400
            raise RefNotFound(ref) from exc

    def _ref_exists(self, ref: str) -> bool:
        try:
            self.resolve(ref)
        except RefNotFound:
            return False
        return True


def _changes(changes: Iterable[lakefs.models.Change]) -> builtins.list[Change]:
    """Object changes, sorted by path (lakeFS also reports conflicts and prefix changes, which are not changes
    of an object's content)."""
    kinds: dict[str, ChangeType] = {"added": "added", "removed": "removed", "changed": "changed"}
    return sorted((Change(kinds[c.type], c.path) for c in changes if c.type in kinds), key=lambda c: c.path)


def _meta(metadata: dict[str, str] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (metadata or {}).items()}


def _commit(c: lakefs.Commit) -> Commit:
    return Commit(
        id=c.id,
        parents=tuple(c.parents),
        message=c.message,
        metadata=dict(c.metadata or {}),
        created=float(c.creation_date),
        committer=c.committer,
    )
