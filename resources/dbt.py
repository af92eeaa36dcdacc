"""The dbt project (dbt/), as dagster-dbt sees it, and the dbt executable installed beside this Python."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT = DbtProject(project_dir=Path(__file__).resolve().parent.parent / "dbt")


def dbt_executable() -> str:
    """The dbt beside this Python (its bin folder need not be on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())
