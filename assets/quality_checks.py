"""Soda contracts (assets/contracts/<asset>.yml) as blocking asset checks.

The check runs in the step that produces the data, on exactly the partitions the run wrote to its
branch: a failure fails the step, stops downstream assets and so prevents the merge into main.
(A separate @asset_check on a partitioned asset would load every partition of the asset.)
"""

from pathlib import Path

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from mlplatform.quality import ContractResult, verify

CONTRACTS = Path(__file__).parent / "contracts"


def contract_spec(asset: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        "contract",
        asset=asset,
        blocking=True,
        description=f"Soda data contract {CONTRACTS.name}/{asset}.yml: schema, nulls, keys, ranges, freshness.",
    )


def contract_result(
    asset: str, frames: dict[str, pd.DataFrame], fresh_at: pd.Timestamp | None, per_partition: bool = False
) -> AssetCheckResult:
    """Verifies the run's partitions of `asset`, together or (`per_partition`) one by one.

    Together suits assets whose keys are unique across partitions (daily transactions); per
    partition suits those whose partitions may share keys (weekly training sets overlap in time).
    """
    contract = CONTRACTS / f"{asset}.yml"
    if per_partition:
        results = {key: verify(frame, contract, fresh_at) for key, frame in frames.items()}
    else:
        results = {"all": verify(pd.concat(frames.values(), ignore_index=True), contract, fresh_at)}
    failed = sorted(
        {f"{rule} [{key}]" if per_partition else rule for key, r in results.items() for rule in r.failed_rules()}
    )
    errors = "\n".join(r.errors for r in results.values() if r.errors)
    return AssetCheckResult(
        asset_key=asset,
        check_name="contract",
        passed=all(r.passed for r in results.values()),
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rules": MetadataValue.md(_table(results)),
            "failed_rules": failed,
            **({"errors": errors} if errors else {}),
        },
    )


def _table(results: dict[str, ContractResult]) -> str:
    rows = [
        f"| {key} | {rule.name} | {'pass' if rule.passed else 'FAIL'} | "
        + ", ".join(f"{k}={v:g}" for k, v in rule.measured.items())
        + " |"
        for key, result in results.items()
        for rule in result.rules
    ]
    return "| partitions | rule | outcome | measured |\n|---|---|---|---|\n" + "\n".join(rows)
