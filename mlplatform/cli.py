"""The `mlplatform` command line. Commands that run the asset graph load Dagster only when they run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.exceptions import TyperException

from mlplatform import telemetry
from mlplatform.config import Settings
from mlplatform.lake import Lake, open_lake
from mlplatform.stream import DEFAULT_STREAM, LATENESS, EventStream

if TYPE_CHECKING:
    from mlplatform.training_sets import Split

app = typer.Typer(
    help="mlplatform: data and ML platform on Dagster (fraud detection demo).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # an error is one line (main), never a traceback
)
lake_app = typer.Typer(help="Inspect the versioned data lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")
features_app = typer.Typer(help="Compute the reference features offline.", no_args_is_help=True)
app.add_typer(features_app, name="features")
stream_app = typer.Typer(help="The event stream transactions arrive on.", no_args_is_help=True)
app.add_typer(stream_app, name="stream")
console = Console()
errors = Console(stderr=True)  # what went wrong goes to stderr, so stdout stays the command's output


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for transactions/customers/terminals.parquet.")],
    customers: Annotated[int, typer.Option(min=1)] = 5_000,
    terminals: Annotated[int, typer.Option(min=1)] = 10_000,
    days: Annotated[int, typer.Option(min=1)] = 183,
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"])] = datetime(2018, 4, 1),
    radius: float = 5.0,
    mode: Annotated[str, typer.Option(help="exact (reproduces the published data) or fast (vectorised).")] = "exact",
    seed: Annotated[int, typer.Option(help="Seed of the fast mode.")] = 0,
) -> None:
    """Generate transactions, fraud labels and the customer and terminal profiles."""
    from mlplatform.simulator import SimulationConfig, write
    from mlplatform.simulator import simulate as run

    if mode not in ("exact", "fast"):
        raise typer.BadParameter("mode must be 'exact' or 'fast'", param_hint="--mode")
    if radius <= 0:
        raise typer.BadParameter("the radius must be positive", param_hint="--radius")
    config = SimulationConfig(customers, terminals, days, start.date(), radius, mode, seed)  # type: ignore[arg-type]
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"simulating ({mode})", total=customers)
        sim = run(config, progress=lambda n: bar.advance(task, n))
    elapsed = time.perf_counter() - started
    paths = write(sim, out)
    tx = sim.transactions
    console.print(
        f"{len(tx):,} transactions, {int(tx['TX_FRAUD'].sum()):,} frauds ({tx['TX_FRAUD'].mean():.2%}) "
        f"in {elapsed:.1f}s ({len(tx) / elapsed:,.0f} tx/s) -> {paths['transactions'].parent}"
    )


@app.command("replay")
def replay_cmd(
    source: Annotated[str, typer.Option(help="parquet (the published data) or simulator.")] = "parquet",
    days: Annotated[int, typer.Option(min=1)] = 7,
    speed: Annotated[
        float, typer.Option(min=0, help="Pace as a multiple of real time; 0 = as fast as possible.")
    ] = 0.0,
    landing: Annotated[str | None, typer.Option(help="Landing zone (directory or s3://bucket/prefix).")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Transactions file for --source parquet.")] = None,
    to: Annotated[
        str | None,
        typer.Option(help="An event stream (redis://host:6379/0) instead of the landing zone's files."),
    ] = None,
    stream: Annotated[str, typer.Option(help="The stream's name (with --to).")] = DEFAULT_STREAM,
) -> None:
    """Publish transactions as hourly NDJSON events into the landing zone, closing each day with _SUCCESS
    (or, with --to, as events on a stream that `mlplatform stream consume` lands as the same files)."""
    from mlplatform.demo import SOURCES, load_transactions
    from mlplatform.sources.landing import open_landing_zone
    from mlplatform.sources.replay import replay, replay_to_stream

    if source not in SOURCES:
        raise typer.BadParameter(f"source must be one of {', '.join(SOURCES)}", param_hint="--source")
    settings = Settings.from_env()
    events = _open_stream(to, stream) if to else None
    tx, _ = load_transactions(source, days, parquet)  # type: ignore[arg-type]
    keys = sorted(tx["TX_DATETIME"].dt.strftime("%Y-%m-%d").unique())
    with progress_bar() as bar:
        task = bar.add_task("replaying days", total=len(keys))
        if events is not None:
            counts = replay_to_stream(tx, events, keys, speed, on_day=lambda d, n: bar.advance(task))
            where = f"stream {stream} at {to}"
            events.close()
        else:
            zone = open_landing_zone(landing or settings.landing_uri, settings.aws_endpoint_url)
            counts = replay(tx, zone, keys, speed, on_day=lambda d, n: bar.advance(task))
            where = landing or settings.landing_uri
    console.print(f"landed {sum(counts.values()):,} events for {len(counts)} days in {where}")


def _open_stream(uri: str, name: str) -> EventStream:
    """The stream, reachable, or a one-line error naming it."""
    from redis.exceptions import RedisError

    from mlplatform.stream import open_stream

    try:
        events = open_stream(uri, name)
        events.length()
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    except RedisError as error:
        raise typer.BadParameter(f"event stream {uri} is not reachable: {error}") from None
    return events


@stream_app.command("consume")
def stream_consume(
    source: Annotated[
        str | None, typer.Option("--from", help="The stream's broker (default: MLPLATFORM_EVENT_STREAM).")
    ] = None,
    stream: Annotated[str, typer.Option(help="The stream's name.")] = DEFAULT_STREAM,
    group: Annotated[str, typer.Option(help="The consumer group (one consumer process each).")] = "landing",
    lateness: Annotated[
        float, typer.Option(min=0, help="Minutes after a day's end its late events are still accepted.")
    ] = LATENESS.total_seconds() / 60,
    until_idle: Annotated[bool, typer.Option(help="Stop once the stream has had nothing new for a second.")] = False,
    online: Annotated[bool, typer.Option(help="Also write each transaction to the online store.")] = True,
    batch: Annotated[int, typer.Option(min=1, help="Entries read, staged and acknowledged at a time.")] = 10_000,
) -> None:
    """Land the event stream as the landing zone's hourly files and day markers, exactly once per transaction."""
    import signal
    from contextlib import ExitStack
    from datetime import timedelta

    from mlplatform.features.definitions import FRAUD
    from mlplatform.online_store import open_online_store
    from mlplatform.sources.landing import open_landing_zone
    from mlplatform.stream.consumer import ConsumerBusy, IncompatibleState, LandingConsumer

    settings = Settings.from_env()
    uri = source or settings.event_stream
    if not uri:
        raise typer.BadParameter("no event stream: pass --from redis://host:6379/0 or set MLPLATFORM_EVENT_STREAM")
    events = _open_stream(uri, stream)
    zone = open_landing_zone(settings.landing_uri, settings.aws_endpoint_url)
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # finish the batch in hand, then stop
        signal.signal(sig, lambda number, frame: stopping.append(number))
    with ExitStack() as stack:
        store = stack.enter_context(open_online_store(settings.online_store, FRAUD)) if online else None
        state = settings.home / "stream" / f"{group}.sqlite"
        try:
            consumer = stack.enter_context(
                LandingConsumer(events, zone, state, group, timedelta(minutes=lateness), store)
            )
        except (ConsumerBusy, IncompatibleState) as error:
            raise typer.BadParameter(str(error)) from None
        console.print(f"consuming {stream} at {uri} into {settings.landing_uri} (Ctrl-C stops)", highlight=False)
        report = consumer.run(until_idle=until_idle, stop=lambda: bool(stopping), batch=batch)
    events.close()
    quarantined = ", ".join(f"{n:,} {kind}" for kind, n in sorted(report.quarantined.items())) or "none"
    console.print(
        f"{report.entries:,} entries: {report.accepted:,} transactions landed, {report.duplicates:,} duplicates "
        f"dropped, quarantined: {quarantined}; closed {len(report.closed)} days",
        highlight=False,
    )


