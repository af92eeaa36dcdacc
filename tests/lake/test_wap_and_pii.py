import time

import pandas as pd

from mlplatform.lake import MAIN, LocalLake
from mlplatform.lake.wap import expire_run_branches, open_run_branch, publish
from mlplatform.pii import pii_columns, pseudonymise


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


def test_pseudonymise_drops_pii_and_keeps_a_keyed_hash_of_the_card():
    df = pd.DataFrame(
        {"customer_id": [1, 2], "name": ["A", "B"], "Email": ["a@x", "b@x"], "card_number": ["4111", "4222"]}
    )
    assert pii_columns(df.columns) == ["Email", "card_number", "name"]
    out = pseudonymise(df, key=b"k1")
    assert list(out.columns) == ["customer_id", "card_number_hash"]
    assert out["card_number_hash"].str.len().eq(64).all()
    # Keyed: stable under one key, different under another.
    assert out["card_number_hash"].tolist() == pseudonymise(df, key=b"k1")["card_number_hash"].tolist()
    assert out["card_number_hash"].tolist() != pseudonymise(df, key=b"k2")["card_number_hash"].tolist()
