"""The Dagster UI started as the README says (`make dev` = `.venv/bin/mlplatform ui`), from a shell whose PATH
lacks the virtualenv: the code location loads with every asset, job and sensor."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from assets.definitions import build_definitions
from mlplatform.config import Settings
from tests.conftest import free_port

QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { repositories {
      jobs { name } sensors { name } assetNodes { assetKey { path } } } } } } } } }
"""


@contextmanager
def running_ui(home: Path, log_path: Path) -> Iterator[tuple[str, dict]]:
    """`mlplatform ui` on a free port, started as the README does from a PATH without the virtualenv; yields
    its URL and the loaded code location's entry, and stops it (webserver, daemon and their runs) after."""
    tools = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != tools)
    port = free_port()
    env = {**os.environ, "PATH": path, "MLPLATFORM_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    ui = subprocess.Popen(
        [str(tools / "mlplatform"), "ui", "--port", str(port)],
        env=env,
        cwd=Path(__file__).parents[1],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # dagster dev starts the webserver and daemon as children
    )
    try:
        url = f"http://127.0.0.1:{port}"
        yield url, _loaded_location(f"{url}/graphql", ui, log_path)
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_the_ui_loads_every_asset_job_and_sensor_without_the_virtualenv_on_path(tmp_path):
    with running_ui(tmp_path / "home", tmp_path / "ui.log") as (_, entry):
        location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location.get("message")
    (repository,) = location["repositories"]
    defs = build_definitions(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path / "home")}))
    graph = defs.resolve_asset_graph()
    expected_assets = {"/".join(key.path) for key in graph.get_all_asset_keys()}
    assert {"/".join(a["assetKey"]["path"]) for a in repository["assetNodes"]} == expected_assets
    assert {j["name"] for j in repository["jobs"]} >= {"daily", "training", "models", "predictions", "monitoring"}
    assert {s["name"] for s in repository["sensors"]} == {s.name for s in defs.sensors or []}


def _loaded_location(url: str, ui: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert ui.poll() is None, f"the UI exited: {log.read_text()[-2000:]}"
        try:
            answer = httpx.post(url, json={"query": QUERY}, timeout=10).json()["data"]["workspaceOrError"]
        except (httpx.HTTPError, KeyError, ValueError):
            time.sleep(1)
            continue
        entries = answer.get("locationEntries", [])
        if entries and entries[0]["loadStatus"] == "LOADED":
            return entries[0]
        time.sleep(1)
    pytest.fail(f"the code location did not load in 180 s: {log.read_text()[-2000:]}")
