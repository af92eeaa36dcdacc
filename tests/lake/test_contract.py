"""The contract every Lake implementation passes (LocalLake here, LakeFSLake against a server)."""

import pytest

from mlplatform.lake import MAIN, BranchExists, Change, MergeConflict, NothingToCommit, PathNotFound, RefNotFound


def _commit_files(lake, branch, files, message="write"):
    for path, data in files.items():
        lake.put(branch, path, data)
    return lake.commit(branch, message)


def test_branch_writes_are_isolated_until_merged(lake):
    lake.create_branch("feature", MAIN)
    lake.put("feature", "a/x.txt", b"one")
    assert lake.get("feature", "a/x.txt") == b"one"
    assert lake.uncommitted("feature") == [Change("added", "a/x.txt")]
    assert not lake.exists(MAIN, "a/x.txt")
    commit = lake.commit("feature", "add x", {"run_id": "r1"})
    assert commit.metadata["run_id"] == "r1"
    assert lake.uncommitted("feature") == []
    assert lake.resolve("feature") == commit.id
    assert not lake.exists(MAIN, "a/x.txt")
    merged = lake.merge("feature", MAIN, "publish", {"run_id": "r1"})
    assert lake.get(MAIN, "a/x.txt") == b"one"
    assert merged.metadata["run_id"] == "r1"
    assert commit.id in merged.parents


def test_read_any_ref_after_later_changes(lake):
    first = _commit_files(lake, MAIN, {"t/p.bin": b"v1"})
    lake.create_tag("v1", MAIN)
    _commit_files(lake, MAIN, {"t/p.bin": b"v2"})
    assert lake.get(MAIN, "t/p.bin") == b"v2"
    assert lake.get(first.id, "t/p.bin") == b"v1"
    assert lake.get("v1", "t/p.bin") == b"v1"
    assert lake.tags()["v1"] == first.id
    assert lake.resolve("v1") == first.id


def test_three_way_merge_takes_both_sides(lake):
    _commit_files(lake, MAIN, {"shared.txt": b"base"})
    lake.create_branch("left", MAIN)
    _commit_files(lake, "left", {"left.txt": b"L"})
    _commit_files(lake, MAIN, {"main.txt": b"M"})
    lake.merge("left", MAIN)
    assert lake.list(MAIN) == ["left.txt", "main.txt", "shared.txt"]


def test_conflicting_merge_raises_and_leaves_destination_untouched(lake):
    _commit_files(lake, MAIN, {"p/data": b"base"})
    lake.create_branch("a", MAIN)
    lake.create_branch("b", MAIN)
    _commit_files(lake, "a", {"p/data": b"from a"})
    _commit_files(lake, "b", {"p/data": b"from b"})
    lake.merge("a", MAIN)
    before = lake.resolve(MAIN)
    with pytest.raises(MergeConflict) as err:
        lake.merge("b", MAIN)
    assert "p/data" in str(err.value)
    assert lake.resolve(MAIN) == before
    assert lake.get(MAIN, "p/data") == b"from a"


def test_identical_changes_on_both_sides_do_not_conflict(lake):
    lake.create_branch("a", MAIN)
    lake.create_branch("b", MAIN)
    _commit_files(lake, "a", {"same": b"x"})
    _commit_files(lake, "b", {"same": b"x"})
    lake.merge("a", MAIN)
    lake.merge("b", MAIN)
    assert lake.get(MAIN, "same") == b"x"


def test_diff_log_and_nothing_to_commit(lake):
    c1 = _commit_files(lake, MAIN, {"a": b"1", "b": b"1"}, "one")
    lake.put(MAIN, "b", b"2")
    lake.remove(MAIN, "a")
    lake.put(MAIN, "c", b"3")
    c2 = lake.commit(MAIN, "two")
    assert lake.diff(c1.id, c2.id) == [Change("removed", "a"), Change("changed", "b"), Change("added", "c")]
    assert lake.diff(c1.id, c2.id, prefix="c") == [Change("added", "c")]
    assert [c.message for c in lake.log(MAIN, limit=2)] == ["two", "one"]
    with pytest.raises(NothingToCommit):
        lake.commit(MAIN, "empty")


def test_revert_restores_previous_content(lake):
    _commit_files(lake, MAIN, {"k": b"good"})
    bad = _commit_files(lake, MAIN, {"k": b"bad", "extra": b"e"})
    lake.revert(MAIN, bad.id)
    assert lake.get(MAIN, "k") == b"good"
    assert not lake.exists(MAIN, "extra")


def test_branch_lifecycle_and_errors(lake):
    lake.create_branch("runs/abc", MAIN)
    assert "runs/abc" in lake.branches()
    with pytest.raises(BranchExists):
        lake.create_branch("runs/abc", MAIN)
    assert lake.create_branch("runs/abc", MAIN, exist_ok=True) == lake.resolve(MAIN)
    lake.delete_branch("runs/abc")
    assert "runs/abc" not in lake.branches()
    with pytest.raises(RefNotFound):
        lake.resolve("runs/abc")
    with pytest.raises(PathNotFound):
        lake.get(MAIN, "missing")
    with pytest.raises(RefNotFound):
        lake.create_branch("x", "no-such-ref")


def test_list_by_prefix(lake):
    _commit_files(
        lake,
        MAIN,
        {"tables/a/date=1/data.parquet": b"1", "tables/a/date=2/data.parquet": b"2", "tables/b/data.parquet": b"3"},
    )
    assert lake.list(MAIN, "tables/a/") == ["tables/a/date=1/data.parquet", "tables/a/date=2/data.parquet"]