@app.command("fraud-api")
def fraud_api(
    reports: Annotated[Path | None, typer.Option(help="Reports Parquet (default: the demo's).")] = None,
    port: Annotated[int, typer.Option(min=1, max=65_535)] = 8765,
) -> None:
    """Serve the demo's stand-in chargeback API on 127.0.0.1 (until interrupted).

    It accepts the token in MLPLATFORM_FRAUD_API_TOKEN, or a new one it prints.
    """
    import uvicorn

    from mlplatform.demo import create_app, new_token, reports_path

    settings = Settings.from_env()
    path = reports or reports_path(settings)
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist; run `mlplatform demo` first", param_hint="--reports")
    token = settings.fraud_api_token or new_token()
    console.print(f"serving {path} at http://127.0.0.1:{port}: set MLPLATFORM_FRAUD_API_URL to it", highlight=False)
    if not settings.fraud_api_token:
        console.print(f"and MLPLATFORM_FRAUD_API_TOKEN={token}", highlight=False)
    uvicorn.run(create_app(pd.read_parquet(path), token), host="127.0.0.1", port=port, log_level="warning")


@features_app.command("compute")
def features_compute(
    input: Annotated[Path, typer.Option(help="Transactions in the published dataset's schema (Parquet).")],
    output: Annotated[Path, typer.Option(help="Output Parquet: TRANSACTION_ID and the 14 reference features.")],
    labels: Annotated[
        Path | None, typer.Option(help="Parquet with TRANSACTION_ID, TX_FRAUD (default: the input's TX_FRAUD).")
    ] = None,
    engine: Annotated[str, typer.Option(help="numpy, duckdb or spark (all three give the same values).")] = "numpy",
) -> None:
    """Compute the fourteen reference features for every transaction of a file."""
    from mlplatform.features.engines import ENGINES
    from mlplatform.features.files import compute_file

    if engine not in ENGINES:
        raise typer.BadParameter(f"engine must be one of {', '.join(ENGINES)}", param_hint="--engine")
    _parquet(input, "--input", PUBLISHED_COLUMNS + ([] if labels else ["TX_FRAUD"]))
    if labels is not None:
        _parquet(labels, "--labels", ["TRANSACTION_ID", "TX_FRAUD"])
    _writable(output, "--output")
    started = time.perf_counter()
    rows = compute_file(input, output, labels, engine)  # type: ignore[arg-type]
    console.print(f"{rows:,} rows of features ({engine}) in {time.perf_counter() - started:.1f}s -> {output}")


