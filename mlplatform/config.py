"""Every backend choice in one place: embedded defaults unless production endpoints are set.

| variable                              | default (embedded)                    | production                        |
|---------------------------------------|---------------------------------------|-----------------------------------|
| MLPLATFORM_HOME                       | ./.mlplatform                         | any directory                     |
| MLPLATFORM_LAKE                       | local (under MLPLATFORM_HOME/lake)    | lakefs (+ LAKEFS_* below)         |
| LAKEFS_ENDPOINT, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY; _REPOSITORY (mlplatform), _STORAGE_NAMESPACE (optional)  |
| MLPLATFORM_LANDING_URI                | <home>/landing                        | s3://bucket/prefix                |
| AWS_ENDPOINT_URL                      | AWS itself                            | SeaweedFS, MinIO, ...             |
| MLPLATFORM_SOURCE_DB_URL              | sqlite:///<home>/source.db            | postgresql+psycopg://...          |
| MLPLATFORM_FRAUD_API_URL / _TOKEN     | none (the demo starts its own)        | the provider's API                |
| MLFLOW_TRACKING_URI                   | sqlite:///<home>/mlflow/mlflow.db     | http://tracking-server            |
| MLPLATFORM_ONLINE_STORE               | sqlite:///<home>/online.db            | redis://host:6379/0               |
| MLPLATFORM_SERVING_TOKEN              | none (scoring is open)                | a bearer token scoring calls need |
| MLPLATFORM_SERVING_MODEL              | auto (a Bento: its own; else: champion) | registry, bento                 |
| BENTOML_HOME                          | <home>/bentoml                        | BentoML's store of built Bentos   |
| MLPLATFORM_DAGSTER_STORAGE            | SQLite under <home>/dagster           | postgresql+psycopg2://...        |

The Dagster resources (resources/) and the command line both build their clients from `Settings`;
secrets reach Dagster through `EnvVar` (resources/__init__.py), never as plain config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

LakeBackend = Literal["local", "lakefs"]
ModelSource = Literal["auto", "registry", "bento"]
LAKE_BACKENDS: tuple[LakeBackend, ...] = ("local", "lakefs")
# The variable naming the Dagster instance's PostgreSQL (its URL may hold a password: the instance's
# dagster.yaml names the variable, never the value).
DAGSTER_STORAGE = "MLPLATFORM_DAGSTER_STORAGE"
HANDBOOK_RELATIVE = Path("../shared/data/handbook/transactions.parquet")


class ConfigError(ValueError):
    """A setting that cannot be used (the message names the variable)."""


@dataclass(frozen=True)
class LakeSettings:
    backend: LakeBackend = "local"
    root: str = ""  # the local lake's directory
    lakefs_endpoint: str = ""
    lakefs_access_key_id: str = ""
    lakefs_secret_access_key: str = ""
    lakefs_repository: str = "mlplatform"
    lakefs_storage_namespace: str = ""  # set: the repository is created there if missing


@dataclass(frozen=True)
class Settings:
    home: Path
    lake: LakeSettings
    landing_uri: str
    aws_endpoint_url: str  # "" = AWS itself
    source_db_url: str
    fraud_api_url: str
    fraud_api_token: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str  # "" = the tracking server decides
    online_store: str
    event_stream: str  # "" = transactions land as files only (no broker)
    serving_token: str  # "" = scoring calls need no token
    champion_poll_seconds: float  # how often the service looks for a new champion
    serving_model: ModelSource
    bentoml_home: Path
    dagster_storage: str = ""  # "" = Dagster's SQLite files under dagster_home; else a PostgreSQL URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("MLPLATFORM_HOME", ".mlplatform")).resolve()
        lake = LakeSettings(
            backend=_choice(env, "MLPLATFORM_LAKE", LAKE_BACKENDS),
            root=str(home / "lake"),
            lakefs_endpoint=env.get("LAKEFS_ENDPOINT", ""),
            lakefs_access_key_id=env.get("LAKEFS_ACCESS_KEY_ID", ""),
            lakefs_secret_access_key=env.get("LAKEFS_SECRET_ACCESS_KEY", ""),
            lakefs_repository=env.get("LAKEFS_REPOSITORY", "mlplatform"),
            lakefs_storage_namespace=env.get("LAKEFS_STORAGE_NAMESPACE", ""),
        )
        tracking = env.get("MLFLOW_TRACKING_URI", "")
        embedded = home / "mlflow"
        return cls(
            home=home,
            lake=lake,
            landing_uri=env.get("MLPLATFORM_LANDING_URI", str(home / "landing")),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL", ""),
            source_db_url=env.get("MLPLATFORM_SOURCE_DB_URL", f"sqlite:///{home / 'source.db'}"),
            fraud_api_url=env.get("MLPLATFORM_FRAUD_API_URL", ""),
            fraud_api_token=env.get("MLPLATFORM_FRAUD_API_TOKEN", ""),
            mlflow_tracking_uri=tracking or f"sqlite:///{embedded / 'mlflow.db'}",
            mlflow_artifact_root="" if tracking else (embedded / "artifacts").as_uri(),
            online_store=env.get("MLPLATFORM_ONLINE_STORE", f"sqlite:///{home / 'online.db'}"),
            event_stream=env.get("MLPLATFORM_EVENT_STREAM", ""),
            serving_token=env.get("MLPLATFORM_SERVING_TOKEN", ""),
            champion_poll_seconds=_number(env, "MLPLATFORM_CHAMPION_POLL_SECONDS", 5.0),
            serving_model=_choice(env, "MLPLATFORM_SERVING_MODEL", ("auto", "registry", "bento")),
            bentoml_home=Path(env.get("BENTOML_HOME", home / "bentoml")).resolve(),
            dagster_storage=_postgres_url(env, DAGSTER_STORAGE),
        )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def _postgres_url(env: Mapping[str, str], name: str) -> str:
    """A URL for dagster-postgres, which needs the psycopg2 driver (SQLAlchemy's default for a plain
    postgresql:// is psycopg 3, whose server-side parameters break its NOTIFY)."""
    value = env.get(name, "")
    if value and not value.startswith("postgresql+psycopg2://"):
        shown = value.split("://")[0] + "://..." if "@" in value else value  # never echo a password
        raise ConfigError(f"{name}={shown!r}: expected postgresql+psycopg2://user:password@host:5432/database")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> Any:
    value = env.get(name, choices[0])
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name}={env[name]!r}: expected a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={env[name]!r}: expected a positive number")
    return value


def handbook_path() -> Path:
    """The published dataset: MLPLATFORM_HANDBOOK or ../shared beside the checkout."""
    if "MLPLATFORM_HANDBOOK" in os.environ:
        return Path(os.environ["MLPLATFORM_HANDBOOK"])
    repo = Path(__file__).resolve().parent.parent
    return (repo / HANDBOOK_RELATIVE).resolve()
