from pathlib import Path

from dagster import ConfigurableResource

from mlplatform.features.definitions import FRAUD
from mlplatform.online_store import OnlineStore, open_online_store


class OnlineStoreResource(ConfigurableResource):
    """The online store the service reads (SQLite under MLPLATFORM_HOME, or Redis by URI through EnvVar)."""

    uri: str

    def get(self) -> OnlineStore:
        return open_online_store(self.uri, FRAUD)


class BentoStoreResource(ConfigurableResource):
    """BentoML's store of built Bentos (BENTOML_HOME), where published Bentos are installed."""

    home: str

    def path(self) -> Path:
        return Path(self.home)


class WorkspaceResource(ConfigurableResource):
    """Scratch space of runs (MLPLATFORM_HOME/work/<run id>): removed after a run succeeds, kept a week after
    a failure (retention with the run's branch)."""

    root: str

    def run_dir(self, run_id: str) -> Path:
        path = Path(self.root) / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path
