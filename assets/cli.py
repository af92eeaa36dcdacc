"""The `mlplatform` console script: the library's commands plus those that run the asset graph."""

import os
from typing import Annotated

import typer
from rich.table import Table

from mlplatform.cli import app, console, progress_bar
from mlplatform.config import Settings


@app.command()
def demo(
    days: Annotated[
        int, typer.Option(help="Days (partitions) from 2018-04-01; 31 or more also builds the first training set.")
    ] = 31,
    source: Annotated[str, typer.Option(help="parquet (replay the published data) or simulator.")] = "parquet",
) -> None:
    """Create the sources, run the asset graph for those days in one Dagster run and publish it to main."""
    from assets.demo import run_demo

    if source not in ("parquet", "simulator"):
        raise typer.BadParameter("source must be 'parquet' or 'simulator'", param_hint="--source")
    settings = Settings.from_env()
    with progress_bar() as bar:
        task = bar.add_task("landing events", total=days)
        result = run_demo(settings, days, source, on_day=lambda d, n: bar.advance(task))  # type: ignore[arg-type]
    table = Table(
        "asset",
        "rows stored",
        "rows in",
        "accepted",
        "quarantined",
        title=f"{result.days[0]} .. {result.days[-1]} ({len(result.days)} partitions)",
    )
    for name, c in sorted(result.row_counts.items()):
        table.add_row(
            name,
            f"{c.get('row_count', 0):,}",
            f"{c.get('rows_in', 0):,}",
            f"{c.get('accepted', 0):,}",
            f"{c.get('quarantined', 0):,}",
        )
    console.print(table)
    for run_id, publication in zip(result.run_ids, result.publications, strict=False):
        console.print(
            f"dagster run {run_id}: published to main as commit {publication.commit.id} "
            f"({publication.changed_paths} paths changed)"
        )
    if not result.success:
        console.print(f"[red]run {result.run_ids[-1]} failed or was not published: main is unchanged by it[/]")
    console.print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items()))
    console.print(f"open the UI: DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev")
    if not result.success:
        raise typer.Exit(1)


def main() -> None:
    import warnings

    from dagster import BetaWarning

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow reads DO_NOT_TRACK only as "true"
    warnings.filterwarnings("ignore", category=BetaWarning)  # Output(data_version=...) is beta
    app()
