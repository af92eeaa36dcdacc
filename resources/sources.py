from __future__ import annotations

import pandas as pd
from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource

from mlplatform.sources import source_db
from mlplatform.sources.fraud_api import FraudReportsClient
from mlplatform.sources.landing import LandingZone, open_landing_zone


class LandingZoneResource(ConfigurableResource):
    """Where the event stream lands: a directory, or s3://bucket/prefix read through dagster-aws's S3Resource
    (credentials by EnvVar; its endpoint_url points at SeaweedFS or MinIO instead of AWS)."""

    uri: str
    s3: S3Resource  # used for s3:// URIs

    def get(self) -> LandingZone:
        return open_landing_zone(self.uri, client=self.s3.get_client() if self.uri.startswith("s3://") else None)


class SourceDatabaseResource(ConfigurableResource):
    """The operational database (any SQLAlchemy URL) holding customers and terminals."""

    url: str

    def read(self, table: str) -> pd.DataFrame:
        return source_db.read_table(self.url, table)


class FraudApiResource(ConfigurableResource):
    """The chargeback provider's HTTP API."""

    url: str
    token: str
    page_size: int = 500

    def client(self) -> FraudReportsClient:
        if not self.url:
            raise RuntimeError(
                "no fraud-report API configured: set MLPLATFORM_FRAUD_API_URL (`mlplatform fraud-api` serves one)"
            )
        return FraudReportsClient(self.url, self.token, page_size=self.page_size)