@app.command("evaluate")
def evaluate_cmd(
    input: Annotated[Path, typer.Option(help="Transactions in the published dataset's schema (Parquet).")],
    train_start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First training day.")],
    train_days: Annotated[int, typer.Option(min=1)] = 7,
    delay_days: Annotated[int, typer.Option(min=0)] = 7,
    test_days: Annotated[int, typer.Option(min=1)] = 7,
    model: Annotated[str, typer.Option(help="mlp (torch) or logreg (the protocol's baseline).")] = "mlp",
    seed: int = 0,
    predictions_out: Annotated[Path | None, typer.Option(help="Parquet of transaction_id, score.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    prequential: Annotated[
        bool, typer.Option("--prequential", help="Week after week from --train-start, each beside the baseline.")
    ] = False,
    weeks: Annotated[int | None, typer.Option(min=1, help="With --prequential: how many (all the file holds).")] = None,
    chart: Annotated[Path, typer.Option(help="With --prequential: the weekly AP chart (PNG).")] = Path(
        "prequential.png"
    ),
) -> None:
    """Train and evaluate a model on any transactions file with the evaluation protocol."""
    import json

    from mlplatform.evaluate_file import evaluate_file
    from mlplatform.training_sets import Split

    if model not in ("mlp", "logreg"):
        raise typer.BadParameter("model must be 'mlp' or 'logreg'", param_hint="--model")
    _parquet(input, "--input", [*PUBLISHED_COLUMNS, "TX_FRAUD"])
    if predictions_out is not None:
        _writable(predictions_out, "--predictions-out")
    split = Split(train_start.date(), train_days, delay_days, test_days)
    if prequential:
        _prequential(input, split, weeks, model, seed, chart, json_output)
        return
    result = evaluate_file(input, split, model, seed)  # type: ignore[arg-type]
    if predictions_out:
        result.predictions.to_parquet(predictions_out, index=False)
    metrics = {**result.metrics.rounded(), "train_transactions": result.train_rows, "train_frauds": result.train_frauds}
    if json_output:
        print(json.dumps({"model": model, **metrics}))
        return
    table = Table("metric", "value", title=f"{model}: train from {split.train_start}, test {split.test_start.date()}")
    for name, value in metrics.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else f"{value:.3f}")
    console.print(table)


