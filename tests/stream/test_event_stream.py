"""Transactions through a real Redis Stream: landed exactly once, byte for byte as the file replay lands them,
across consumer crashes and kill -9, with late and bad events quarantined."""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.demo import reports_from_labels
from mlplatform.features import duckdb_engine, parity
from mlplatform.features.definitions import FRAUD
from mlplatform.features.events import build_events
from mlplatform.online_store import open_online_store
from mlplatform.sources.landing import LocalLandingZone
from mlplatform.sources.replay import replay, replay_to_stream
from mlplatform.stream import open_stream
from mlplatform.stream.consumer import QUARANTINE, ConsumerBusy, LandingConsumer

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return pd.read_parquet(handbook_path(), filters=[("TX_TIME_DAYS", "<", 11)])


@pytest.fixture
def stream(redis_url):
    name = f"test:stream:{uuid.uuid4().hex}"
    events = open_stream(redis_url, name)
    yield events
    events.client.delete(name)  # type: ignore[attr-defined]
    events.close()


def days_of(tx: pd.DataFrame, first: int, n: int) -> list[str]:
    return sorted(tx["TX_DATETIME"].dt.strftime("%Y-%m-%d").unique())[first : first + n]


def files(root: Path, prefix: str = "transactions") -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / prefix).rglob("*")) if p.is_file()}


def file_replay(tx: pd.DataFrame, days: list[str], root: Path) -> dict[str, bytes]:
    replay(tx, LocalLandingZone(root), days)
    return files(root)


def event(tid: int, when: str, amount: float = 10.0) -> bytes:
    return orjson.dumps(
        {"transaction_id": tid, "tx_datetime": when, "customer_id": 1, "terminal_id": 2, "tx_amount": amount}
    )


@pytest.mark.slow
def test_the_consumed_stream_lands_the_files_of_the_file_replay(published, stream, tmp_path):
    days = days_of(published, 0, 2)
    expected = file_replay(published, days, tmp_path / "replayed")
    replay_to_stream(published, stream, days)
    with LandingConsumer(stream, LocalLandingZone(tmp_path / "consumed"), tmp_path / "state.sqlite") as consumer:
        report = consumer.run(until_idle=True, batch=3_000)
    assert files(tmp_path / "consumed") == expected
    assert len(expected) > 2 * 24 and report.closed == days
    assert report.accepted == sum(len(b.splitlines()) for k, b in expected.items() if k.endswith(".ndjson"))
    # Everything was acknowledged: a new consumer of the group has nothing to do.
    with LandingConsumer(stream, LocalLandingZone(tmp_path / "consumed"), tmp_path / "state.sqlite") as again:
        assert again.run(until_idle=True).entries == 0


class CrashingStream:
    """The real stream, whose acknowledgement fails once after `after` calls (a crash after staging)."""

    def __init__(self, inner, after: int) -> None:
        self.inner, self.after = inner, after

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ack(self, group, ids):
        self.after -= 1
        if self.after == 0:
            raise RuntimeError("crash before acknowledging")
        self.inner.ack(group, ids)


class CrashingZone(LocalLandingZone):
    """A landing zone that fails on its `after`-th write (a crash mid-way through a batch's files)."""

    def __init__(self, root: Path, after: int) -> None:
        super().__init__(root)
        self.after = after

    def put(self, key: str, data: bytes) -> None:
        self.after -= 1
        if self.after == 0:
            raise RuntimeError("crash while writing files")
        super().put(key, data)


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["before the acknowledgement", "between two files"])
def test_a_crash_then_a_restart_lands_each_transaction_once(published, stream, tmp_path, crash):
    days = days_of(published, 0, 3)
    expected = file_replay(published, days, tmp_path / "replayed")
    replay_to_stream(published, stream, days)
    state, root = tmp_path / "state.sqlite", tmp_path / "consumed"
    broken = (
        (stream, CrashingZone(root, after=30))
        if crash == "between two files"
        else (CrashingStream(stream, after=3), LocalLandingZone(root))
    )
    with pytest.raises(RuntimeError, match="crash"), LandingConsumer(broken[0], broken[1], state) as consumer:
        consumer.run(until_idle=True, batch=2_500)
    with LandingConsumer(stream, LocalLandingZone(root), state) as consumer:
        report = consumer.run(until_idle=True, batch=2_500)
    assert files(root) == expected
    assert report.duplicates == 0  # entries staged before the crash were only acknowledged, not staged again


@pytest.mark.slow
def test_kill_9_of_the_consumer_at_any_point_then_a_restart_gives_the_same_files(
    published, stream, tmp_path, redis_url
):
    days = days_of(published, 0, 4)
    expected = file_replay(published, days, tmp_path / "replayed")
    replay_to_stream(published, stream, days)
    exe = shutil.which("mlplatform", path=str(Path(sys.executable).parent))
    assert exe, "the mlplatform console script is not installed beside this Python"
    env = {**os.environ, "MLPLATFORM_HOME": str(tmp_path / "home"), "MLPLATFORM_LANDING_URI": str(tmp_path / "z")}
    args = [exe, "stream", "consume", "--from", redis_url, "--stream", stream.name, "--until-idle", "--batch", "1500"]
    args += ["--no-online"]
    state = tmp_path / "home" / "stream" / "landing.sqlite"
    rng = random.Random(12)
    kills = 0
    for _ in range(4):  # started, killed at a random moment once it has made progress
        before = _last_id(state)
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _last_id(state) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
    finished = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert kills >= 2  # the consumer was really killed mid-stream
    assert files(tmp_path / "z") == expected


