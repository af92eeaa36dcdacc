"""Data contracts verified with Soda Core (v4) on DuckDB: every rule with its measured value.

A contract's dataset is `lake/main/<table>`; the frame to verify is loaded as that table in an
in-memory DuckDB, so contracts run wherever the data is (lake object, run branch, test frame).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from mlplatform.duck import connect

DATA_SOURCE = "lake"


@dataclass(frozen=True)
class Rule:
    name: str  # e.g. "tx_amount: invalid" or "row_count"
    passed: bool
    measured: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ContractResult:
    contract: str
    passed: bool
    rules: list[Rule]
    errors: str = ""

    def failed_rules(self) -> list[str]:
        return [r.name for r in self.rules if not r.passed]


def table_name(contract: Path) -> str:
    dataset = yaml.safe_load(contract.read_text())["dataset"]
    source, schema, table = dataset.split("/")
    if source != DATA_SOURCE or schema != "main":
        raise ValueError(f"{contract}: dataset must be {DATA_SOURCE}/main/<table>, not {dataset!r}")
    return table


def verify(frame: pd.DataFrame, contract: Path, data_timestamp: pd.Timestamp | None = None) -> ContractResult:
    """Runs the contract's checks on `frame`; freshness is measured against `data_timestamp`."""
    os.environ["SODA_CORE_TELEMETRY_ENABLED"] = "false"  # no telemetry, before Soda is imported
    from soda_core.contracts import verify_contract_locally
    from soda_duckdb import DuckDBDataSource

    con = connect()
    try:
        con.register("frame_to_verify", frame)
        con.execute(f"create table {table_name(contract)} as select * from frame_to_verify")
        stamp = None if data_timestamp is None else _utc(pd.Timestamp(data_timestamp)).isoformat()
        session = verify_contract_locally(
            data_sources=[DuckDBDataSource.from_existing_cursor(con.cursor(), name=DATA_SOURCE)],
            contract_file_path=str(contract),
            data_timestamp=stamp,
        )
    finally:
        con.close()
    rules = []
    for result in session.contract_verification_results:
        for check in result.check_results:
            column = f"{check.check.column_name}: " if check.check.column_name else ""
            measured = {k: v for k, v in (check.diagnostic_metric_values or {}).items() if isinstance(v, (int, float))}
            rules.append(Rule(f"{column}{check.check.type}", bool(check.is_passed), measured))
    errors = session.get_errors_str()
    passed = bool(rules) and all(r.passed for r in rules) and not errors
    return ContractResult(contract.stem, passed, rules, errors)


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """Naive event times are UTC; an aware timestamp is converted."""
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
