"""The Bento: built by a Dagster run around the champion, installed only once that run is published, and
served by `bentoml serve` with its own packaged model (the registry need not be reachable)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance

from assets.definitions import build_definitions
from assets.publishing import Effects, publish_run
from mlplatform.config import Settings, handbook_path
from mlplatform.demo import prepare_scoring, request_bodies, wait_ready
from mlplatform.lake import open_lake
from mlplatform.lake.tables import read_table, table_path
from mlplatform.lake.wap import run_branch
from mlplatform.tracking import Tracking, load_model
from tests.conftest import free_port, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]


def test_a_published_bento_is_installed_and_serves_its_own_model(tmp_path):
    settings = Settings.from_env({"MLPLATFORM_HOME": str(tmp_path / "home")})
    setup = prepare_scoring(settings, max_epochs=1)
    instance = DagsterInstance.ephemeral()
    result = build_definitions(settings).resolve_job_def("serving").execute_in_process(instance=instance)
    assert result.success
    lake = open_lake(settings.lake)
    manifest = read_table(lake, run_branch(result.run_id), table_path(["fraud_scorer_bento"], None))
    assert manifest["bento"].tolist() == [f"fraud_scorer:v{setup.version}"]
    installed = settings.bentoml_home / "bentos" / "fraud_scorer" / f"v{setup.version}"
    assert not installed.exists()  # built and stored on the run's branch only
    assert not lake.exists("main", str(manifest["archive_path"].iloc[0]))

    publish_run(instance, result.run_id, lake, Effects(bentoml_home=settings.bentoml_home))
    assert lake.exists("main", str(manifest["archive_path"].iloc[0])) and installed.exists()

    port = free_port()
    env = {
        **os.environ,
        "MLPLATFORM_HOME": str(settings.home),  # the online store
        "BENTOML_HOME": str(settings.bentoml_home),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # nothing listens: the Bento's own model serves
    }
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent))
    log = open(tmp_path / "bento.log", "w")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        [bentoml, "serve", "fraud_scorer:latest", "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process, timeout=120)
        except RuntimeError as error:
            pytest.fail(f"{error}: {(tmp_path / 'bento.log').read_text()[-3000:]}")
        (body,) = request_bodies(setup.transactions.iloc[:1])
        scored = httpx.post(f"{url}/score", json=body).raise_for_status().json()
    finally:
        stop(process, log, grace=20)
    assert scored["model_version"] == setup.version
    expected = load_model(Tracking.of(settings), setup.version).score(setup.offline.iloc[[0]])[0]
    assert scored["score"] == pytest.approx(expected, abs=1e-6)
