import time

from mlplatform.lake import MAIN, LocalLake
from mlplatform.lake.wap import expire_run_branches, open_run_branch, publish
from mlplatform.pii import pii_columns


def test_publish_of_a_run_that_wrote_nothing_only_removes_its_branch(tmp_path):
    lake = LocalLake(tmp_path)
    open_run_branch(lake, "r1")
    head = lake.resolve(MAIN)
    publication = publish(lake, "r1", {})
    assert publication.commit is None
    assert lake.resolve(MAIN) == head
    assert "runs/r1" not in lake.branches()
    assert publish(lake, "never-ran", {}) is None


def test_retention_removes_only_old_run_branches(tmp_path):
    lake = LocalLake(tmp_path)
    for run in ("old", "new"):
        time.sleep(0.05)  # distinct commit times
        branch = open_run_branch(lake, run)
        lake.put(branch, f"{run}.txt", b"x")
        lake.commit(branch, run, {"run_id": run})
    lake.create_branch("feature", MAIN)
    created = {name: lake.get_commit(name).created for name in ("runs/old", "runs/new")}
    gap = created["runs/new"] - created["runs/old"]
    removed = expire_run_branches(lake, older_than_seconds=3600 + gap / 2, now=created["runs/new"] + 3600)
    assert removed == ["runs/old"]
    assert set(lake.branches()) == {"main", "feature", "runs/new"}


def test_pii_columns_are_found_whatever_their_case():
    assert pii_columns(["customer_id", "name", "Email", "card_number", "card_number_hash"]) == [
        "Email",
        "card_number",
        "name",
    ]
