"""The `mlplatform` console script, run as a user runs it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mlplatform.cli import app
from mlplatform.config import handbook_path
from mlplatform.lake import MAIN, LocalLake
from mlplatform.lake.tables import table_path, write_table
from tests.console import run_main

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPLATFORM_HOME", str(tmp_path))
    return tmp_path


def _command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of the tree, as the words that invoke it."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():  # a group
        paths += _command_paths(sub, (*path, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_the_command_tree_is_complete():
    names = {" ".join(p) for p in COMMANDS}
    assert {"demo", "simulate", "replay", "evaluate", "lineage", "fraud-api", "features compute", "lake log"} <= names


@pytest.mark.parametrize("words", COMMANDS, ids=lambda p: " ".join(p) or "mlplatform")
def test_every_command_has_help(words):
    result = runner.invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert f" {' '.join(words)} ".replace("  ", " ") in f"{usage} "


def test_lake_inspection_commands(home):
    lake = LocalLake(home / "lake")
    path = table_path(["raw_transactions"], "2018-04-01")
    write_table(lake, MAIN, path, pd.DataFrame({"transaction_id": [1, 2], "tx_amount": [3.5, 4.25]}))
    first = lake.commit(MAIN, "first", {"run_id": "r-1"})
    lake.create_branch("runs/r-2", MAIN)
    write_table(lake, "runs/r-2", path, pd.DataFrame({"transaction_id": [1], "tx_amount": [9.0]}))
    second = lake.commit("runs/r-2", "second")

    out = runner.invoke(app, ["lake", "branches"]).output
    assert "runs/r-2" in out and second.id[:12] in out
    out = runner.invoke(app, ["lake", "log", "main"]).output
    assert first.id[:12] in out and "run_id: r-1" in out
    out = runner.invoke(app, ["lake", "diff", "main", "runs/r-2"]).output
    assert f"~ {path}" in out and "1 changes" in out
    out = runner.invoke(app, ["lake", "show", first.id, path]).output
    assert "2 rows" in out and "4.25" in out
    assert runner.invoke(app, ["lake", "show", "main", "tables/"]).output.strip() == path


def test_simulate_writes_the_three_tables(home):
    result = runner.invoke(
        app, ["simulate", "--out", str(home / "sim"), "--customers", "30", "--terminals", "50", "--days", "5"]
    )
    assert result.exit_code == 0, result.output
    tx = pd.read_parquet(home / "sim" / "transactions.parquet")
    assert len(tx) > 0 and "tx/s" in result.output
    assert len(pd.read_parquet(home / "sim" / "customers.parquet")) == 30
    assert runner.invoke(app, ["simulate", "--out", str(home), "--mode", "nope"]).exit_code != 0


@pytest.mark.slow
@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
def test_demo_from_the_console_script(tmp_path):
    exe = shutil.which("mlplatform", path=str(Path(sys.executable).parent))
    assert exe, "the mlplatform console script is not installed beside this Python"
    env = {**os.environ, "MLPLATFORM_HOME": str(tmp_path / "home")}
    done = subprocess.run([exe, "demo", "--days", "3"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "published to main as commit" in done.stdout

    lake = LocalLake(tmp_path / "home" / "lake")
    head = lake.get_commit(MAIN)
    assert head.metadata["partitions"] == "2018-04-01..2018-04-03 (3)"
    published = pd.read_parquet(handbook_path(), filters=[("TX_TIME_DAYS", "<", 3)])
    landed = sum(len(pd.read_parquet(lake.uri(MAIN, p))) for p in lake.list(MAIN, "tables/raw_transactions/"))
    assert landed == len(published)
    # The run is in the project-local Dagster home that `dagster dev` opens.
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").read_text().count("enabled: false") == 1
    log = subprocess.run([exe, "lake", "log"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert head.id[:12] in log and "Publish run" in log


HANDBOOK = str(handbook_path())


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["simulate", "--out", "sim", "--days", "-1"], "'--days'"),
        (["simulate", "--out", "sim", "--radius", "0"], "radius must be positive"),
        (["lake", "log", "nosuchref"], "no branch, tag or commit named 'nosuchref'"),
        (["lake", "diff", "main", "nope"], "'nope'"),
        (["lake", "show", "main", "nothing/here"], "nothing at 'nothing/here'"),
        (["lineage", "--transaction", "5", "--ref", "nope"], "'nope'"),
        (["features", "compute", "--input", "missing.parquet", "--output", "o.parquet"], "does not exist"),
        (["features", "compute", "--input", __file__, "--output", "o.parquet"], "is not a Parquet file"),
        (["features", "compute", "--input", HANDBOOK, "--output", "no/such/folder/o.parquet"], "does not exist"),
        (["evaluate", "--input", HANDBOOK, "--train-start", "yesterday"], "'--train-start'"),
        (["demo", "--days", "0"], "'--days'"),
        (["fraud-api", "--port", "99999"], "'--port'"),
        (["run", "nojob"], "no job 'nojob'"),
        (["run", "daily"], "needs --partition"),
        (["run", "models", "--partition", "2018-04-05"], "not a partition of the models job"),
        (["stream", "consume"], "no event stream: pass --from"),
        (["stream", "consume", "--from", "kafka://broker:9092"], "expected an event stream URI"),
        (["replay", "--to", "redis://127.0.0.1:1/0"], "event stream redis://127.0.0.1:1/0 is not reachable"),
        (["bogus"], "No such command"),
    ],
)
def test_a_bad_call_is_one_line_and_a_non_zero_exit(home, monkeypatch, capsys, args, says):
    monkeypatch.chdir(home)
    code, out, err = run_main(args, capsys)
    assert code != 0
    assert out == "", out  # stdout stays clean for what a command outputs
    assert err.strip().count("\n") == 0, err  # one line on stderr, never a traceback
    assert err.startswith("error:") and says in err


def test_a_missing_column_is_named(home, monkeypatch, capsys):
    monkeypatch.chdir(home)
    pd.DataFrame({"TRANSACTION_ID": [1]}).to_parquet(home / "thin.parquet")
    code, _, output = run_main(["evaluate", "--input", "thin.parquet", "--train-start", "2018-07-25"], capsys)
    assert code == 2 and "lacks the column(s) TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD" in output


@pytest.mark.slow
@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
def test_run_publishes_and_a_rerun_of_unchanged_inputs_publishes_nothing_new(tmp_path, monkeypatch, capsys):
    import json

    from tests.platform_env import make_env

    env = make_env(tmp_path / "home", days=1)
    env.start_api()
    try:
        for name, value in {
            "MLPLATFORM_HOME": str(env.settings.home),
            "MLPLATFORM_FRAUD_API_URL": env.settings.fraud_api_url,
            "MLPLATFORM_FRAUD_API_TOKEN": env.settings.fraud_api_token,
        }.items():
            monkeypatch.setenv(name, value)
        first_code, first, _ = run_main(["run", "daily", "--partition", "2018-04-01", "--json"], capsys)
        again_code, again, _ = run_main(["run", "daily", "--partition", "2018-04-01", "--json"], capsys)
    finally:
        env.stop_api()
    assert first_code == 0, first
    outcome = json.loads(first.strip().splitlines()[-1])
    assert outcome["success"] and outcome["published"] and len(outcome["commit"]) == 64 and not outcome["error"]
    counts = outcome["assets"]["raw_transactions"]
    assert counts["rows_in"] == counts["accepted"] + counts["quarantined"] > 9_000
    # The same day again: every table (dbt's included) has the same bytes, so nothing new is published,
    # and that is a success.
    assert again_code == 0, again
    repeated = json.loads(again.strip().splitlines()[-1])
    assert repeated["success"] and repeated["published"] and repeated["commit"] == ""
    assert env.lake.resolve("main") == outcome["commit"]