def _last_id(state: Path) -> str:
    if not state.exists():
        return ""
    try:
        with sqlite3.connect(state) as db:
            row = db.execute("SELECT value FROM state WHERE key = 'last_id'").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return ""
    return row[0] if row else ""


def test_late_malformed_and_conflicting_events_are_quarantined_with_their_reason(stream, tmp_path):
    stream.publish(
        [
            event(1, "2018-04-01T23:50:00"),
            event(2, "2018-04-02T00:05:00"),  # within the 10 minutes of lateness: day 1 stays open
            event(3, "2018-04-01T23:59:59"),  # ... so this one is on time
            event(1, "2018-04-01T23:50:00"),  # the producer's retry: dropped, counted
            event(2, "2018-04-02T00:05:00", amount=99.0),  # the same id, other content
            b"{not json",
            orjson.dumps({"transaction_id": 4, "tx_datetime": "2018-04-02T01:00:00"}),
            event(5, "2018-04-02T00:10:00"),  # the watermark passes 2018-04-02 00:10: day 1 closes
            event(6, "2018-04-01T23:59:00"),  # late
            orjson.dumps({"watermark": "2018-04-03T00:00:00"}),  # the producer closes day 2
        ]
    )
    root = tmp_path / "zone"
    with LandingConsumer(stream, LocalLandingZone(root), tmp_path / "state.sqlite") as consumer:
        report = consumer.run(until_idle=True, batch=3)  # batches cut across the decisions: no effect
    landed = files(root)
    assert landed["transactions/date=2018-04-01/part-23.ndjson"].count(b"\n") == 2  # ids 1 and 3
    assert landed["transactions/date=2018-04-02/part-00.ndjson"].count(b"\n") == 2  # ids 2 and 5
    assert landed["transactions/date=2018-04-01/_SUCCESS"] == b'{"rows": 2}'
    assert landed["transactions/date=2018-04-02/_SUCCESS"] == b'{"rows": 2}'
    assert report.accepted == 4 and report.duplicates == 1
    quarantined = [
        orjson.loads(line)
        for p in sorted((root / QUARANTINE).rglob("*.ndjson"))
        for line in p.read_bytes().splitlines()
    ]
    reasons = sorted(q["reason"] for q in quarantined)
    assert reasons == [
        "conflicting duplicate: transaction_id 2 landed with other content",
        "late event: 2018-04-01 was closed (watermark 2018-04-02T00:10:00)",
        "malformed event: missing customer_id, terminal_id, tx_amount",
        "malformed event: not JSON",
    ]
    assert report.quarantined == {"conflicting duplicate": 1, "late event": 1, "malformed event": 2}


def test_one_consumer_per_state(stream, tmp_path):
    zone = LocalLandingZone(tmp_path / "zone")
    with (
        LandingConsumer(stream, zone, tmp_path / "state.sqlite"),
        pytest.raises(ConsumerBusy, match="another consumer is running"),
    ):
        LandingConsumer(stream, zone, tmp_path / "state.sqlite")


def test_a_state_of_another_layout_is_refused_in_one_line(stream, tmp_path, redis_url):
    state = tmp_path / "home" / "stream" / "landing.sqlite"
    state.parent.mkdir(parents=True)
    with sqlite3.connect(state) as db:  # the first consumer's layout: no staged lines, no version
        db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, transaction_id INTEGER NOT NULL UNIQUE)")
    exe = shutil.which("mlplatform", path=str(Path(sys.executable).parent))
    assert exe
    env = {**os.environ, "MLPLATFORM_HOME": str(tmp_path / "home"), "MLPLATFORM_LANDING_URI": str(tmp_path / "z")}
    args = [exe, "stream", "consume", "--from", redis_url, "--stream", stream.name, "--until-idle", "--no-online"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    said = (done.stdout + done.stderr).strip()
    assert done.returncode != 0 and said.count("\n") == 0 and said.startswith("error:")
    assert "staging state of another consumer version (0, this one reads 2)" in said
    with sqlite3.connect(state) as db:  # left as it was
        assert db.execute("PRAGMA user_version").fetchone() == (0,)


@pytest.mark.slow
def test_the_consumer_keeps_the_online_store_current_and_parity_holds(published, stream, tmp_path):
    """Transactions never scored by the service still count in the online windows, equal to the offline ones."""
    days = days_of(published, 0, 11)
    history, checked = days[:10], days[10]
    replay_to_stream(published, stream, history)
    store = open_online_store("memory://", FRAUD)
    with LandingConsumer(
        stream, LocalLandingZone(tmp_path / "zone"), tmp_path / "state.sqlite", online_store=store
    ) as c:
        c.run(until_idle=True)
    raw = published.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount"]
    ]
    reports = reports_from_labels(published)
    by_day = {d: g.reset_index(drop=True) for d, g in raw.groupby(raw["tx_datetime"].dt.strftime("%Y-%m-%d"))}
    reports_by_day = {d: reports[reports["reported_at"].dt.strftime("%Y-%m-%d") == d] for d in days}
    offline = duckdb_engine.compute(build_events([raw], [reports], FRAUD.label_delay), FRAUD)
    offline_by_day = {checked: offline[offline["tx_datetime"].dt.strftime("%Y-%m-%d") == checked]}
    (result,) = parity.check(FRAUD, by_day, reports_by_day, offline_by_day, store=store)
    assert result.rows > 9_000 and result.passed, result.mismatched_rows[:10]
    assert result.matched == dict.fromkeys(FRAUD.names, 1.0)
    # Without the consumer's transactions, the same day does not match: the store really carried them.
    (empty,) = parity.check(FRAUD, by_day, reports_by_day, offline_by_day, store=open_online_store("memory://", FRAUD))
    assert not empty.passed
