"""The landing-zone sensor requests each completed day exactly once, whatever order days land in."""

import json

import pytest
from dagster import DagsterInstance, build_sensor_context
from dagster_aws.s3 import S3Resource

from assets.sensors import landing_zone_sensor
from mlplatform.sources.landing import LocalLandingZone
from resources import LandingZoneResource


def _land(zone, day, complete=True):
    zone.put(f"transactions/date={day}/part-00.ndjson", b"{}\n")
    if complete:
        zone.put(f"transactions/date={day}/_SUCCESS", b"{}")


def _zone_resource(root) -> dict:
    return {"landing_zone": LandingZoneResource(uri=str(root), s3=S3Resource())}


def _tick(instance, cursor, root):
    with build_sensor_context(instance=instance, cursor=cursor, resources=_zone_resource(root)) as context:
        result = landing_zone_sensor(context)
    return [r.partition_key for r in result.run_requests], result.cursor


def test_each_completed_day_is_requested_exactly_once(tmp_path):
    zone = LocalLandingZone(tmp_path)
    instance = DagsterInstance.ephemeral()
    _land(zone, "2018-04-01")
    _land(zone, "2018-04-02", complete=False)  # still landing: not requested yet
    requested, cursor = _tick(instance, None, tmp_path)
    assert requested == ["2018-04-01"]

    assert _tick(instance, cursor, tmp_path)[0] == []  # nothing new: no duplicate request

    _land(zone, "2018-04-05")  # arrives before 04-02 and 04-03 complete
    requested, cursor = _tick(instance, cursor, tmp_path)
    assert requested == ["2018-04-05"]

    _land(zone, "2018-04-02")  # completes late
    _land(zone, "2018-04-03")
    requested, cursor = _tick(instance, cursor, tmp_path)
    assert requested == ["2018-04-02", "2018-04-03"]
    assert _tick(instance, cursor, tmp_path)[0] == []
    assert json.loads(cursor) == ["2018-04-01", "2018-04-02", "2018-04-03", "2018-04-05"]


def test_run_keys_deduplicate_even_without_a_cursor(tmp_path):
    zone = LocalLandingZone(tmp_path)
    _land(zone, "2018-04-01")
    with build_sensor_context(instance=DagsterInstance.ephemeral(), resources=_zone_resource(tmp_path)) as context:
        result = landing_zone_sensor(context)
    assert [r.run_key for r in result.run_requests] == ["daily-2018-04-01"]


def test_days_outside_the_partitions_are_ignored(tmp_path):
    zone = LocalLandingZone(tmp_path)
    _land(zone, "2017-12-31")  # before the first partition
    _land(zone, "2018-04-01")
    assert _tick(DagsterInstance.ephemeral(), None, tmp_path)[0] == ["2018-04-01"]


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
