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
        int,
        typer.Option(
            help="Days (partitions) from 2018-04-01. A week's model needs 28 days of data from its start; with the "
            "default, weeks 2018-04-04..2018-05-16 are trained and the promoted ones score the days after."
        ),
    ] = 75,
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
    if result.models:
        models = Table("week", "version", "AP", "baseline AP", "champion AP", "decision", title="fraud_detector")
        for m in result.models:
            champion = m.get("champion")
            models.add_row(
                str(m["week"]),
                str(m.get("challenger_version", "-")),
                f"{m['challenger']:.3f}" if "challenger" in m else "-",
                f"{m['baseline']:.3f}" if "baseline" in m else "-",
                f"{champion:.3f}" if isinstance(champion, float) else "-",
                str(m.get("reason", "")).split(":")[0],
            )
        console.print(models)
    if result.predicted_days:
        console.print(
            f"batch_predictions: {result.predicted_days[0]} .. {result.predicted_days[-1]} by the champion of each day"
            " (try `mlplatform lineage --transaction <id>`)"
        )
    for publication in result.publications:
        console.print(
            f"dagster run {publication.run_id}: published to main as commit {publication.commit.id} "
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
