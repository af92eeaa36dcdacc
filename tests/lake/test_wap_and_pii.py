import time

from mlplatform.lake import MAIN, LocalLake
from mlplatform.lake.wap import expire_folders, expire_run_branches, open_run_branch, publish
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


def test_retention_removes_only_old_scratch_folders(tmp_path):
    """Issue 12's defect 9: a failed run's scratch folder (its DuckDB file, dbt.log) is kept a week, then removed."""
    import os

    root = tmp_path / "work"
    for run, age in (("old", 8 * 86_400), ("new", 3_600)):
        (root / run).mkdir(parents=True)
        (root / run / "mlplatform.duckdb").write_bytes(b"x")
        os.utime(root / run, (time.time() - age, time.time() - age))
    assert expire_folders(root, 7 * 86_400) == [root / "old"]
    assert sorted(p.name for p in root.iterdir()) == ["new"]
    assert expire_folders(tmp_path / "no-such-folder", 0) == []


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


def test_write_partitions_commits_once_and_tolerates_identical_rewrites(tmp_path):
    import pandas as pd

    from mlplatform.lake.tables import read_table, table_path, write_partitions

    lake = LocalLake(tmp_path)
    frames = {"2018-04-01": pd.DataFrame({"a": [1]}), "2018-04-02": pd.DataFrame({"a": [2, 3]})}
    stored, first = write_partitions(lake, MAIN, ["t"], frames, {"run_id": "r1"})
    commit = lake.get_commit(MAIN)
    assert commit.id == first
    assert commit.metadata == {"run_id": "r1", "asset_key": "t", "partitions": "2018-04-01..2018-04-02"}
    assert [s.rows for s in stored.values()] == [1, 2]
    assert read_table(lake, first, table_path(["t"], "2018-04-02"))["a"].tolist() == [2, 3]
    # The same content again changes nothing: no new commit, the head is returned.
    _, again = write_partitions(lake, MAIN, ["t"], frames, {"run_id": "r2"})
    assert again == first and len(lake.log(MAIN)) == 2
