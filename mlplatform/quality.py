"""Data contracts verified with Soda Core (v4) on DuckDB: every rule with its measured value.

A contract's dataset is `lake/main/<table>`; the frame to verify is loaded as that table in an
in-memory DuckDB, so contracts run wherever the data is (lake object, run branch, test frame).

A column entry `- features: <feature set>` stands for one column per feature of that set, each
checked for missing values and for the range its definition allows, so adding a feature to
mlplatform/features/definitions.py is the only edit a contract needs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlplatform.duck import connect
from mlplatform.features.definitions import FEATURE_SETS, valid_range

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


def expand(contract: dict[str, Any]) -> dict[str, Any]:
    """The contract with each `features: <set>` column entry replaced by that set's feature columns."""
    columns: list[dict[str, Any]] = []
    for entry in contract.get("columns", []):
        if "features" not in entry:
            columns.append(entry)
            continue
        for feature in FEATURE_SETS[entry["features"]].features:
            allowed = valid_range(feature)
            invalid: dict[str, object] = {"valid_values": list(allowed.values)} if allowed.values else {}
            invalid |= {"valid_min": allowed.min} if allowed.min is not None else {}
            invalid |= {"valid_max": allowed.max} if allowed.max is not None else {}
            columns.append({"name": feature.name, "checks": [{"missing": None}, {"invalid": invalid}]})
    return {**contract, "columns": columns}


def table_name(contract: dict[str, Any]) -> str:
    dataset = contract["dataset"]
    source, schema, table = dataset.split("/")
    if source != DATA_SOURCE or schema != "main":
        raise ValueError(f"{contract}: dataset must be {DATA_SOURCE}/main/<table>, not {dataset!r}")
    return table


def verify(frame: pd.DataFrame, contract: Path, data_timestamp: pd.Timestamp | None = None) -> ContractResult:
    """Runs the contract's checks on `frame`; freshness is measured against `data_timestamp`."""
    from soda_core.contracts import verify_contract_locally
    from soda_duckdb import DuckDBDataSource

    expanded = expand(yaml.safe_load(contract.read_text()))
    con = connect()
    try:
        con.register("frame_to_verify", frame)
        con.execute(f"create table {table_name(expanded)} as select * from frame_to_verify")
        stamp = None if data_timestamp is None else _utc(pd.Timestamp(data_timestamp)).isoformat()
        with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix=f"{contract.stem}-") as file:
            yaml.safe_dump(expanded, file, sort_keys=False)
            file.flush()
            session = verify_contract_locally(
                data_sources=[DuckDBDataSource.from_existing_cursor(con.cursor(), name=DATA_SOURCE)],
                contract_file_path=file.name,
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
