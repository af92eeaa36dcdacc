"""The dbt project (dbt/), as dagster-dbt sees it, and the dbt executable installed beside this Python."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT = DbtProject(project_dir=Path(__file__).resolve().parent.parent / "dbt")
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's state of its last parse, in the target folder


def dbt_executable() -> str:
    """The dbt beside this Python (its bin folder need not be on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


def parse_if_dev() -> None:
    """Under `dagster dev`, parses the dbt project again so that model edits show up (`make install` parses it
    once); elsewhere nothing. The manifest is replaced whole: dbt writes its target folder's manifest.json in
    place (as `DbtProject.prepare_if_dev` has it do), and a process that loaded the definitions meanwhile (another
    code server, a run, a test beside `mlplatform ui`) read half a file: "orjson.JSONDecodeError: unexpected end
    of data"."""
    if not DBT_PROJECT.preparer.using_dagster_dev():
        return
    target = DBT_PROJECT.project_dir / DBT_PROJECT.target_path
    target.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as scratch:
        state = target / PARTIAL_PARSE
        if state.exists():  # dbt parses only what changed since
            shutil.copy2(state, Path(scratch) / PARTIAL_PARSE)
        dbt_resource().cli(["parse", "--quiet"], target_path=Path(scratch)).wait()
        if (Path(scratch) / PARTIAL_PARSE).exists():
            os.replace(Path(scratch) / PARTIAL_PARSE, state)
        os.replace(Path(scratch) / "manifest.json", DBT_PROJECT.manifest_path)  # last: what the definitions read
