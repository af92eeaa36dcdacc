from pathlib import Path

from dagster import ConfigurableResource

from mlplatform.features.definitions import REFERENCE
from mlplatform.online_store import OnlineStore, open_online_store


class OnlineStoreResource(ConfigurableResource):
    """The online store the service reads (SQLite under MLPLATFORM_HOME, or Redis by URI through EnvVar)."""

    uri: str

    def get(self) -> OnlineStore:
        return open_online_store(self.uri, REFERENCE)


class BentoStoreResource(ConfigurableResource):
    """BentoML's store of built Bentos (BENTOML_HOME), where published Bentos are installed."""

    home: str

    def path(self) -> Path:
        return Path(self.home)
