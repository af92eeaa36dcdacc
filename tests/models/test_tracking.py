"""MLflow tracking and registry, the same contract on the embedded SQLite store and a real `mlflow server`."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlplatform.config import Settings
from mlplatform.evaluation import Metrics
from mlplatform.models import FEATURES, train_mlp
from mlplatform.promotion import PromotionPolicy, decide
from mlplatform.tracking import (
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    Tracking,
    TrainingRun,
    champion_on,
    load_model,
    log_and_register,
    promote,
    versions,
)


def metrics(ap: float, auc: float = 0.8) -> Metrics:
    return Metrics(auc, ap, 0.2, 1000, 10)


def test_decision_rule():
    policy = PromotionPolicy("average_precision", margin=0.01)
    assert decide(policy, metrics(0.60), metrics(0.50), None).promote
    assert not decide(policy, metrics(0.45), metrics(0.50), None).promote  # below the baseline
    assert decide(policy, metrics(0.62), metrics(0.50), metrics(0.60)).promote
    refused = decide(policy, metrics(0.605), metrics(0.50), metrics(0.60))  # better, but not by the margin
    assert not refused.promote and "champion 0.6000 + margin 0.01" in refused.reason
    assert not decide(PromotionPolicy("auc_roc"), metrics(0.9, 0.7), metrics(0.1, 0.8), None).promote
    with pytest.raises(ValueError, match="promotion metric"):
        PromotionPolicy("accuracy")


def training_rows(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    frame["label"] = (frame["tx_amount"] + rng.normal(scale=0.5, size=n) > 1.5).astype("int64")
    frame["transaction_id"] = np.arange(n)
    frame["tx_datetime"] = pd.Timestamp("2018-04-04") + pd.to_timedelta(np.arange(n) * 60, unit="s")
    return frame


def register(tracking: Tracking, week: str, decision_day: str, seed: int):
    rows = training_rows(seed)
    model = train_mlp(rows, seed=seed, max_epochs=3)
    m = metrics(0.5)
    record = log_and_register(
        tracking,
        TrainingRun(
            model=model,
            week=week,
            train_start=week,
            cutoff=str((pd.Timestamp(week) + pd.Timedelta(days=14)).date()),
            decision_day=decision_day,
            train_rows=rows,
            training_set_uri=f"file:///lake/training_set/{week}",
            training_set_commit=f"commit-{week}",
            training_set_digest="ab" * 32,
            metrics=m,
            baseline=m,
            params={"seed": seed},
            figures={"roc.png": b"\x89PNG fake"},
            tags={"dagster_run_id": f"run-{week}", "dagster_partition": week},
        ),
    )
    return record, model, rows


@pytest.fixture(
    params=[pytest.param("embedded", marks=pytest.mark.slow), pytest.param("server", marks=pytest.mark.slow)]
)
def tracking(request, tmp_path):
    if request.param == "embedded":
        return Tracking.of(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path)}))
    return Tracking(request.getfixturevalue("mlflow_server"))


def test_registry_contract(tracking):
    # A fresh store per embedded case; the session's server may hold versions of an earlier case.
    before = len(versions(tracking))
    first, model, rows = register(tracking, "2018-04-04", "2018-05-02", seed=1)
    second, _, _ = register(tracking, "2018-04-11", "2018-05-09", seed=2)
    client = tracking.client()
    assert int(second.version) == int(first.version) + 1 == before + 2
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == second.version
    assert "MLFLOW_TRACKING_URI" not in os.environ  # the store is not leaked to this process or its children
    assert first.training_set_commit == "commit-2018-04-04" and first.champion_from is None

    # The model comes back with its scaling and feature order, scoring exactly as trained.
    loaded = load_model(tracking, first.version)
    assert loaded.features == FEATURES
    np.testing.assert_allclose(loaded.score(rows.head(200)), model.score(rows.head(200)), rtol=0, atol=1e-7)
    run = client.get_run(first.run_id)
    assert run.data.tags["dagster_partition"] == "2018-04-04"
    assert run.inputs.dataset_inputs[0].dataset.digest == ("ab" * 32)[:36]

    # Champion history: by decision day, not by version number or time of registration.
    promote(tracking, second)
    promote(tracking, first)
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == second.version
    assert champion_on(tracking, "2018-05-01") is None
    assert champion_on(tracking, "2018-05-02").version == first.version
    assert champion_on(tracking, "2018-05-08").version == first.version
    assert champion_on(tracking, "2018-05-09").version == second.version


CLEAN_LOADER = """
import json, sys
# Neither this package nor the orchestrator can be imported: only torch, MLflow and their dependencies.
for name in ("mlplatform", "assets", "resources", "serving", "dagster"):
    sys.modules[name] = None
import mlflow, pandas as pd, torch
uri = sys.argv[1]
module = mlflow.pytorch.load_model(uri, map_location="cpu")
features = mlflow.models.get_model_info(uri).metadata["feature_names"]
x = torch.from_numpy(pd.read_parquet(sys.argv[2])[features].to_numpy("float32"))
with torch.no_grad():
    print(json.dumps({"features": features, "scores": module(x).tolist()}))
"""


@pytest.mark.slow
def test_a_registered_model_loads_and_scores_with_torch_and_mlflow_only(tmp_path):
    tracking = Tracking.of(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path / "home")}))
    record, model, rows = register(tracking, "2018-04-04", "2018-05-02", seed=3)
    sample = rows.head(100)[list(reversed(FEATURES))]  # columns in another order: the loader picks its own
    sample.to_parquet(tmp_path / "rows.parquet")
    done = subprocess.run(
        [sys.executable, "-c", CLEAN_LOADER, f"models:/{MODEL_NAME}/{record.version}", str(tmp_path / "rows.parquet")],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking.uri},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["features"] == FEATURES
    # The scaling travels inside the graph: the clean process scores exactly as the trained model.
    np.testing.assert_allclose(loaded["scores"], model.score(rows.head(100)), rtol=0, atol=1e-6)
