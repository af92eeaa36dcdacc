"""The `mlplatform` command line (library commands; `assets.cli` adds the ones that run Dagster)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlplatform.config import Settings, open_lake

app = typer.Typer(help="mlplatform: data and ML platform on Dagster (fraud detection demo).", no_args_is_help=True)
lake_app = typer.Typer(help="Inspect the versioned data lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")
features_app = typer.Typer(help="Compute the reference features offline.", no_args_is_help=True)
app.add_typer(features_app, name="features")
console = Console()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for transactions/customers/terminals.parquet.")],
    customers: int = 5_000,
    terminals: int = 10_000,
    days: int = 183,
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
    days: int = 7,
    speed: Annotated[float, typer.Option(help="Pace as a multiple of real time; 0 = as fast as possible.")] = 0.0,
    landing: Annotated[str | None, typer.Option(help="Landing zone (directory or s3://bucket/prefix).")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Transactions file for --source parquet.")] = None,
) -> None:
    """Publish transactions as hourly NDJSON events into the landing zone, closing each day with _SUCCESS."""
    from mlplatform.sources.demo_data import load_transactions
    from mlplatform.sources.landing import open_landing_zone
    from mlplatform.sources.replay import replay

    if source not in ("parquet", "simulator"):
        raise typer.BadParameter("source must be 'parquet' or 'simulator'", param_hint="--source")
    settings = Settings.from_env()
    tx, _ = load_transactions(source, days, parquet)  # type: ignore[arg-type]
    zone = open_landing_zone(landing or settings.landing_uri)
    keys = sorted(tx["TX_DATETIME"].dt.strftime("%Y-%m-%d").unique())
    with progress_bar() as bar:
        task = bar.add_task("replaying days", total=len(keys))
        counts = replay(tx, zone, keys, speed, on_day=lambda d, n: bar.advance(task))
    console.print(f"landed {sum(counts.values()):,} events for {len(counts)} days in {landing or settings.landing_uri}")


@app.command("fraud-api")
def fraud_api(
    reports: Annotated[Path | None, typer.Option(help="Reports Parquet (default: the demo's).")] = None,
    port: int = 8765,
    token: str = "demo-token",
) -> None:
    """Serve the demo's third-party fraud-report API on 127.0.0.1 (until interrupted)."""
    import uvicorn

    from mlplatform.sources.fraud_api import create_app

    path = reports or Settings.from_env().home / "provider" / "fraud_reports.parquet"
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist; run `mlplatform demo` first", param_hint="--reports")
    console.print(f"serving {path} at http://127.0.0.1:{port} (set MLPLATFORM_FRAUD_API_URL to it)")
    uvicorn.run(create_app(pd.read_parquet(path), token), host="127.0.0.1", port=port, log_level="warning")


@features_app.command("compute")
def features_compute(
    input: Annotated[Path, typer.Option(help="Transactions in the published dataset's schema (Parquet).")],
    output: Annotated[Path, typer.Option(help="Output Parquet: TRANSACTION_ID and the 14 reference features.")],
    labels: Annotated[
        Path | None, typer.Option(help="Parquet with TRANSACTION_ID, TX_FRAUD (default: the input's TX_FRAUD).")
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb or spark.")] = "duckdb",
) -> None:
    """Compute the fourteen reference features for every transaction of a file."""
    from mlplatform.features.files import compute_file

    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter("engine must be 'duckdb' or 'spark'", param_hint="--engine")
    for path, hint in ((input, "--input"), (labels, "--labels")):
        if path is not None and not path.exists():
            raise typer.BadParameter(f"{path} does not exist", param_hint=hint)
    started = time.perf_counter()
    rows = compute_file(input, output, labels, engine)  # type: ignore[arg-type]
    console.print(f"{rows:,} rows of features ({engine}) in {time.perf_counter() - started:.1f}s -> {output}")


@app.command("evaluate")
def evaluate_cmd(
    input: Annotated[Path, typer.Option(help="Transactions in the published dataset's schema (Parquet).")],
    train_start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First training day.")],
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
    model: Annotated[str, typer.Option(help="mlp (torch) or logreg (the protocol's baseline).")] = "mlp",
    seed: int = 0,
    predictions_out: Annotated[Path | None, typer.Option(help="Parquet of transaction_id, score.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Train and evaluate a model on any transactions file with the evaluation protocol."""
    import json

    from mlplatform.evaluate_file import evaluate_file
    from mlplatform.training_sets import Split

    if model not in ("mlp", "logreg"):
        raise typer.BadParameter("model must be 'mlp' or 'logreg'", param_hint="--model")
    if not input.exists():
        raise typer.BadParameter(f"{input} does not exist", param_hint="--input")
    split = Split(train_start.date(), train_days, delay_days, test_days)
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
        landing = open_landing_zone(settings.landing_uri)
        chain = trace(open_lake(settings), Tracking.from_env(settings.home), transaction, ref, landing)
    except NotPredicted as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    for line in describe(chain):
        console.print(line, highlight=False, soft_wrap=True)


@lake_app.command("branches")
def lake_branches() -> None:
    """List branches with their head commit."""
    lake = open_lake(Settings.from_env())
    table = Table("branch", "head", "created", "message")
    for name, head in lake.branches().items():
        commit = lake.get_commit(head)
        table.add_row(name, head[:12], _when(commit.created), commit.message)
    console.print(table)


@lake_app.command("log")
def lake_log(ref: Annotated[str, typer.Argument()] = "main", limit: int = 20) -> None:
    """Show the commits reachable from REF, newest first, with their metadata."""
    lake = open_lake(Settings.from_env())
    for commit in lake.log(ref, limit=limit):
        console.print(f"[bold]{commit.id[:12]}[/] {_when(commit.created)} {commit.message}")
        for key, value in sorted(commit.metadata.items()):
            console.print(f"    {key}: {value}")


@lake_app.command("diff")
def lake_diff(left: str, right: str, prefix: str = "") -> None:
    """List paths added, removed or changed from LEFT to RIGHT."""
    lake = open_lake(Settings.from_env())
    changes = lake.diff(left, right, prefix)
    for change in changes:
        console.print(f"{ {'added': '+', 'removed': '-', 'changed': '~'}[change.type] } {change.path}")
    console.print(f"{len(changes)} changes")


@lake_app.command("show")
def lake_show(ref: str, path: str, rows: int = 10) -> None:
    """Print the start of a Parquet table at REF (or list the paths under PATH)."""
    from mlplatform.lake import PathNotFound
    from mlplatform.lake.tables import read_table

    lake = open_lake(Settings.from_env())
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


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def main() -> None:
    app()
