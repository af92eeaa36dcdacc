"""Write-audit-publish: each run writes to its own branch, which is merged into main only on success."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mlplatform.lake.base import MAIN, Commit, Lake, RefNotFound

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


def publish(lake: Lake, run_id: str, metadata: dict[str, str]) -> Publication | None:
    """Merges the run's branch into main in one commit and deletes it (None if there is no branch).

    Raises MergeConflict, leaving main and the branch untouched, when another run published
    different content to the same paths since this run started.
    """
    branch = run_branch(run_id)
    try:
        head = lake.get_commit(branch)
    except RefNotFound:
        return None
    if head.metadata.get("run_id") != run_id:  # the branch holds no commit of this run
        lake.delete_branch(branch)
        return Publication(run_id, None, 0)
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
