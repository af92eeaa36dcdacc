"""The layers of docs/architecture.md: the library and the service run without the orchestrator."""

import subprocess
import sys

import pytest

ORCHESTRATION = ("dagster", "dagster_dbt", "dagster_aws", "dbt")

IMPORT_ALL = """
import importlib, pkgutil, sys, mlplatform
for module in pkgutil.walk_packages(mlplatform.__path__, "mlplatform."):
    if module.name != "mlplatform.features.spark_engine":  # the Spark engine needs pyspark, nothing else does
        importlib.import_module(module.name)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.slow
def test_the_library_never_loads_the_orchestrator():
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(done.stdout.split())
    assert "mlplatform" in loaded and "duckdb" in loaded
    assert loaded.isdisjoint(ORCHESTRATION), sorted(loaded & set(ORCHESTRATION))
