from dagster import ConfigurableResource

from mlplatform.tracking import Tracking


class MlflowResource(ConfigurableResource):
    """MLflow tracking and registry: a SQLite store under MLPLATFORM_HOME, or a server's URI."""

    tracking_uri: str
    artifact_root: str = ""  # artifact location of the experiment when this store creates it ("" = the server's)

    def get(self) -> Tracking:
        return Tracking(self.tracking_uri, self.artifact_root or None)
