"""Environment selection in one place: embedded defaults unless production endpoints are set.

| variable                         | default (embedded)               | production                   |
|----------------------------------|----------------------------------|------------------------------|
| MLPLATFORM_HOME                  | ./.mlplatform                    | any directory                |
| MLPLATFORM_LAKE                  | local (under MLPLATFORM_HOME)    | lakefs (LAKEFS_* variables)  |
| MLPLATFORM_LANDING_URI           | <home>/landing                   | s3://bucket/prefix           |
| MLPLATFORM_SOURCE_DB_URL         | sqlite:///<home>/source.db       | postgresql+psycopg://...     |
| MLPLATFORM_FRAUD_API_URL / TOKEN | the demo's local API             | the provider's API           |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HANDBOOK_RELATIVE = Path("../shared/data/handbook/transactions.parquet")


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_backend: str = "local"
    landing_uri: str = ""
    source_db_url: str = ""
    fraud_api_url: str = ""
    fraud_api_token: str = "demo-token"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("MLPLATFORM_HOME", ".mlplatform")).resolve()
        return cls(
            home=home,
            lake_backend=env.get("MLPLATFORM_LAKE", "local"),
            landing_uri=env.get("MLPLATFORM_LANDING_URI", str(home / "landing")),
            source_db_url=env.get("MLPLATFORM_SOURCE_DB_URL", f"sqlite:///{home / 'source.db'}"),
            fraud_api_url=env.get("MLPLATFORM_FRAUD_API_URL", ""),
            fraud_api_token=env.get("MLPLATFORM_FRAUD_API_TOKEN", "demo-token"),
        )

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def handbook_path() -> Path:
    """The published dataset: MLPLATFORM_HANDBOOK or ../shared beside the checkout."""
    if "MLPLATFORM_HANDBOOK" in os.environ:
        return Path(os.environ["MLPLATFORM_HANDBOOK"])
    repo = Path(__file__).resolve().parent.parent
    return (repo / HANDBOOK_RELATIVE).resolve()


def open_lake(settings: Settings, env: dict[str, str] | None = None):
    """The configured lake for command-line use (the Dagster resource builds the same from EnvVar)."""
    from mlplatform.lake import LocalLake

    if settings.lake_backend == "local":
        return LocalLake(settings.lake_root)
    if settings.lake_backend == "lakefs":
        from mlplatform.lake.lakefs import LakeFSLake

        env = dict(os.environ if env is None else env)
        return LakeFSLake(
            env["LAKEFS_ENDPOINT"],
            env["LAKEFS_ACCESS_KEY_ID"],
            env["LAKEFS_SECRET_ACCESS_KEY"],
            env.get("LAKEFS_REPOSITORY", "mlplatform"),
            env.get("LAKEFS_STORAGE_NAMESPACE"),
        )
    raise ValueError(f"unknown lake backend {settings.lake_backend!r} (expected 'local' or 'lakefs')")