def _prequential(
    input: Path, first: Split, weeks: int | None, model: str, seed: int, chart: Path, json_output: bool
) -> None:
    """`evaluate --prequential`: a row per week (the model and the baseline), a summary line and a chart."""
    import json

    from mlplatform.curves import trend
    from mlplatform.evaluate_file import complete_weeks, prequential

    _writable(chart, "--chart")
    available = complete_weeks(input, first)
    if available == 0 or (weeks or 0) > available:
        raise typer.BadParameter(
            f"{input} holds {available} complete split(s) from {first.train_start}, not {weeks}", param_hint="--weeks"
        )
    results = prequential(input, first, weeks or available, model, seed)  # type: ignore[arg-type]
    frame = pd.DataFrame(
        [
            {"train_start": str(w.split.train_start), "test_start": str(w.split.test_start.date())}
            | {f"{model}_{k}": v for k, v in w.model.rounded().items() if not k.startswith("test_")}
            | {f"baseline_{k}": v for k, v in w.baseline.rounded().items() if not k.startswith("test_")}
            | {"test_frauds": w.model.test_frauds, "beats_baseline": w.beats_baseline}
            for w in results
        ]
    )
    chart.write_bytes(
        trend(
            frame.set_index("test_start")[[f"{model}_average_precision", "baseline_average_precision"]],
            f"Average precision per test week ({model} and the logistic baseline)",
        )
    )
    wins = int(frame["beats_baseline"].sum())
    if json_output:
        print(json.dumps({"model": model, "weeks": frame.to_dict("records"), "beats_baseline": wins}))
        return
    metrics = ["auc_roc", "average_precision", "card_precision_at_100"]
    offset = first.train_days + first.delay_days
    table = Table(
        "train from", f"AUC {model}/base", f"AP {model}/base", f"CP@100 {model}/base", "frauds", "beats",
        title=f"{model} and the logistic baseline, a split a week (tests from {offset} days after its training start)",
    )  # fmt: skip
    columns = [f"{who}_{m}" for who in (model, "baseline") for m in metrics]
    for row in frame.to_dict("records"):
        cells = [f"{row[f'{model}_{m}']:.3f}/{row[f'baseline_{m}']:.3f}" for m in metrics]
        table.add_row(row["train_start"], *cells, str(row["test_frauds"]), "yes" if row["beats_baseline"] else "no")
    console.print(table)
    means = frame[columns].mean()
    console.print(
        f"{model} beats the baseline's AP in {wins} of {len(frame)} weeks. Means: AUC {means.iloc[0]:.3f}, "
        f"AP {means.iloc[1]:.3f}, CP@100 {means.iloc[2]:.3f} (baseline {means.iloc[3]:.3f}, {means.iloc[4]:.3f}, "
        f"{means.iloc[5]:.3f}). Chart: {chart}"
    )


@app.command("lineage")
def lineage_cmd(
    transaction: Annotated[int, typer.Option(help="Transaction id whose prediction to trace.")],
    ref: Annotated[str, typer.Option(help="Lake branch, tag or commit to read predictions at.")] = "main",
) -> None:
    """Print prediction -> model version -> training-set commit -> raw partitions and their source files."""
    from mlplatform.lineage import NotPredicted, describe, trace
    from mlplatform.sources.landing import open_landing_zone
    from mlplatform.tracking import Tracking

    settings = Settings.from_env()
    try:
        landing = open_landing_zone(settings.landing_uri, settings.aws_endpoint_url)
        chain = trace(_lake(), Tracking.of(settings), transaction, ref, landing)
    except NotPredicted as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    for line in describe(chain):
        console.print(line, highlight=False, soft_wrap=True)


@lake_app.command("branches")
def lake_branches() -> None:
    """List branches with their head commit."""
    lake = _lake()
    table = Table("branch", "head", "created", "message")
    for name, head in lake.branches().items():
        commit = lake.get_commit(head)
        table.add_row(name, head[:12], _when(commit.created), commit.message)
    console.print(table)


@lake_app.command("log")
def lake_log(ref: Annotated[str, typer.Argument()] = "main", limit: int = 20) -> None:
    """Show the commits reachable from REF, newest first, with their metadata."""
    lake = _lake()
    for commit in lake.log(ref, limit=limit):
        console.print(f"[bold]{commit.id[:12]}[/] {_when(commit.created)} {commit.message}")
        for key, value in sorted(commit.metadata.items()):
            console.print(f"    {key}: {value}")


@lake_app.command("diff")
def lake_diff(left: str, right: str, prefix: str = "") -> None:
    """List paths added, removed or changed from LEFT to RIGHT."""
    lake = _lake()
    changes = lake.diff(left, right, prefix)
    for change in changes:
        console.print(f"{ {'added': '+', 'removed': '-', 'changed': '~'}[change.type] } {change.path}")
    console.print(f"{len(changes)} changes")


