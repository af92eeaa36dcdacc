import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from mlplatform.demo import create_app, reports_from_labels, serve_in_thread
from mlplatform.sources.fraud_api import FraudReportsClient


@pytest.fixture(scope="module")
def reports() -> pd.DataFrame:
    tx = pd.DataFrame(
        {
            "TRANSACTION_ID": range(300),
            "CUSTOMER_ID": [i % 7 for i in range(300)],
            "TX_DATETIME": pd.date_range("2018-04-01", periods=300, freq="17min"),
            "TX_FRAUD": [1 if i % 3 == 0 else 0 for i in range(300)],
        }
    )
    return reports_from_labels(tx)


def test_reports_arrive_days_after_the_fraud(reports):
    delay = reports["reported_at"] - reports["tx_datetime"]
    assert len(reports) == 100
    assert (delay >= pd.Timedelta(days=1)).all() and (delay <= pd.Timedelta(days=30)).all()
    assert reports["reported_at"].is_monotonic_increasing


def test_client_pages_through_every_report_despite_rate_limiting(reports):
    server = serve_in_thread(create_app(reports, token="s3cret", requests_per_second=20))
    try:
        client = FraudReportsClient(server.url, "s3cret", page_size=7)
        got = client.fetch("2018-04-01T00:00:00", "2018-06-01T00:00:00")
        client.close()
    finally:
        server.stop()
    assert sorted(r["report_id"] for r in got) == sorted(reports["report_id"])
    pages = -(-len(reports) // 7)
    # Pages came back rate limited (429) and were retried after Retry-After.
    assert client.requests > pages


def test_window_bounds_are_half_open(reports):
    server = serve_in_thread(create_app(reports, token="t"))
    try:
        client = FraudReportsClient(server.url, "t")
        first = reports["reported_at"].iloc[0].isoformat()
        got = client.fetch("2018-01-01T00:00:00", first)
        client.close()
    finally:
        server.stop()
    assert all(r["reported_at"] < first for r in got)


def test_bad_token_is_rejected_with_401(reports):
    server = serve_in_thread(create_app(reports, token="right"))
    try:
        client = FraudReportsClient(server.url, "wrong")
        with pytest.raises(httpx.HTTPStatusError) as err:
            client.fetch("2018-04-01T00:00:00", "2018-05-01T00:00:00")
        client.close()
    finally:
        server.stop()
    assert err.value.response.status_code == 401
    assert client.requests == 1  # auth errors are not retried


def test_transient_server_errors_are_retried_with_backoff():
    calls = {"n": 0}
    app = FastAPI()

    @app.get("/v1/fraud-reports")
    def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            return JSONResponse({"detail": "upstream down"}, 503)
        return {"data": [{"report_id": "cb-1"}], "next_page_token": None}

    server = serve_in_thread(app)
    try:
        client = FraudReportsClient(server.url, "t")
        assert client.fetch("a", "b") == [{"report_id": "cb-1"}]
        client.close()
    finally:
        server.stop()
    assert calls["n"] == 3


def test_a_dead_server_fails_after_bounded_retries():
    client = FraudReportsClient("http://127.0.0.1:9", "t", attempts=3)
    with pytest.raises(httpx.TransportError):
        client.fetch("a", "b")
    assert client.requests == 3
