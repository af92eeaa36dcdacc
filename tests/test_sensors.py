"""The landing-zone sensor requests the completed days in order, each once, consecutive days in one run, and
only when the history they read is published; a run not yet published makes it wait."""

import json
import uuid

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, SkipReason, build_sensor_context
from dagster_aws.s3 import S3Resource

from assets.publishing import PUBLICATION_TAG
from assets.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from assets.sensors import landing_zone_sensor
from mlplatform.lake import MAIN, LocalLake
from mlplatform.lake.wap import RUN_PREFIX
from mlplatform.sources.landing import LocalLandingZone
from resources import LakeResource, LandingZoneResource


class Platform:
    """A landing zone, a lake whose main holds the raw days published so far, and a Dagster instance."""

    def __init__(self, root) -> None:
        self.zone = LocalLandingZone(root / "landing")
        self.lake = LocalLake(root / "lake")
        self.resources = {
            "landing_zone": LandingZoneResource(uri=str(root / "landing"), s3=S3Resource()),
            "lake": LakeResource(root=str(root / "lake")),
        }
        self.instance = DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def land(self, day: str, complete: bool = True) -> None:
        self.zone.put(f"transactions/date={day}/part-00.ndjson", b"{}\n")
        if complete:
            self.zone.put(f"transactions/date={day}/_SUCCESS", b"{}")

    def publish(self, *days: str) -> None:
        for day in days:
            self.lake.put(MAIN, f"tables/raw_transactions/date={day}/data.parquet", day.encode())
        self.lake.commit(MAIN, f"publish {', '.join(days)}")

    def run(self, status: DagsterRunStatus, branch: bool = False) -> str:
        run_id = str(uuid.uuid4())
        self.instance.add_run(DagsterRun(job_name="daily", run_id=run_id, status=status))
        if branch:
            self.lake.create_branch(RUN_PREFIX + run_id)
        return run_id

    def tick(self):
        """The requested runs as (first, last, run key), or the skip message; the cursor is kept."""
        with build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as context:
            result = landing_zone_sensor(context)
        if isinstance(result, SkipReason):
            return result.skip_message
        self.cursor = result.cursor
        spans = []
        for r in result.run_requests:
            first = r.partition_key or r.tags[PARTITION_RANGE_START]
            spans.append((first, r.partition_key or r.tags[PARTITION_RANGE_END], r.run_key))
        return spans


@pytest.fixture
def platform(tmp_path) -> Platform:
    return Platform(tmp_path)


def test_completed_days_are_requested_in_order_once_each_consecutive_days_in_one_run(platform):
    platform.land("2018-04-01")
    platform.land("2018-04-02")
    platform.land("2018-04-03", complete=False)  # still landing: not requested yet
    assert platform.tick() == [("2018-04-01", "2018-04-02", "daily-2018-04-01-2018-04-02")]
    assert platform.tick() == "no completed day in the landing zone waits for its daily run"
    platform.publish("2018-04-01", "2018-04-02")

    platform.land("2018-04-05")  # arrives before 04-03 and 04-04 complete: its features would miss them
    assert platform.tick() == "2018-04-05 waits for 2018-04-04 on main (it has not landed)"
    platform.land("2018-04-03")
    platform.land("2018-04-04")
    assert platform.tick() == [("2018-04-03", "2018-04-05", "daily-2018-04-03-2018-04-05")]
    assert json.loads(platform.cursor) == [f"2018-04-0{d}" for d in range(1, 6)]


def test_the_days_after_a_failed_run_wait_for_its_rerun(platform):
    platform.land("2018-04-01")
    assert platform.tick() == [("2018-04-01", "2018-04-01", "daily-2018-04-01")]
    platform.run(DagsterRunStatus.FAILURE, branch=True)  # failed: kept off main, nothing is retried
    platform.land("2018-04-02")
    assert platform.tick() == "2018-04-02 waits for 2018-04-01 on main (its daily run failed: rerun it)"
    platform.publish("2018-04-01")  # rerun by hand (mlplatform run daily) and published
    assert platform.tick() == [("2018-04-02", "2018-04-02", "daily-2018-04-02")]


def test_nothing_is_requested_while_a_daily_run_is_unfinished_or_unpublished(platform):
    platform.land("2018-04-01")
    platform.land("2018-04-02")
    running = platform.run(DagsterRunStatus.STARTED)
    assert platform.tick() == "a daily run is unfinished or not yet published"
    platform.instance.delete_run(running)  # it finished: succeeded, its branch waits for the publish sensor
    succeeded = platform.run(DagsterRunStatus.SUCCESS, branch=True)
    assert platform.tick() == "a daily run is unfinished or not yet published"
    # Refused at publication (a failed blocking check): its branch is kept for inspection only.
    platform.instance.add_run_tags(succeeded, {PUBLICATION_TAG: "refused: failed blocking checks"})
    assert platform.tick() == [("2018-04-01", "2018-04-02", "daily-2018-04-01-2018-04-02")]


def test_days_outside_the_partitions_are_ignored(platform):
    platform.land("2017-12-31")  # before the first partition
    platform.land("2018-04-01")
    assert platform.tick() == [("2018-04-01", "2018-04-01", "daily-2018-04-01")]


def test_a_day_waits_for_every_day_of_the_history_it_reads(tmp_path):
    # 05-08's features read the 37 days before it, 04-01..05-07; 05-09's read 04-02..05-08.
    for day, wait in (
        ("2018-05-08", "2018-05-08 waits for 2018-04-01 on main (it has not landed)"),
        ("2018-05-09", ""),
    ):
        platform = Platform(tmp_path / day)
        platform.publish(
            *[str(d.date()) for d in pd.date_range("2018-04-02", pd.Timestamp(day) - pd.Timedelta(days=1))]
        )
        platform.land(day)
        assert platform.tick() == (wait or [(day, day, f"daily-{day}")])


@pytest.mark.slow
def test_each_new_champion_requests_one_bento(tmp_path):
    from assets.sensors import champion_changed
    from mlplatform.config import Settings
    from mlplatform.tracking import Tracking, promote
    from resources import MlflowResource
    from tests.models.test_tracking import register

    settings = Settings.from_env({"MLPLATFORM_HOME": str(tmp_path)})
    tracking = Tracking.of(settings)
    resources = {"mlflow": MlflowResource(tracking_uri=tracking.uri, artifact_root=tracking.artifact_root or "")}

    def tick(cursor):
        with build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor, resources=resources) as context:
            return champion_changed(context)

    assert "no champion" in tick(None).skip_message
    first, _, _ = register(tracking, "2018-04-04", "2018-05-02", seed=1)
    register(tracking, "2018-04-11", "2018-05-09", seed=2)  # registered, not promoted: no new Bento
    promote(tracking, first)
    requested = tick(None)
    assert [r.run_key for r in requested.run_requests] == [f"bento-v{first.version}"]
    assert tick(requested.cursor).skip_message.startswith(f"champion: {first.version}")
