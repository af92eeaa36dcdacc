"""MLflow tracking and registry of the fraud models.

Embedded default: a SQLite store and local artifacts under MLPLATFORM_HOME/mlflow; MLFLOW_TRACKING_URI
points at a tracking server instead. Each training run logs its parameters, metrics, curves, the
model as a torch.export program (scaling inside, feature names in its metadata), the training set as an
`mlflow.data` dataset with its lake commit and digest, the code version and the Dagster run.

Registered model `fraud_detector`: every new version gets alias `challenger`. A promoted version
gets tag `champion_from` (its decision day, when its evaluation labels were complete); the version
that was champion on a day is the promoted one with the latest `champion_from` on or before it, and
alias `champion` follows the latest. Nothing is chosen by modification time or by being newest.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from mlplatform.config import Settings
from mlplatform.evaluation import Metrics
from mlplatform.models import MLPModel, PortableModel

MODEL_NAME = "fraud_detector"
EXPERIMENT = "fraud_detector"
CHALLENGER, CHAMPION = "challenger", "champion"
FEATURE_NAMES = "feature_names"  # the MLmodel metadata key listing the model's input columns, in order


@dataclass(frozen=True)
class Tracking:
    uri: str
    artifact_root: str | None = None  # where the experiment keeps artifacts when this store creates it

    @classmethod
    def of(cls, settings: Settings) -> Tracking:
        return cls(settings.mlflow_tracking_uri, settings.mlflow_artifact_root or None)

    def client(self) -> MlflowClient:
        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def experiment_id(self, client: MlflowClient) -> str:
        found = client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root)
        except MlflowException:  # created meanwhile by another process
            created = client.get_experiment_by_name(EXPERIMENT)
            if created is None:
                raise
            return created.experiment_id


@dataclass(frozen=True)
class ModelRecord:
    """What a registered version says of itself: where it came from and when it may be used."""

    version: str
    run_id: str
    week: str  # the training-set partition it was trained on
    train_start: str
    cutoff: str  # training data and labels strictly before this day
    decision_day: str  # its test window's labels are complete: it can be evaluated and promoted
    training_set_commit: str
    features: list[str]
    champion_from: str | None

    @classmethod
    def of(cls, version: ModelVersion) -> ModelRecord:
        tags = version.tags
        return cls(
            version=str(version.version),
            run_id=version.run_id or "",
            week=tags.get("week", ""),
            train_start=tags.get("train_start", ""),
            cutoff=tags.get("cutoff", ""),
            decision_day=tags.get("decision_day", ""),
            training_set_commit=tags.get("training_set_commit", ""),
            features=tags.get("features", "").split(","),
            champion_from=tags.get("champion_from"),
        )


@dataclass
class TrainingRun:
    """Everything one weekly training logs (the Dagster asset fills it in)."""

    model: MLPModel
    week: str
    train_start: str
    cutoff: str
    decision_day: str
    train_rows: pd.DataFrame
    training_set_uri: str
    training_set_commit: str
    training_set_digest: str
    metrics: Metrics
    baseline: Metrics
    params: dict[str, object]
    figures: dict[str, bytes]  # file name -> PNG
    tags: dict[str, str]  # code version, Dagster run id and partition


def log_and_register(tracking: Tracking, run: TrainingRun) -> ModelRecord:
    """Logs the training run and registers its model as a new version with alias `challenger`."""
    client = tracking.client()
    # A float32 matrix in the feature order: the exported graph's input (batch size > 1 keeps it dynamic).
    example = run.train_rows[run.model.features].head(5).to_numpy(dtype=np.float32)
    signature = infer_signature(example, run.model.score_array(example).astype(np.float32))
    with (
        _fluent(tracking),
        warnings.catch_warnings(),
        mlflow.start_run(
            experiment_id=tracking.experiment_id(client), run_name=f"{MODEL_NAME} {run.week}", tags=run.tags
        ),
    ):
        # Known and intended: integer id/label columns in the dataset, a file URI as its source.
        warnings.filterwarnings("ignore", message=".*integer column.*|.*interpreted in multiple ways.*")
        mlflow.log_params(run.params)
        mlflow.log_metrics({f"test_{k}": float(v) for k, v in vars(run.metrics).items()})
        mlflow.log_metrics({f"baseline_{k}": float(v) for k, v in vars(run.baseline).items()})
        mlflow.log_metrics({"train_rows": len(run.train_rows), "train_frauds": int(run.train_rows["label"].sum())})
        dataset = from_pandas(
            run.train_rows,
            source=run.training_set_uri,
            targets="label",
            name=f"training_set/{run.week}",
            digest=run.training_set_digest[:36],
        )
        mlflow.log_input(dataset, context="training", tags={"lake_commit": run.training_set_commit})
        with tempfile.TemporaryDirectory() as folder:
            for name, png in run.figures.items():
                (Path(folder) / name).write_bytes(png)
            mlflow.log_artifacts(folder, artifact_path="curves")
        info = mlflow.pytorch.log_model(
            run.model.module,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name=MODEL_NAME,
            pip_requirements=[f"torch=={_torch_version()}", f"numpy=={np.__version__}"],
            await_registration_for=0,
            # torch.export's archive: any process with torch loads it, without this package's classes.
            serialization_format="pt2",
            metadata={FEATURE_NAMES: run.model.features},
        )
    version = str(info.registered_model_version)
    tags = {
        "week": run.week,
        "train_start": run.train_start,
        "cutoff": run.cutoff,
        "decision_day": run.decision_day,
        "training_set_commit": run.training_set_commit,
        "features": ",".join(run.model.features),
        **{k: v for k, v in run.tags.items() if k.startswith("dagster")},
    }
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, key, value)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
    return ModelRecord.of(client.get_model_version(MODEL_NAME, version))


@contextmanager
def _fluent(tracking: Tracking) -> Iterator[None]:
    """MLflow's fluent API on this store, then the process-wide URI (and MLFLOW_TRACKING_URI, which
    mlflow.set_tracking_uri exports to subprocesses) as they were: nothing leaks to other stores."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking.uri)  # the registry URI defaults to it
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None unsets both (MLflow accepts it)


