"""Soda contracts (assets/contracts/<asset>.yml) as blocking asset checks.

The check runs in the step that produces the data, on exactly the partitions the run wrote to its
branch: a failure fails the step, stops downstream assets and so prevents the merge into main.
(A separate @asset_check on a partitioned asset would load every partition of the asset.)
"""

from pathlib import Path

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from mlplatform.quality import verify

CONTRACTS = Path(__file__).parent / "contracts"


def contract_spec(asset: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        "contract",
        asset=asset,
        blocking=True,
        description=f"Soda data contract {CONTRACTS.name}/{asset}.yml: schema, nulls, keys, ranges, freshness.",
    )


def contract_result(asset: str, frames: dict[str, pd.DataFrame], fresh_at: pd.Timestamp | None) -> AssetCheckResult:
    """Verifies the run's partitions of `asset` together; freshness is measured at `fresh_at`."""
    result = verify(pd.concat(frames.values(), ignore_index=True), CONTRACTS / f"{asset}.yml", fresh_at)
    table = "\n".join(
        f"| {r.name} | {'pass' if r.passed else 'FAIL'} | "
        + ", ".join(f"{k}={v:g}" for k, v in r.measured.items())
        + " |"
        for r in result.rules
    )
    return AssetCheckResult(
        asset_key=asset,
        check_name="contract",
        passed=result.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rules": MetadataValue.md("| rule | outcome | measured |\n|---|---|---|\n" + table),
            "failed_rules": result.failed_rules(),
            **({"errors": result.errors} if result.errors else {}),
        },
    )
