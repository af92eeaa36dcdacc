import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.sources import source_db
from mlplatform.sources.ingest import ingest_transactions
from mlplatform.sources.landing import LocalLandingZone, S3LandingZone
from mlplatform.sources.replay import replay


@pytest.fixture(scope="module")
def two_days() -> pd.DataFrame:
    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    return pd.read_parquet(path, filters=[("TX_TIME_DAYS", "<", 2)])


def _roundtrip(zone, two_days):
    counts = replay(two_days, zone, ["2018-04-02", "2018-04-01"])
    assert zone.completed_days() == ["2018-04-01", "2018-04-02"]
    files = zone.day_files("2018-04-01")
    assert files[0] == "transactions/date=2018-04-01/part-00.ndjson"
    assert len(files) == 24
    result = ingest_transactions(zone, "2018-04-01", two_days["CUSTOMER_ID"].unique(), two_days["TERMINAL_ID"].unique())
    expected = two_days[two_days["TX_TIME_DAYS"] == 0].sort_values("TRANSACTION_ID")
    assert counts["2018-04-01"] == len(expected) == len(result.accepted)
    assert result.quarantined.empty
    got = result.accepted.sort_values("transaction_id", ignore_index=True)
    assert got["transaction_id"].tolist() == expected["TRANSACTION_ID"].tolist()
    assert got["tx_amount"].tolist() == expected["TX_AMOUNT"].tolist()
    assert (got["tx_datetime"].to_numpy() == expected["TX_DATETIME"].to_numpy()).all()


def test_replay_and_ingest_through_a_local_landing_zone(tmp_path, two_days):
    _roundtrip(LocalLandingZone(tmp_path), two_days)


@pytest.mark.services
@pytest.mark.slow
def test_replay_and_ingest_through_s3(s3_server, s3_bucket, two_days):
    zone = S3LandingZone(s3_bucket, "landing", client=s3_server["client"])
    _roundtrip(zone, two_days)
    # The prefix isolates the zone inside its bucket.
    keys = s3_server["client"].list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert all(k["Key"].startswith("landing/transactions/") for k in keys)


def _tables():
    customers = pd.DataFrame(
        {
            "CUSTOMER_ID": [0, 1],
            "x_customer_id": [1.0, 2.0],
            "y_customer_id": [3.0, 4.0],
            "mean_amount": [10.0, 20.0],
            "std_amount": [5.0, 10.0],
            "mean_nb_tx_per_day": [1.0, 2.0],
            "name": ["Ann", "Bob"],
            "email": ["a@x.org", "b@x.org"],
            "card_number": ["4000000000000002", "4000000000000010"],
        }
    )
    terminals = pd.DataFrame({"TERMINAL_ID": [0], "x_terminal_id": [5.0], "y_terminal_id": [6.0]})
    return source_db.profiles_to_tables(customers, terminals)


def _db_roundtrip(url):
    tables = _tables()
    source_db.load_tables(url, tables)
    source_db.load_tables(url, tables)  # reloading replaces, never duplicates
    back = source_db.read_table(url, source_db.CUSTOMERS)
    pd.testing.assert_frame_equal(back, tables[source_db.CUSTOMERS], check_dtype=False)
    assert len(source_db.read_table(url, source_db.TERMINALS)) == 1


def test_source_database_on_sqlite(tmp_path):
    _db_roundtrip(f"sqlite:///{tmp_path / 'source.db'}")


@pytest.mark.services
def test_source_database_on_postgresql(postgres_url):
    _db_roundtrip(postgres_url)