@lake_app.command("show")
def lake_show(ref: str, path: str, rows: int = 10) -> None:
    """Print the start of a Parquet table at REF (or list the paths under PATH)."""
    from mlplatform.lake import PathNotFound
    from mlplatform.lake.tables import read_table

    lake = _lake()
    try:
        df = read_table(lake, ref, path)
    except PathNotFound:
        paths = lake.list(ref, path)
        if not paths:
            raise typer.BadParameter(f"nothing at {path!r} in {ref!r}") from None
        console.print("\n".join(paths))
        return
    console.print(f"{len(df):,} rows, commit {lake.resolve(ref)[:12]}")
    console.print(df.head(rows).to_string())


@app.command()
def demo(
    days: Annotated[
        int,
        typer.Option(
            min=1,
            help="Days (partitions) from 2018-04-01. A week's model needs 28 days of data from its start; with the "
            "default, weeks 2018-04-04..2018-05-16 are trained and the promoted ones score the days after.",
        ),
    ] = 75,
    source: Annotated[str, typer.Option(help="parquet (replay the published data) or simulator.")] = "parquet",
    serve: Annotated[
        bool, typer.Option(help="End by serving the champion over HTTP and scoring the next day's first transactions.")
    ] = True,
) -> None:
    """Create the sources, run the asset graph over those days and publish each run to main; then serve."""
    from mlplatform.demo import SOURCES, run_demo

    if source not in SOURCES:
        raise typer.BadParameter(f"source must be one of {', '.join(SOURCES)}", param_hint="--source")
    settings = Settings.from_env()
    with progress_bar() as bar:
        task = bar.add_task("landing events", total=days)
        result = run_demo(settings, days, source, on_day=lambda d, n: bar.advance(task))  # type: ignore[arg-type]
    table = Table(
        "asset", "rows stored", "rows in", "accepted", "quarantined",
        title=f"{result.days[0]} .. {result.days[-1]} ({len(result.days)} partitions)",
    )  # fmt: skip
    for name, c in sorted(result.row_counts.items()):
        counts = [c.get(k, 0) for k in ("row_count", "rows_in", "accepted", "quarantined")]
        table.add_row(name, *(f"{n:,}" for n in counts))
    console.print(table)
    if result.models:
        models = Table("week", "version", "AP", "baseline AP", "champion AP", "decision", title="fraud_detector")
        for m in result.models:
            models.add_row(
                str(m["week"]),
                str(m.get("challenger_version", "-")),
                *(
                    f"{m[k]:.3f}" if isinstance(m.get(k), float) else "-"
                    for k in ("challenger", "baseline", "champion")
                ),
                str(m.get("reason", "")).split(":")[0],
            )
        console.print(models)
    if result.predicted_days:
        console.print(
            f"batch_predictions: {result.predicted_days[0]} .. {result.predicted_days[-1]} by the champion of each day"
            " (try `mlplatform lineage --transaction <id>`)"
        )
    for run in result.runs:
        if run.commit:
            console.print(
                f"{run.job} run {run.run_id}: published to main as commit {run.commit} ({run.changed_paths} paths)"
            )
        elif run.published:
            console.print(f"{run.job} run {run.run_id}: published, nothing new (main already held the same data)")
    console.print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items()))
    if not result.success:
        failed = next(r for r in reversed(result.runs) if not r.published)
        errors.print(f"[red]{failed.job} run {failed.run_id} failed or was not published: {failed.error}[/]")
        raise typer.Exit(1)
    console.print("open the UI: make dev (Dagster on http://127.0.0.1:3000)")
    if serve:
        _serve_after_demo(settings, days, source)


