"""Write-audit-publish: each run writes to its own branch, which is merged into main only on success."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mlplatform.lake.base import MAIN, Commit, Lake, LakeError, RefNotFound

RUN_PREFIX = "runs/"


def run_branch(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


def open_run_branch(lake: Lake, run_id: str) -> str:
    """The run's branch, created from main the first time any step of the run touches the lake."""
    name = run_branch(run_id)
    lake.create_branch(name, MAIN, exist_ok=True)
    return name


@dataclass(frozen=True)
class Publication:
    run_id: str
    commit: Commit | None  # None when the run wrote nothing
    changed_paths: int


class StaleInputs(LakeError):
    """The run read data that main has changed since: what it computed is out of date."""

    def __init__(self, run_id: str, paths: list[str]) -> None:
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        super().__init__(
            f"run {run_id} read {len(paths)} table(s) that main changed since it started ({shown}): "
            "run it again on today's main; its branch is kept"
        )
        self.paths = paths


def base_commit(lake: Lake, run_id: str) -> str:
    """The commit of main the run's branch started from (its newest commit not written by the run)."""
    for commit in lake.log(run_branch(run_id), limit=1_000):
        if commit.metadata.get("run_id") != run_id or commit.metadata.get("asset_key") is None:
            return commit.id
    raise LakeError(f"the branch of run {run_id} has no base within 1,000 commits")


def publish(lake: Lake, run_id: str, metadata: dict[str, str], reads: set[str] | None = None) -> Publication | None:
    """Merges the run's branch into main in one commit and deletes it (None if there is no branch).

    Raises StaleInputs when main changed a table the run read (`reads`) and did not write since the run
    started, and MergeConflict when another run published different content to the same paths; either
    way main and the branch are left untouched.
    """
    branch = run_branch(run_id)
    try:
        head = lake.get_commit(branch)
    except RefNotFound:
        return None
    if head.metadata.get("run_id") != run_id:  # the branch holds no commit of this run
        lake.delete_branch(branch)
        return Publication(run_id, None, 0)
    if reads:
        base = base_commit(lake, run_id)
        written = {c.path for c in lake.diff(base, branch)}
        stale = sorted((reads - written) & {c.path for c in lake.diff(base, MAIN)})
        if stale:
            raise StaleInputs(run_id, stale)
    commit = lake.merge(branch, MAIN, message=f"Publish run {run_id}", metadata={"run_id": run_id, **metadata})
    lake.delete_branch(branch)
    return Publication(run_id, commit, len(lake.diff(commit.parents[0], commit.id)))


def expire_run_branches(lake: Lake, older_than_seconds: float, now: float | None = None) -> list[str]:
    """Retention: deletes run branches (kept after failures for inspection) whose head is older than the limit."""
    now = time.time() if now is None else now
    removed = []
    for name, head in lake.branches().items():
        if name.startswith(RUN_PREFIX) and now - lake.get_commit(head).created > older_than_seconds:
            lake.delete_branch(name)
            removed.append(name)
    return removed


def expire_folders(root: Path, older_than_seconds: float, now: float | None = None) -> list[Path]:
    """Retention of runs' scratch folders (kept after a failure for inspection): removes those not touched since."""
    now = time.time() if now is None else now
    old = (
        [p for p in sorted(root.iterdir()) if p.is_dir() and now - p.stat().st_mtime > older_than_seconds]
        if root.exists()
        else []
    )
    for folder in old:
        shutil.rmtree(folder)
    return old
