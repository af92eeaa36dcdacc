"""Hands-free under the real daemon: `mlplatform ui` running (dagster dev: webserver, daemon, sensors) while days
land, and nobody launches anything. The daily runs come from the landing-zone sensor, in day order, once each,
and reach main through the publish sensor. (`python -m bench daemon` does the same over 60 days and compares
all of main with the demo's.)"""

import time

import pandas as pd
import pytest
from dagster import DagsterRunStatus, RunsFilter

from assets.publishing import PUBLICATION_TAG
from assets.runs import PARTITION_RANGE_END, PARTITION_RANGE_START, project_instance
from mlplatform.config import Settings
from mlplatform.demo import create_app, new_token, prepare_unlanded, reports_path, serve_in_thread
from mlplatform.lake import MAIN, open_lake
from mlplatform.lake.tables import stored_partitions
from mlplatform.sources.landing import open_landing_zone
from mlplatform.sources.replay import replay
from tests.test_ui import running_ui

DAYS = ["2018-04-01", "2018-04-02", "2018-04-03", "2018-04-04"]


def daily_runs(settings: Settings) -> list[tuple[str, str, str, str, str]]:
    """(first day, last day, status, publication, run id) of each daily run, oldest first."""
    runs = reversed(project_instance(settings).get_runs(RunsFilter(job_name="daily")))
    return [
        (
            r.tags.get("dagster/partition") or r.tags[PARTITION_RANGE_START],
            r.tags.get("dagster/partition") or r.tags[PARTITION_RANGE_END],
            r.status.value,
            r.tags.get(PUBLICATION_TAG, ""),
            r.run_id,
        )
        for r in runs
    ]


def published_through(settings: Settings, days: list[str], ui_log, timeout: float = 420) -> None:
    """Waits until `days` are on main and every daily run has been through publishing."""
    lake = open_lake(settings.lake)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = daily_runs(settings)
        if stored_partitions(lake, MAIN, ["raw_transactions"]) == days and all(r[3] for r in runs):
            return
        assert not [r for r in runs if r[2] == DagsterRunStatus.FAILURE.value], runs
        time.sleep(2)
    raise AssertionError(
        f"{days[-1]} not published in {timeout:.0f} s: {daily_runs(settings)}; {ui_log.read_text()[-3000:]}"
    )


@pytest.mark.slow
def test_the_daemon_runs_and_publishes_landed_days_in_order_each_once(tmp_path, monkeypatch):
    home = tmp_path / "home"
    settings = Settings.from_env({"MLPLATFORM_HOME": str(home)})
    transactions = prepare_unlanded(settings, len(DAYS))
    token = new_token()
    api = serve_in_thread(create_app(pd.read_parquet(reports_path(settings)), token))
    monkeypatch.setenv("MLPLATFORM_FRAUD_API_URL", api.url)
    monkeypatch.setenv("MLPLATFORM_FRAUD_API_TOKEN", token)
    zone = open_landing_zone(settings.landing_uri, settings.aws_endpoint_url)
    try:
        with running_ui(home, tmp_path / "ui.log"):
            replay(transactions, zone, DAYS[:2])
            published_through(settings, DAYS[:2], tmp_path / "ui.log")
            replay(transactions, zone, DAYS[2:])
            published_through(settings, DAYS, tmp_path / "ui.log")
    finally:
        api.stop()
    runs = daily_runs(settings)
    assert [run[:3] for run in runs] == [
        ("2018-04-01", "2018-04-02", "SUCCESS"),
        ("2018-04-03", "2018-04-04", "SUCCESS"),
    ]
    # Each run merged into main once, in day order, and tagged with its merge.
    merges = [c for c in reversed(open_lake(settings.lake).log(MAIN)) if c.message.startswith("Publish run ")]
    assert [c.metadata["run_id"] for c in merges] == [run[4] for run in runs]
    assert [run[3] for run in runs] == [f"published {c.id}" for c in merges]
    # Four days make no complete training week: nothing downstream was due.
    assert {r.job_name for r in project_instance(settings).get_runs()} == {"daily"}
