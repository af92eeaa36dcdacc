"""LocalLake: the embedded lake on disk.

Layout under `root`:
  objects/ab/cdef…        immutable, content-addressed blobs (data, trees and commits)
  refs/heads/<branch>     head commit id of each branch (names percent-encoded)
  refs/tags/<tag>         commit id of each tag
  staging/<branch>/<key>  one uncommitted change per path: {"path", "object"} (object null = removed)
  locks/<branch>.lock     advisory lock serialising writers of one branch

A ref file is replaced atomically (write to a temp file, then os.replace) under its branch lock,
so readers see either the old or the new commit and two processes writing different branches
never block each other.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import getpass
import hashlib
import heapq
import json
import os
import tempfile
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote

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

Tree = dict[str, str]  # path -> object id


class LocalLake(Lake):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        for sub in ("objects", "refs/heads", "refs/tags", "staging", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        with self._locked(MAIN):
            if not self._ref_file("heads", MAIN).exists():
                empty = self._write_commit({}, (), "Repository created", {})
                self._set_ref("heads", MAIN, empty)

    # ----- objects -------------------------------------------------------------------------
    def _object_path(self, oid: str) -> Path:
        return self.root / "objects" / oid[:2] / oid[2:]

    def _write_object(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        path = self._object_path(oid)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            _atomic_write(path, data)
        return oid

    def _read_object(self, oid: str) -> bytes:
        return self._object_path(oid).read_bytes()

    @lru_cache(maxsize=256)  # noqa: B019 - trees and commits are immutable, so caching by id is safe
    def _tree(self, oid: str) -> Tree:
        return json.loads(self._read_object(oid))

    @lru_cache(maxsize=4096)  # noqa: B019
    def _commit(self, oid: str) -> Commit:
        raw = json.loads(self._read_object(oid))
        return Commit(
            id=oid,
            parents=tuple(raw["parents"]),
            message=raw["message"],
            metadata=raw["metadata"],
            created=raw["created"],
            committer=raw["committer"],
        )

    def _commit_tree(self, oid: str) -> Tree:
        return self._tree(json.loads(self._read_object(oid))["tree"])

    def _write_commit(self, tree: Tree, parents: tuple[str, ...], message: str, metadata: dict[str, str]) -> str:
        tree_id = self._write_object(json.dumps(tree, sort_keys=True, separators=(",", ":")).encode())
        body = {
            "tree": tree_id,
            "parents": list(parents),
            "message": message,
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "created": time.time(),
            "committer": _user(),
        }
        return self._write_object(json.dumps(body, sort_keys=True).encode())

    # ----- refs and locks ------------------------------------------------------------------
    def _ref_file(self, kind: str, name: str) -> Path:
        return self.root / "refs" / kind / quote(name, safe="")

    def _get_ref(self, kind: str, name: str) -> str | None:
        try:
            return self._ref_file(kind, name).read_text().strip()
        except FileNotFoundError:
            return None

    def _set_ref(self, kind: str, name: str, oid: str) -> None:
        _atomic_write(self._ref_file(kind, name), oid.encode())

    @contextlib.contextmanager
    def _locked(self, branch: str) -> Iterator[None]:
        with open(self.root / "locks" / f"{quote(branch, safe='')}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _head(self, branch: str) -> str:
        oid = self._get_ref("heads", branch)
        if oid is None:
            raise RefNotFound(branch)
        return oid

    def _staging_dir(self, branch: str) -> Path:
        return self.root / "staging" / quote(branch, safe="")

    def _staged(self, branch: str) -> dict[str, str | None]:
        folder = self._staging_dir(branch)
        if not folder.exists():
            return {}
        entries = (json.loads(p.read_bytes()) for p in folder.iterdir() if not p.name.startswith("."))
        return {e["path"]: e["object"] for e in entries}

    def _stage(self, branch: str, path: str, oid: str | None) -> None:
        _check_path(path)
        with self._locked(branch):
            self._head(branch)
            folder = self._staging_dir(branch)
            folder.mkdir(exist_ok=True)
            key = hashlib.sha1(path.encode()).hexdigest()
            _atomic_write(folder / key, json.dumps({"path": path, "object": oid}).encode())

    # ----- branches ------------------------------------------------------------------------
    def create_branch(self, name: str, source: str = MAIN, *, exist_ok: bool = False) -> str:
        with self._locked(name):
            existing = self._get_ref("heads", name)
            if existing is not None:
                if exist_ok:
                    return existing
                raise BranchExists(f"branch {name!r} already exists")
            oid = self.resolve(source)
            self._set_ref("heads", name, oid)
            return oid

    def delete_branch(self, name: str) -> None:
        if name == MAIN:
            raise LakeError("the main branch cannot be deleted")
        with self._locked(name):
            ref = self._ref_file("heads", name)
            if not ref.exists():
                raise RefNotFound(name)
            ref.unlink()
            _remove_tree(self._staging_dir(name))

    def branches(self) -> dict[str, str]:
        return {
            unquote(p.name): p.read_text().strip()
            for p in sorted((self.root / "refs/heads").iterdir())
            if not p.name.startswith(".")
        }

    # ----- objects on branches -------------------------------------------------------------
    def put(self, branch: str, path: str, data: bytes) -> None:
        self._stage(branch, path, self._write_object(data))

    def remove(self, branch: str, path: str) -> None:
        if not self.exists(branch, path):
            raise PathNotFound(branch, path)
        self._stage(branch, path, None)

    def _view(self, ref: str) -> Tree:
        """The tree seen at `ref`: a branch includes its uncommitted changes."""
        head = self._get_ref("heads", ref)
        if head is None:
            return self._commit_tree(self.resolve(ref))
        tree = dict(self._commit_tree(head))
        for path, oid in self._staged(ref).items():
            if oid is None:
                tree.pop(path, None)
            else:
                tree[path] = oid
        return tree

    def _object_id(self, ref: str, path: str) -> str:
        head = self._get_ref("heads", ref)
        if head is not None:
            folder = self._staging_dir(ref)
            entry = folder / hashlib.sha1(path.encode()).hexdigest()
            if entry.exists():
                oid = json.loads(entry.read_bytes())["object"]
                if oid is None:
                    raise PathNotFound(ref, path)
                return oid
            tree = self._commit_tree(head)
        else:
            tree = self._commit_tree(self.resolve(ref))
        if path not in tree:
            raise PathNotFound(ref, path)
        return tree[path]

    def get(self, ref: str, path: str) -> bytes:
        return self._read_object(self._object_id(ref, path))

    def uri(self, ref: str, path: str) -> str:
        return str(self._object_path(self._object_id(ref, path)))

    def list(self, ref: str, prefix: str = "") -> builtins.list[str]:
        return sorted(p for p in self._view(ref) if p.startswith(prefix))

    def uncommitted(self, branch: str) -> builtins.list[Change]:
        head_tree = self._commit_tree(self._head(branch))
        changes = []
        for path, oid in self._staged(branch).items():
            before = head_tree.get(path)
            if before == oid:
                continue
            kind: ChangeType = "removed" if oid is None else ("added" if before is None else "changed")
            changes.append(Change(kind, path))
        return sorted(changes, key=lambda c: c.path)

    # ----- commits -------------------------------------------------------------------------
    def commit(self, branch: str, message: str, metadata: dict[str, str] | None = None) -> Commit:
        with self._locked(branch):
            head = self._head(branch)
            staged = self._staged(branch)
            tree = dict(self._commit_tree(head))
            for path, oid in staged.items():
                if oid is None:
                    tree.pop(path, None)
                else:
                    tree[path] = oid
            if tree == self._commit_tree(head):
                _remove_tree(self._staging_dir(branch))
                raise NothingToCommit(f"no changes to commit on {branch!r}")
            oid = self._write_commit(tree, (head,), message, metadata or {})
            self._set_ref("heads", branch, oid)
            _remove_tree(self._staging_dir(branch))
            return self._commit(oid)

    def merge(self, source: str, destination: str, message: str = "", metadata: dict[str, str] | None = None) -> Commit:
        source_head = self.resolve(source)
        with self._locked(destination):
            dest_head = self._head(destination)
            if self._staged(destination):
                raise LakeError(f"branch {destination!r} has uncommitted changes; commit or reset them first")
            base = self._merge_base(source_head, dest_head)
            base_tree = self._commit_tree(base) if base else {}
            src_tree, dst_tree = self._commit_tree(source_head), self._commit_tree(dest_head)
            merged: Tree = {}
            conflicts: builtins.list[str] = []
            for path in sorted(set(src_tree) | set(dst_tree) | set(base_tree)):
                s, d, b = src_tree.get(path), dst_tree.get(path), base_tree.get(path)
                if s in (d, b):
                    chosen = d
                elif d == b:
                    chosen = s
                else:
                    conflicts.append(path)
                    continue
                if chosen is not None:
                    merged[path] = chosen
            if conflicts:
                raise MergeConflict(source, destination, conflicts)
            oid = self._write_commit(
                merged,
                (dest_head, source_head),
                message or f"Merge {source!r} into {destination!r}",
                metadata or {},
            )
            self._set_ref("heads", destination, oid)
            return self._commit(oid)

    def _ancestors(self, oid: str) -> dict[str, int]:
        """Every ancestor of `oid` (itself included) with its distance."""
        seen: dict[str, int] = {}
        frontier = [(0, oid)]
        while frontier:
            dist, current = heapq.heappop(frontier)
            if current in seen:
                continue
            seen[current] = dist
            for parent in self._commit(current).parents:
                heapq.heappush(frontier, (dist + 1, parent))
        return seen

    def _merge_base(self, a: str, b: str) -> str | None:
        ours, theirs = self._ancestors(a), self._ancestors(b)
        common = set(ours) & set(theirs)
        return min(common, key=lambda c: (ours[c] + theirs[c], c)) if common else None

    def diff(self, left: str, right: str, prefix: str = "") -> builtins.list[Change]:
        return _tree_diff(self._commit_tree(self.resolve(left)), self._commit_tree(self.resolve(right)), prefix)

    def revert(self, branch: str, commit_id: str) -> Commit:
        target = self._commit(self.resolve(commit_id))
        before = self._commit_tree(target.parents[0]) if target.parents else {}
        after = self._commit_tree(target.id)
        with self._locked(branch):
            head = self._head(branch)
            if self._staged(branch):
                raise LakeError(f"branch {branch!r} has uncommitted changes; commit them before reverting")
            tree = dict(self._commit_tree(head))
            conflicts = []
            for change in _tree_diff(before, after):
                if tree.get(change.path) != after.get(change.path):
                    conflicts.append(change.path)
                elif change.path in before:
                    tree[change.path] = before[change.path]
                else:
                    tree.pop(change.path)
            if conflicts:
                raise MergeConflict(f"revert of {target.id[:12]}", branch, conflicts)
            oid = self._write_commit(tree, (head,), f"Revert {target.id[:12]}: {target.message}", {})
            self._set_ref("heads", branch, oid)
            return self._commit(oid)

    # ----- tags, log, refs -----------------------------------------------------------------
    def create_tag(self, name: str, ref: str) -> str:
        if self._get_ref("tags", name) is not None:
            raise BranchExists(f"tag {name!r} already exists")
        oid = self.resolve(ref)
        self._set_ref("tags", name, oid)
        return oid

    def delete_tag(self, name: str) -> None:
        try:
            self._ref_file("tags", name).unlink()
        except FileNotFoundError:
            raise RefNotFound(name) from None

    def tags(self) -> dict[str, str]:
        return {
            unquote(p.name): p.read_text().strip()
            for p in sorted((self.root / "refs/tags").iterdir())
            if not p.name.startswith(".")
        }

    def log(self, ref: str, limit: int | None = None) -> builtins.list[Commit]:
        start = self._commit(self.resolve(ref))
        out: builtins.list[Commit] = []
        seen = {start.id}
        heap = [(-start.created, start.id)]
        while heap and (limit is None or len(out) < limit):
            _, oid = heapq.heappop(heap)
            commit = self._commit(oid)
            out.append(commit)
            for parent in commit.parents:
                if parent not in seen:
                    seen.add(parent)
                    heapq.heappush(heap, (-self._commit(parent).created, parent))
        return out

    def resolve(self, ref: str) -> str:
        for kind in ("heads", "tags"):
            oid = self._get_ref(kind, ref)
            if oid is not None:
                return oid
        if len(ref) == 64 and all(c in "0123456789abcdef" for c in ref) and self._object_path(ref).exists():
            return ref
        raise RefNotFound(ref)


def _tree_diff(left: Tree, right: Tree, prefix: str = "") -> list[Change]:
    changes = []
    for path in sorted(set(left) | set(right)):
        if not path.startswith(prefix) or left.get(path) == right.get(path):
            continue
        kind: ChangeType = "added" if path not in left else "removed" if path not in right else "changed"
        changes.append(Change(kind, path))
    return changes


def _check_path(path: str) -> None:
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise LakeError(f"invalid lake path {path!r}")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _remove_tree(folder: Path) -> None:
    if folder.exists():
        for entry in folder.iterdir():
            entry.unlink()
        folder.rmdir()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
