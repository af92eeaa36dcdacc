"""Serving: the scoring service packaged as a Bento around the champion, versioned in the lake like every
asset; publishing installs it into the platform's Bento store (`bentoml serve fraud_scorer:latest`)."""

import pandas as pd
from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, DataVersion, Failure, Output, asset

from mlplatform import bentos
from mlplatform.lake.wap import open_run_branch
from mlplatform.tracking import champion_version
from resources import LakeResource, MlflowResource

ASSET = "fraud_scorer_bento"


@asset(
    name=ASSET,
    group_name="serving",
    io_manager_key="lake_io_manager",
    deps=[AssetDep("fraud_model", partition_mapping=AllPartitionMapping())],
)
def fraud_scorer_bento(context: AssetExecutionContext, mlflow: MlflowResource, lake: LakeResource):
    """The scoring service as a Bento around the champion: its archive (in the lake) and what it holds."""
    tracking = mlflow.get()
    version = champion_version(tracking)
    if version is None:
        raise Failure("no fraud_detector version has been promoted yet: there is nothing to package")
    built = bentos.build(tracking.uri, version)
    store = lake.get()
    path = f"bentos/{built.tag.replace(':', '/')}.bento"
    store.put(open_run_branch(store, context.run_id), path, built.archive)  # committed with the manifest below
    manifest = pd.DataFrame(
        [{"bento": built.tag, "model_version": version, "archive_path": path, "sha256": built.sha256}]
    )
    yield Output(
        manifest,
        data_version=DataVersion(built.sha256),
        metadata={"bento": built.tag, "model_version": version, "archive_bytes": len(built.archive)},
    )
