"""The dbt project's manifest, which every process loading the definitions reads."""

import threading

import orjson
import pytest

from resources.dbt import DBT_PROJECT, parse_if_dev


@pytest.mark.slow  # a dbt parse, ~5 s
def test_a_parse_under_dagster_dev_replaces_the_manifest_whole(monkeypatch):
    """Under `dagster dev` the definitions parse the dbt project again; a process reading the manifest meanwhile
    reads it whole, the old one or the new (CI once failed on half a file, written in place)."""
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    before = DBT_PROJECT.manifest_path.stat()
    done, errors, reads = threading.Event(), [], []

    def read() -> None:
        while not done.is_set():
            try:
                reads.append(len(orjson.loads(DBT_PROJECT.manifest_path.read_bytes())["nodes"]))
            except (orjson.JSONDecodeError, FileNotFoundError) as error:
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        parse_if_dev()
    finally:
        done.set()
        reader.join()
    assert errors == [] and len(reads) > 10 and min(reads) > 0
    assert DBT_PROJECT.manifest_path.stat().st_ino != before.st_ino  # a new file, not the old one rewritten
    assert not list(DBT_PROJECT.manifest_path.parent.glob(".parse-*"))  # the parse's scratch folder is gone