def _serve_after_demo(settings: Settings, days: int, source: str) -> None:
    from mlplatform.demo import SERVE_PORT
    from mlplatform.tracking import Tracking, versions

    if not any(r.champion_from for r in versions(Tracking.of(settings))):
        console.print("no model was promoted, so there is nothing to serve yet (try more --days)")
        return
    url = f"http://127.0.0.1:{SERVE_PORT}"
    # `kill` stops the demo as Ctrl-C does. Dagster's runs point SIGTERM at SIGINT's handler, which is
    # "ignore" in a process started in the background, so without this the demo would outlive `kill`.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        _serve_until_stopped(settings, days, source, url)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_until_stopped(settings: Settings, days: int, source: str, url: str) -> None:
    from mlplatform.demo import SERVE_PORT, next_day_sample, score_over_http, start_service

    try:
        service = start_service(settings, SERVE_PORT)
    except RuntimeError as error:
        errors.print(f"[red]the service did not start: {error}[/]")
        raise typer.Exit(1) from None
    try:
        if source == "parquet" and days < 183:
            sample = next_day_sample(days, 100)
            scored = score_over_http(url, sample)
            top = sorted(scored, key=lambda r: -float(r["score"]))[:3]
            console.print(
                f"scored {len(scored)} transactions of the next day over HTTP (model versions "
                f"{sorted({str(r['model_version']) for r in scored})}); highest: "
                + ", ".join(f"{r['transaction_id']} {float(r['score']):.3f}" for r in top)
            )
        console.print(f"serving the champion at {url} (POST /score, see the README); Ctrl-C to stop")
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.terminate()
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()


@app.command()
def run(
    job: Annotated[str, typer.Argument(help="daily, training, models, predictions or serving.")],
    partition: Annotated[
        str | None, typer.Option(help="A day (daily, predictions) or a training week's Wednesday (training, models).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="The last partition of a range, run as one run.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="End with one JSON object (the outcome).")] = False,
) -> None:
    """Run a job for a partition or range as the sensors launch it, then publish it as the publish sensor does.

    Exit status 0 only when the run succeeded and was published (nothing new to publish counts as published).
    """
    import json

    from assets.definitions import build_definitions
    from assets.publishing import Effects
    from assets.runs import ensure_dagster_home, partition_range, run_and_publish
    from mlplatform.features.definitions import FRAUD
    from mlplatform.online_store import open_online_store
    from mlplatform.tracking import Tracking

    settings = Settings.from_env()
    defs = build_definitions(settings)
    try:
        first, last = partition_range(defs, job, partition, to)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="JOB/--partition/--to") from None
    instance = ensure_dagster_home(settings)
    with open_online_store(settings.online_store, FRAUD) as store:
        effects = Effects(store, settings.bentoml_home, Tracking.of(settings))
        outcome = run_and_publish(defs, instance, open_lake(settings.lake), job, first, last, effects=effects)
    counted = {
        asset: {k: v for k, v in counts.items() if k in ("rows_in", "accepted", "quarantined")}
        for asset, counts in outcome.counts.items()
        if "rows_in" in counts
    }
    if json_output:
        keys = ("run_id", "success", "published", "commit", "error")
        print(json.dumps({**{k: getattr(outcome, k) for k in keys}, "assets": counted}))
    else:
        state = "published" if outcome.published else "not published"
        span = f" {first}..{last}" if first != last else f" {first}" if first else ""
        console.print(f"{job}{span}: run {outcome.run_id} {'succeeded' if outcome.success else 'failed'}, {state}")
        if outcome.commit:
            console.print(f"main is now {outcome.commit} ({outcome.changed_paths} paths changed)")
        if outcome.error:
            errors.print(f"[red]{outcome.error}[/]", highlight=False, soft_wrap=True)
    if not (outcome.success and outcome.published):
        raise typer.Exit(1)


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=1, max=65_535, help="Not 3000: the Dagster UI's.")] = 3100,
    host: Annotated[str, typer.Option(help="0.0.0.0 to accept other machines.")] = "127.0.0.1",
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (default: one per core).")] = None,
) -> None:
    """Serve the champion over HTTP with BentoML: POST /score, /score_batch, /labels; GET /livez, /readyz, /metrics."""
    from mlplatform.tracking import Tracking, versions

    settings = Settings.from_env()
    if not any(r.champion_from for r in versions(Tracking.of(settings))):
        console.print("[yellow]no model has been promoted yet: /readyz answers 503 until one is[/]")
    tools = Path(sys.executable).parent
    args = ["bentoml", "serve", "serving.service:FraudScorer", "--host", host, "--port", str(port)]
    console.print(f"fraud scorer on http://{host}:{port} (online store {settings.online_store})", highlight=False)
    os.execve(tools / "bentoml", [*args, *(["--arg", f"workers={workers}"] if workers else [])], dict(os.environ))


