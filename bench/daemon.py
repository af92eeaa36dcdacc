"""Hands-free with the real daemon: `mlplatform ui` (dagster dev: webserver and daemon) on a fresh home while
the days land one after another, as `mlplatform replay --speed` lands them, and nothing is launched by hand.
Waits until the daemon has nothing left to do, then compares every table on main with `mlplatform demo`'s
over the same days (columns naming a run's own ids aside) and prints the runs the sensors made."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckSeverity,
    BetaWarning,
    DagsterEventType,
    DagsterRunStatus,
    RunsFilter,
    build_sensor_context,
)

from assets.runs import PARTITION_RANGE_END, PARTITION_RANGE_START, project_instance
from assets.sensors import busy_jobs, downstream_of_main
from bench.automation import compare, timed_demo
from mlplatform.config import Settings
from mlplatform.demo import create_app, new_token, prepare_unlanded, reports_path, serve_in_thread
from mlplatform.lake import MAIN, open_lake
from mlplatform.lake.tables import stored_partitions
from mlplatform.sources.landing import open_landing_zone
from mlplatform.sources.replay import replay
from resources import build_resources

JOBS = ["daily", "training", "models", "predictions", "monitoring", "serving"]


def land_paced(settings: Settings, transactions: pd.DataFrame, seconds_per_day: float) -> None:
    """The file replay, a day every `seconds_per_day` (the source DB and the provider's reports first)."""
    keys = sorted(transactions["TX_DATETIME"].dt.strftime("%Y-%m-%d").unique())
    replay(
        transactions,
        open_landing_zone(settings.landing_uri, settings.aws_endpoint_url),
        keys,
        on_day=lambda day, n: time.sleep(seconds_per_day),
    )


def settled(settings: Settings, days: list[str]) -> str:
    """ "" once the daemon has nothing left: every day on main, no run unfinished or awaiting publication, and
    the downstream sensor (evaluated here on the same instance) would request nothing; else what it waits for."""
    instance = project_instance(settings)
    lake = open_lake(settings.lake)
    on_main = stored_partitions(lake, MAIN, ["raw_transactions"])
    if on_main != days:
        return f"{len(on_main)} of {len(days)} days on main"
    busy = busy_jobs(instance, lake, JOBS)
    if busy:
        return f"busy: {', '.join(sorted(busy))}"
    with build_sensor_context(instance=instance, resources=build_resources(settings)) as context:
        result = downstream_of_main(context)
    requests = getattr(result, "run_requests", None) or []
    return f"due: {', '.join(r.run_key or '' for r in requests)}" if requests else ""


def runs_made(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(job, first, last, outcome) of every run, oldest first; a run failed by a blocking check (a model's
    promotion, as in the demo) is "refused"."""
    instance = project_instance(settings)
    made = []
    for run in reversed(instance.get_runs(RunsFilter())):
        first = run.tags.get("dagster/partition") or run.tags.get(PARTITION_RANGE_START, "")
        last = run.tags.get("dagster/partition") or run.tags.get(PARTITION_RANGE_END, "")
        checks = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
        evaluations = [r.event_log_entry.asset_check_evaluation for r in checks]
        refused = any(e is not None and not e.passed and e.severity == AssetCheckSeverity.ERROR for e in evaluations)
        made.append((run.job_name, first, last, "refused" if refused else run.status.value))
    return made


def hands_free_daemon(settings: Settings, days: int, seconds_per_day: float, timeout: float = 3600) -> None:
    tx = prepare_unlanded(settings, days)
    token = new_token()
    api = serve_in_thread(create_app(pd.read_parquet(reports_path(settings)), token))
    tools = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLPLATFORM_HOME": str(settings.home),
        "MLPLATFORM_FRAUD_API_URL": api.url,
        "MLPLATFORM_FRAUD_API_TOKEN": token,
    }
    env.pop("DAGSTER_HOME", None)
    log = open(settings.home / "ui.log", "w")  # noqa: SIM115 - closed below
    ui = subprocess.Popen(
        [str(tools / "mlplatform"), "ui", "--port", "3070"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    keys = sorted(tx["TX_DATETIME"].dt.strftime("%Y-%m-%d").unique())
    landing = threading.Thread(target=land_paced, args=(settings, tx, seconds_per_day))
    started = time.monotonic()
    try:
        landing.start()
        waiting, quiet_since = "", 0.0
        while time.monotonic() - started < timeout:
            time.sleep(10)
            assert ui.poll() is None, f"the UI exited: see {settings.home / 'ui.log'}"
            now = settled(settings, keys) if not landing.is_alive() else "landing"
            if now != waiting:
                print(f"  {time.monotonic() - started:5.0f} s  {now or 'nothing left to do'}", flush=True)
                waiting = now
            if now:
                quiet_since = 0.0
            elif not quiet_since:
                quiet_since = time.monotonic()
            if quiet_since and time.monotonic() - quiet_since > 75:  # a downstream tick (60 s) has passed since
                return
        raise TimeoutError(f"the daemon did not settle in {timeout:.0f} s ({waiting})")
    finally:
        landing.join()
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()
        api.stop()


def main(quick: bool = False) -> None:
    warnings.filterwarnings("ignore", category=BetaWarning)
    days, seconds_per_day = (42, 5.0) if quick else (60, 5.0)
    with tempfile.TemporaryDirectory() as tmp:
        demo, demo_s = timed_demo(tmp, days)
        free = Settings.from_env({"MLPLATFORM_HOME": str(Path(tmp) / "daemon")})
        started = time.perf_counter()
        print(f"{days} days landing a day every {seconds_per_day:.0f} s, `mlplatform ui` running:", flush=True)
        hands_free_daemon(free, days, seconds_per_day)
        free_s = time.perf_counter() - started
        made = runs_made(free)
        print(f"demo {demo_s:.0f} s; daemon {free_s:.0f} s from the first landed file to nothing left to do")
        print(f"  {len(made)} runs: " + ", ".join(f"{c} {job}" for job, c in Counter(m[0] for m in made).items()))
        failed = [m for m in made if m[3] not in (DagsterRunStatus.SUCCESS.value, "refused")]
        print(f"  failed: {failed or 'none'}")
        for job, first, last, outcome in made:
            print(f"    {job:<12} {first}..{last}  {outcome}")
        twice = Counter(
            (job, str(day.date()))
            for job, first, last, _ in made
            if job not in ("monitoring", "serving") and first
            for day in pd.date_range(first, last, freq="7D" if job in ("training", "models") else "D")
        )
        again = [k for k, n in twice.items() if n > 1]
        print(f"  partitions run twice (monitoring aside: it follows the chargebacks): {again or 'none'}")
        compare(demo, free, "daemon")
