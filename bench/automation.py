"""Hands-free against the demo: the same days published to main by `mlplatform demo`, and by the daily runs alone
with the `downstream_of_main` sensor starting everything after them (ticked here as the daemon would, each
request executed and published in turn). Prints how many partitions of each asset are equal, ignoring the
columns that name a run's own ids (lake commits, MLflow run ids), and each path's time."""

import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from dagster import BetaWarning, build_sensor_context

from assets.definitions import build_definitions
from assets.publishing import Effects
from assets.runs import PARTITION_RANGE_END, PARTITION_RANGE_START, project_instance, run_and_publish
from assets.sensors import downstream_of_main
from mlplatform.config import Settings
from mlplatform.demo import create_app, new_token, prepare, run_demo, serve_in_thread
from mlplatform.features.definitions import FRAUD
from mlplatform.lake import MAIN, open_lake
from mlplatform.lake.tables import read_table
from mlplatform.online_store import open_online_store
from mlplatform.tracking import Tracking
from resources import build_resources

# Columns naming a run's own ids, and a Bento's build (its tag, path and archive digest are new at each build).
RUN_IDS = [
    "features_commit",
    "mlflow_run_id",
    "training_set_commit",
    "commit",
    "lake_commit",
    "bento",
    "archive_path",
    "sha256",
]
COMPARED = ["training_set", "fraud_model", "batch_predictions", "feature_drift", "model_performance"]


def hands_free(settings: Settings, days: int) -> list[str]:
    """The daily runs over every day, then the sensor's requests until it has none; returns the runs made."""
    sources = prepare(settings, days)
    token = new_token()
    api = serve_in_thread(create_app(pd.read_parquet(sources.reports_path), token))
    made: list[str] = []
    try:
        settings = replace(settings, fraud_api_url=api.url, fraud_api_token=token)
        defs = build_definitions(settings)
        instance = project_instance(settings)
        lake = open_lake(settings.lake)
        with open_online_store(settings.online_store, FRAUD) as store:
            effects = Effects(store, settings.bentoml_home, Tracking.of(settings))
            assert run_and_publish(
                defs, instance, lake, "daily", sources.days[0], sources.days[-1], effects=effects
            ).published
            while True:
                with build_sensor_context(instance=instance, resources=build_resources(settings)) as context:
                    result = downstream_of_main(context)
                requests = getattr(result, "run_requests", None) or []
                if not requests:
                    return made
                for request in requests:
                    first = request.partition_key or request.tags[PARTITION_RANGE_START]
                    last = request.partition_key or request.tags[PARTITION_RANGE_END]
                    assert request.run_key not in made, f"{request.run_key} requested twice"
                    run_and_publish(defs, instance, lake, request.job_name, first, last, effects=effects)
                    made.append(request.run_key)
    finally:
        api.stop()


def tables(settings: Settings, asset: str) -> dict[str, pd.DataFrame]:
    lake = open_lake(settings.lake)
    prefix = f"tables/{asset}/"
    return {
        p[len(prefix) :].split("/")[0]: read_table(lake, MAIN, p).drop(columns=RUN_IDS, errors="ignore")
        for p in lake.list(MAIN, prefix)
        if p.endswith("/data.parquet")
    }


def timed_demo(tmp: str, days: int) -> tuple[Settings, float]:
    """`mlplatform demo` over `days` days on a home of its own, and its seconds."""
    demo = Settings.from_env({"MLPLATFORM_HOME": str(Path(tmp) / "demo")})
    started = time.perf_counter()
    assert run_demo(demo, days).success
    return demo, time.perf_counter() - started


def compare(demo: Settings, other: Settings, label: str, assets: list[str] | None = None) -> None:
    """Prints, for each asset (default: every table on the demo's main), how many partitions are equal."""
    lake = open_lake(demo.lake)
    names = assets or sorted({p.split("/")[1] for p in lake.list(MAIN, "tables/") if p.endswith("/data.parquet")})
    for asset in names:
        ours, theirs = tables(other, asset), tables(demo, asset)
        same = [k for k in theirs if k in ours and ours[k].equals(theirs[k])]
        print(f"  {asset:<28} demo {len(theirs):>3} partitions, {label} {len(ours):>3}, equal {len(same):>3}")


def main(quick: bool = False) -> None:
    warnings.filterwarnings("ignore", category=BetaWarning)
    days = 42 if quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        demo, demo_s = timed_demo(tmp, days)
        free = Settings.from_env({"MLPLATFORM_HOME": str(Path(tmp) / "hands-free")})
        started = time.perf_counter()
        made = hands_free(free, days)
        free_s = time.perf_counter() - started
        print(f"{days} days: demo {demo_s:.0f} s; daily runs + downstream_of_main {free_s:.0f} s ({len(made)} runs:")
        print("  " + ", ".join(made) + ")")
        compare(demo, free, "hands-free", COMPARED)