@app.command()
def status() -> None:
    """The platform's health from main and the registry: published days, champion, drift, performance, and the
    branches failed runs left."""
    from assets.runs import ensure_dagster_home
    from mlplatform.monitoring import PSI_THRESHOLD
    from mlplatform.status import current_status
    from mlplatform.tracking import Tracking

    settings = Settings.from_env()
    health = current_status(open_lake(settings.lake), Tracking.of(settings))
    table = Table("asset", "partitions", "last published", title="main")
    for entry in health.published:
        table.add_row(entry.asset, f"{entry.partitions:,}" if entry.partitions else "-", entry.last or "(one table)")
    console.print(table if health.published else "main: nothing published yet")
    champion = health.champion
    console.print(
        f"champion: version {champion.version} (week {champion.week}) in force since {champion.champion_from}"
        if champion
        else "champion: none promoted yet",
        highlight=False,
    )
    if health.drift:
        over = ", ".join(health.drift["over"]) or "none"  # type: ignore[arg-type]
        console.print(
            f"drift {health.drift['day']}: max PSI {health.drift['max_psi']:.3f} ({health.drift['max_feature']}; "
            f"calendar features aside); over the threshold {PSI_THRESHOLD}: {over}",
            highlight=False,
        )
    if health.performance:
        p = health.performance
        console.print(
            f"performance {p['day']} (labels so far, ~{p['labels_missing_estimate']:.0%} still missing): AUC ROC "
            f"{p['auc_roc']:.3f}, AP {p['average_precision']:.3f}, card precision@100 {p['card_precision_at_100']:.3f}"
            f" ({p['frauds_known']} frauds known, version {p['model_versions']})",
            highlight=False,
        )
    instance = ensure_dagster_home(settings) if health.kept_branches else None
    for branch, created in health.kept_branches:
        run = instance.get_run_by_id(branch.split("/", 1)[1]) if instance else None
        what = f"{run.job_name} run {run.status.value}" if run else "a run unknown to this Dagster instance"
        when = datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M")
        console.print(f"kept branch {branch}: {what}, last written {when}", highlight=False)
    if not health.kept_branches:
        console.print("no run branch kept (no failed run awaiting inspection)")


@app.command()
def ui(port: Annotated[int, typer.Option(min=1, max=65_535)] = 3000) -> None:
    """Open the Dagster UI on the project's instance: asset graph, runs, checks, sensors (until interrupted)."""
    from assets.runs import ensure_dagster_home

    settings = Settings.from_env()
    ensure_dagster_home(settings)
    tools = Path(sys.executable).parent  # dagster and dbt beside this Python, whatever the shell's PATH
    env = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLPLATFORM_HOME": str(settings.home),
        "DAGSTER_HOME": str(settings.dagster_home),
    }
    console.print(f"Dagster UI on http://127.0.0.1:{port} (instance {settings.dagster_home})", highlight=False)
    args = ["dagster", "dev", "-m", "assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    os.execve(tools / "dagster", args, env)


PUBLISHED_COLUMNS = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"]


def _parquet(path: Path, hint: str, columns: list[str]) -> None:
    """A readable Parquet file holding `columns`, or a one-line error naming the option."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise typer.BadParameter(f"{path} does not exist", param_hint=hint)
    try:
        names = pq.read_schema(path).names
    except Exception:  # pyarrow says "Parquet magic bytes not found", among others
        raise typer.BadParameter(f"{path} is not a Parquet file", param_hint=hint) from None
    missing = [c for c in columns if c not in names]
    if missing:
        raise typer.BadParameter(f"{path} lacks the column(s) {', '.join(missing)}", param_hint=hint)


def _writable(path: Path, hint: str) -> None:
    if not path.parent.is_dir():
        raise typer.BadParameter(f"the folder {path.parent} does not exist", param_hint=hint)


def _lake() -> Lake:
    return open_lake(Settings.from_env().lake)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def main() -> None:
    """The console script: an error is one line and exit status 1 (MLPLATFORM_DEBUG=1 shows the traceback)."""
    telemetry.off()
    # Dagster flags parameters the platform relies on (backfill policies, data versions) as beta.
    warnings.filterwarnings("ignore", message=r".*is currently in beta")
    try:
        code = app(standalone_mode=False)  # errors come back here, to be said in one line
    except typer.Abort:
        errors.print("[red]aborted[/]")
        sys.exit(130)
    except TyperException as error:  # usage: a bad option or value, named by click
        errors.print(f"[red]error:[/] {error.format_message()}", highlight=False, soft_wrap=True)
        sys.exit(getattr(error, "exit_code", 2))
    except Exception as error:
        if os.environ.get("MLPLATFORM_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        errors.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
