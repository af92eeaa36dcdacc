"""LocalLake-only guarantees: concurrent processes and atomic refs."""

import multiprocessing as mp

from mlplatform.lake import MAIN, LocalLake


def _writer(root: str, branch: str, n: int) -> None:
    lake = LocalLake(root)
    lake.create_branch(branch, MAIN, exist_ok=True)
    for i in range(n):
        lake.put(branch, f"{branch}/f{i}", f"{branch}-{i}".encode())
        lake.commit(branch, f"{branch} {i}")
    lake.merge(branch, MAIN, f"merge {branch}")


def test_two_processes_on_different_branches_both_publish(tmp_path):
    root = str(tmp_path / "lake")
    LocalLake(root)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(root, name, 20)) for name in ("p1", "p2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lake = LocalLake(root)
    paths = lake.list(MAIN)
    assert len(paths) == 40
    assert lake.get(MAIN, "p2/f19") == b"p2-19"
    # Both merges are on main's history: nothing was lost to a race on the ref.
    merges = [c for c in lake.log(MAIN) if c.message.startswith("merge")]
    assert sorted(c.message for c in merges) == ["merge p1", "merge p2"]


def test_objects_are_content_addressed(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    lake.put(MAIN, "a", b"same")
    lake.put(MAIN, "b", b"same")
    assert lake.uri(MAIN, "a") == lake.uri(MAIN, "b")
