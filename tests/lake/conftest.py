import os
import uuid

import pytest

from mlplatform.lake import LocalLake


def _lakefs_lake():
    from mlplatform.lake.lakefs import LakeFSLake

    name = f"contract-{uuid.uuid4().hex[:12]}"
    return LakeFSLake(
        endpoint=os.environ["LAKEFS_ENDPOINT"],
        access_key_id=os.environ["LAKEFS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["LAKEFS_SECRET_ACCESS_KEY"],
        repository=name,
        storage_namespace=f"{os.environ['LAKEFS_STORAGE_NAMESPACE'].rstrip('/')}/{name}",
    )


LAKEFS_VARS = ("LAKEFS_ENDPOINT", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY", "LAKEFS_STORAGE_NAMESPACE")


@pytest.fixture(params=["local", "lakefs"])
def lake(request, tmp_path):
    """Every implementation of the Lake interface; lakeFS only where a server is configured."""
    if request.param == "local":
        return LocalLake(tmp_path / "lake")
    missing = [v for v in LAKEFS_VARS if not os.environ.get(v)]
    if missing:
        pytest.skip(f"no lakeFS server configured (set {', '.join(missing)})")
    return _lakefs_lake()