def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


def versions(tracking: Tracking) -> list[ModelRecord]:
    client = tracking.client()
    try:
        found = client.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException:
        return []
    return sorted((ModelRecord.of(v) for v in found), key=lambda r: int(r.version))


def version(tracking: Tracking, number: str) -> ModelRecord:
    return ModelRecord.of(tracking.client().get_model_version(MODEL_NAME, number))


def champion_version(tracking: Tracking) -> str | None:
    """The version alias `champion` points to (None before the first promotion)."""
    try:
        return str(tracking.client().get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException:
        return None


def champion_record(tracking: Tracking) -> ModelRecord | None:
    """What the champion says of itself (None before the first promotion)."""
    number = champion_version(tracking)
    return version(tracking, number) if number else None


def champion_on(tracking: Tracking, day: str, records: list[ModelRecord] | None = None) -> ModelRecord | None:
    """The version in force on `day`: the promoted one with the latest `champion_from` <= day."""
    candidates = versions(tracking) if records is None else records
    eligible = [(r.champion_from, int(r.version), r) for r in candidates if r.champion_from and r.champion_from <= day]
    return max(eligible, key=lambda e: e[:2], default=(None, 0, None))[2]


def promote(tracking: Tracking, record: ModelRecord) -> None:
    """Marks the version champion from its decision day; alias `champion` follows the latest such."""
    client = tracking.client()
    client.set_model_version_tag(MODEL_NAME, record.version, "champion_from", record.decision_day)
    latest = champion_on(tracking, "9999-12-31")
    if latest is not None:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, latest.version)


def load_model(tracking: Tracking, number: str) -> PortableModel:
    """A registered version as any server loads it: the exported graph (scaling inside) and its input columns."""
    uri = f"models:/{MODEL_NAME}/{number}"
    with _fluent(tracking):
        module = mlflow.pytorch.load_model(uri, map_location="cpu")
        features = (mlflow.models.get_model_info(uri).metadata or {}).get(FEATURE_NAMES)
    if not features:
        raise LookupError(f"{uri} has no {FEATURE_NAMES} in its metadata: it was not logged by this platform")
    return PortableModel(module, list(features))
