"""The scoring service under load, beside a do-nothing BentoML service on the framework's defaults.

A champion and an online store holding the 37 days before 2018-05-10 are prepared (mlplatform.demo.
prepare_scoring); every request scores a new transaction of that day (a random customer and
terminal, so each looks up and extends real histories). Load comes from wrk in another process
(Debian's `wrk`); the other figures from a Python client. Printed:
- /score at 16 connections: requests/s, p50/p99, errors; the same for the do-nothing service, and the ratio;
- one client (wrk, one connection), one request at a time: /score latency p50/p99, lookup and HTTP included;
- /score_batch with 1,000 new transactions a call (built by wrk), at one connection and at two per
  worker, each on a service of its own over a copy of the prepared store: transactions/s, a call's
  p50/p99 and each worker's CPU during the run (whether the connections fell on both); the same for
  its floor (bench/floor_service.py: the service's HTTP stack, validation and responses, with a
  constant for a score);
- the online store's read of one transaction's histories, p99, SQLite and Redis;
- a champion swap in the middle of a load: failed requests.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlplatform import telemetry
from mlplatform.config import Settings
from mlplatform.demo import fill_store, prepare_scoring, wait_ready
from mlplatform.features.definitions import FRAUD
from mlplatform.online_store import Transactions, open_online_store
from mlplatform.tracking import MODEL_NAME, ModelRecord, Tracking, promote, version

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
RUNS = itertools.count()  # wrk runs, each with transaction ids of its own (bench/score.lua)


def _serve(target: str, port: int, env: dict[str, str], args: list[str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(BIN / "bentoml"), "serve", target, "--port", str(port), *args],
        env=env,
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    except RuntimeError:
        process.terminate()
        raise
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def _wrk(url: str, seconds: int, env: dict[str, str], connections: int = 16) -> dict[str, float]:
    threads = min(2, connections)
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(HERE / "score.lua"), url],
        env={**os.environ, "WRK_RUN": str(next(RUNS)), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout):? (\d+)", out))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rate, "p50": ms("50%"), "p99": ms("99%"), "errors": errors}


def _line(name: str, r: dict[str, float]) -> str:
    figures = f"{r['rps']:9,.0f} req/s   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms   errors {r['errors']:.0f}"
    return f"  {name:<40} {figures}"


def main(quick: bool = False) -> None:
    telemetry.off()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): no load figures")
        return
    seconds = 5 if quick else 30
    workers = os.cpu_count() or 1  # the service's default
    warm_up = 3 if quick else 10  # a new worker's first seconds (imports, first calls) are not the steady state
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
        home = Path(folder) / "home"
        settings = Settings.from_env({"MLPLATFORM_HOME": str(home)})
        setup = prepare_scoring(settings)
        env = {**os.environ, "MLPLATFORM_HOME": str(home), "MLPLATFORM_CHAMPION_POLL_SECONDS": "1"}

        echo = _serve("bench.echo_service:Echo", 3191, env, [])
        try:
            _wrk("http://127.0.0.1:3191", warm_up, {"WRK_PATH": "/score", "WRK_WRAP": "1"})  # warm-up, not measured
            reference = _wrk("http://127.0.0.1:3191", seconds, {"WRK_PATH": "/score", "WRK_WRAP": "1"})
        finally:
            _stop(echo)
        # /score_batch's floor: the same HTTP stack with nothing to score (bench/floor_service.py).
        batch = {"WRK_DAY": setup.day, "WRK_PATH": "/score_batch", "WRK_BATCH": "1000"}
        floor = _serve("bench.floor_service:Floor", 3192, env, [])
        try:
            _wrk("http://127.0.0.1:3192", warm_up, batch, connections=1)  # warm-up, not measured
            floors = {c: _wrk("http://127.0.0.1:3192", seconds, batch, connections=c) for c in (1, 2 * workers)}
        finally:
            _stop(floor)
        # /score_batch at each connection count on a service of its own, over a copy of the prepared store: a
        # run adds 1-3 M transactions to the day, and a run after it would measure a store grown by them instead
        # (in one session, from one caller: 75 k/s on the prepared store, 58 k/s after a run from 4 callers).
        batches, cores = {}, {}
        for connections in (1, 2 * workers):
            copy = Path(folder) / f"batch-{connections}"
            shutil.copytree(home, copy)
            service = _serve("serving.service:FraudScorer", 3193, {**env, "MLPLATFORM_HOME": str(copy)}, [])
            try:
                _wrk("http://127.0.0.1:3193", warm_up, {"WRK_DAY": setup.day})  # warm-up (/score), not measured
                before, started = _workers_cpu(service), time.perf_counter()
                batches[connections] = _wrk("http://127.0.0.1:3193", seconds, batch, connections=connections)
                busy = _workers_cpu(service)
                elapsed = time.perf_counter() - started
                cores[connections] = [(busy[p] - before.get(p, 0.0)) / elapsed for p in sorted(busy)]
            finally:
                _stop(service)
            shutil.rmtree(copy)
        service = _serve("serving.service:FraudScorer", 3190, env, [])
        try:
            _wrk("http://127.0.0.1:3190", warm_up, {"WRK_DAY": setup.day})  # warm-up, not measured
            ours = _wrk("http://127.0.0.1:3190", seconds, {"WRK_DAY": setup.day})
            print(f"/score at 16 connections for {seconds} s (wrk, 2 threads):")
            print(_line("do-nothing BentoML service (defaults)", reference))
            print(_line(f"fraud scorer ({workers} workers, SQLite store)", ours))
            print(f"  the scorer answers {ours['rps'] / reference['rps']:.1f}x the do-nothing service's requests")

            single = _wrk("http://127.0.0.1:3190", seconds, {"WRK_DAY": setup.day}, connections=1)
            print(f"one client, one /score at a time: p50 {single['p50']:.2f} ms, p99 {single['p99']:.2f} ms")

            # Batches of 1,000 new transactions built by wrk (not by a Python client, whose JSON encoding
            # would be measured too): one caller at a time, then two per worker, each from the prepared store.
            print("/score_batch, 1,000 transactions a call (the floor: the same HTTP stack, a constant for a score):")
            for connections, r in batches.items():
                print(_batch_line(f"{connections} connection(s)", r))
                print(f"    workers' CPU during the run: {', '.join(f'{c:.2f}' for c in cores[connections])} cores")
                print(_batch_line(f"{connections} connection(s), the floor", floors[connections]))
            # BentoML's workers share one accept queue (bentoml/BentoML#5426): wrk's connections may all fall on
            # one worker at first; the service's once-a-second reconnection (serving/app.py) spreads them.

            # A champion swap in the middle of a load.
            load: dict[str, dict[str, float]] = {}
            thread = threading.Thread(
                target=lambda: load.update(swap=_wrk("http://127.0.0.1:3190", seconds, {"WRK_DAY": setup.day}))
            )
            thread.start()
            time.sleep(seconds / 2)
            tracking = Tracking.of(settings)
            promote(tracking, _second_version(tracking, setup.version))
            thread.join()
            print(_line(f"a champion swap in a {seconds} s load", load["swap"]))
        finally:
            _stop(service)
        _store_reads(settings, setup.day)


def _workers_cpu(service: subprocess.Popen) -> dict[int, float]:
    """CPU seconds (user and system) each of the service's worker processes has used so far."""
    import psutil  # BentoML's own dependency

    used = {}
    for child in psutil.Process(service.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "_bentoml_impl.worker" in " ".join(child.cmdline()):
                times = child.cpu_times()
                used[child.pid] = times.user + times.system
    return used


def _batch_line(name: str, r: dict[str, float]) -> str:
    figures = f"{r['rps'] * 1000:9,.0f} transactions/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms a call"
    return f"  {name:<28} {figures}   errors {r['errors']:.0f}"


def _second_version(tracking: Tracking, first: str) -> ModelRecord:
    """The champion's artifact registered again as a new version decided a day later, so the alias moves."""
    import mlflow

    mlflow.set_tracking_uri(tracking.uri)  # MLflow resolves a logged model's source through the global store
    client = tracking.client()
    current = client.get_model_version(MODEL_NAME, first)
    later = str((pd.Timestamp(current.tags["decision_day"]) + pd.Timedelta(days=1)).date())
    created = client.create_model_version(
        MODEL_NAME, str(current.source), run_id=current.run_id, tags={**current.tags, "decision_day": later}
    )
    return version(tracking, str(created.version))


def _store_reads(settings: Settings, day: str) -> None:
    """p50/p99 of reading one transaction's histories (its customer's and its terminal's), SQLite and Redis."""
    rng = np.random.default_rng(0)
    customers, terminals = rng.integers(0, 5000, 3000), rng.integers(0, 10000, 3000)
    stores = {"SQLite (embedded)": open_online_store(settings.online_store, FRAUD)}
    redis_url = os.environ.get("MLPLATFORM_BENCH_REDIS", "redis://127.0.0.1:6379/15")
    try:
        from mlplatform.online_store.redis import RedisStore

        redis_store = RedisStore(redis_url, FRAUD.entities, prefix="bench")
        for key in redis_store.client.scan_iter(match="bench:*"):
            redis_store.client.delete(key)
        fill_store(redis_store, day)
        stores["Redis (127.0.0.1)"] = redis_store
    except Exception as error:  # no Redis here: SQLite alone is measured
        print(f"  (Redis not measured: {error})")
    empty = np.zeros(0, dtype=np.int64)
    nothing = Transactions(empty, empty, np.zeros(0), {"customer_id": empty, "terminal_id": empty}, empty)
    print("online store, reading one transaction's histories (its customer's and its terminal's):")
    for name, store in stores.items():
        times = []
        for c, t in zip(customers.tolist(), terminals.tolist(), strict=True):
            started = time.perf_counter()
            store.read_and_write({"customer_id": np.array([c]), "terminal_id": np.array([t])}, nothing)
            times.append(time.perf_counter() - started)
        p50, p99 = np.percentile(times[200:], [50, 99]) * 1000
        print(f"  {name:<20} p50 {p50:.3f} ms   p99 {p99:.3f} ms")
        store.close()
