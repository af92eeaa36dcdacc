"""The event stream on the machine's Redis: publish -> consume -> landing files, against the file replay.

1. Throughput: the published dataset's first days are published onto a fresh stream, then one consumer lands
   the backlog (staging, hourly files, day markers, acknowledgements); the same days replayed straight to
   files are the obvious alternative.
2. Lag at a steady rate: a producer process publishes 2,000 events/s while the consumer runs; the lag of an
   event is the time from its XADD (the entry id's milliseconds) to its landing file being written.
"""

import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from mlplatform.config import handbook_path
from mlplatform.sources.landing import LocalLandingZone
from mlplatform.sources.replay import hour_file, replay, replay_to_stream, to_events
from mlplatform.stream import open_stream
from mlplatform.stream.consumer import LandingConsumer

REDIS = "redis://127.0.0.1:6379/0"
RATE = 2_000  # events per second, for the lag


def main(quick: bool = False) -> None:
    days = 5 if quick else 20
    tx = pd.read_parquet(handbook_path(), filters=[("TX_TIME_DAYS", "<", days)])
    keys = sorted(tx["TX_DATETIME"].dt.strftime("%Y-%m-%d").unique())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        replay(tx, LocalLandingZone(root / "files"), keys)
        file_rate = len(tx) / (time.perf_counter() - started)

        name = f"bench:{uuid.uuid4().hex}"
        stream = open_stream(REDIS, name)
        try:
            started = time.perf_counter()
            replay_to_stream(tx, stream, keys)
            publish_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with LandingConsumer(stream, LocalLandingZone(root / "stream"), root / "state.sqlite") as consumer:
                consumer.run(until_idle=True)
            consume_seconds = time.perf_counter() - started - 1.0  # until_idle waits a second for more
        finally:
            stream.client.delete(name)  # type: ignore[attr-defined]
            stream.close()
        n = len(tx)
        print(f"{n:,} transactions ({days} days):")
        print(f"  publish (XADD, pipelined)            {n / publish_seconds:>10,.0f} events/s")
        print(f"  consume backlog -> landing files     {n / consume_seconds:>10,.0f} events/s   (goal >= 50,000)")
        print(f"  publish + consume, end to end        {n / (publish_seconds + consume_seconds):>10,.0f} events/s")
        print(f"  file replay (the alternative)        {file_rate:>10,.0f} events/s")
        print(f"  consume / file replay                {n / consume_seconds / file_rate:>10.2f}x")
        lag(tx, root, seconds=5 if quick else 20)


def _produce(payloads: list[bytes], name: str, rate: int) -> None:
    stream = open_stream(REDIS, name)
    tick = 0.05
    per_tick = int(rate * tick)
    next_at = time.perf_counter()
    for start in range(0, len(payloads), per_tick):
        stream.publish(payloads[start : start + per_tick])
        next_at += tick
        time.sleep(max(0.0, next_at - time.perf_counter()))
    stream.close()


def lag(tx: pd.DataFrame, root: Path, seconds: int) -> None:
    events = to_events(tx.iloc[: RATE * seconds])
    payloads = hour_file(events).splitlines()
    name = f"bench:{uuid.uuid4().hex}"
    stream = open_stream(REDIS, name)
    lags: list[float] = []

    def landed(entries, now: float) -> None:
        lags.extend(now - int(entry_id.split("-")[0]) / 1000 for entry_id, _ in entries)

    producer = multiprocessing.get_context("fork").Process(target=_produce, args=(payloads, name, RATE))
    try:
        stream.ensure_group("landing")
        with LandingConsumer(stream, LocalLandingZone(root / "lag"), root / "lag.sqlite", on_landed=landed) as c:
            producer.start()
            c.run(stop=lambda: not producer.is_alive() and len(lags) >= len(payloads))
        producer.join()
    finally:
        stream.client.delete(name)  # type: ignore[attr-defined]
        stream.close()
    p50, p99, worst = np.percentile(lags, [50, 99, 100]) * 1000
    print(f"lag at a steady {RATE:,} events/s for {seconds} s ({len(lags):,} events, publish -> landing file):")
    print(f"  p50 {p50:.0f} ms   p99 {p99:.0f} ms   max {worst:.0f} ms   (goal: p99 < 2,000 ms)")
