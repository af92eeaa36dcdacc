import time

import pandas as pd
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from mlplatform.demo import create_app, reports_from_labels, serve_in_thread
from mlplatform.sources.fraud_api import FraudApiError, FraudReportsClient


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
        with pytest.raises(FraudApiError, match=rf"{server.url}/v1/fraud-reports answered HTTP 401"):
            client.fetch("2018-04-01T00:00:00", "2018-05-01T00:00:00")
        client.close()
    finally:
        server.stop()
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
    with pytest.raises(FraudApiError, match=r"http://127.0.0.1:9/v1/fraud-reports: gave up after 3 requests"):
        client.fetch("a", "b")
    assert client.requests == 3


def serve(handler):
    """A provider whose /v1/fraud-reports answers as `handler(request, call number)` says."""
    calls = {"n": 0, "auth": []}
    app = FastAPI()

    @app.get("/v1/fraud-reports")
    def endpoint(request: Request):
        calls["n"] += 1
        calls["auth"].append(request.headers.get("authorization"))
        return handler(request, calls["n"])

    return serve_in_thread(app), calls


PAGE = {"data": [{"report_id": "cb-1"}], "next_page_token": None}


@pytest.mark.parametrize(
    "retry_after",
    ["Wed, 21 Oct 2015 07:28:00 GMT", "-5", "soon", "3600"],  # a date passed, negative, garbage, one hour
)
def test_odd_retry_after_values_wait_a_bounded_time(retry_after):
    server, calls = serve(lambda _, n: JSONResponse({}, 429, headers={"Retry-After": retry_after}) if n == 1 else PAGE)
    try:
        client = FraudReportsClient(server.url, "t", max_wait=0.5)
        started = time.monotonic()
        assert client.fetch("a", "b") == PAGE["data"]
        assert time.monotonic() - started < 3  # an hour's Retry-After is capped
    finally:
        server.stop()
    assert calls["n"] == 2


def test_a_body_that_is_not_json_is_retried():
    server, calls = serve(lambda _, n: HTMLResponse("<html>maintenance</html>") if n < 3 else PAGE)
    try:
        assert FraudReportsClient(server.url, "t").fetch("a", "b") == PAGE["data"]
    finally:
        server.stop()
    assert calls["n"] == 3


@pytest.mark.slow
def test_a_slow_provider_meets_one_overall_deadline():
    def slow(_, n):
        time.sleep(1)
        return {"data": [], "next_page_token": str(n)}  # a new page every time, each slow

    server, _ = serve(slow)
    try:
        client = FraudReportsClient(server.url, "t", timeout=5, deadline=2.5)
        started = time.monotonic()
        with pytest.raises(FraudApiError, match=r"within the 2.5 s deadline"):
            client.fetch("a", "b")
        assert time.monotonic() - started < 4
    finally:
        server.stop()


def test_a_page_token_that_repeats_stops_the_loop():
    server, calls = serve(lambda _, n: {"data": [{"report_id": f"cb-{n}"}], "next_page_token": "7"})
    try:
        with pytest.raises(FraudApiError, match="page token '7' came back twice"):
            FraudReportsClient(server.url, "t").fetch("a", "b")
    finally:
        server.stop()
    assert calls["n"] == 2


def test_without_a_token_no_credential_is_sent():
    server, calls = serve(lambda _, n: PAGE)
    try:
        FraudReportsClient(server.url, "").fetch("a", "b")
    finally:
        server.stop()
    assert calls["auth"] == [None]


@pytest.mark.slow  # starts the console script (~10 s of imports)
def test_the_fraud_api_command_accepts_the_configured_token(reports, tmp_path):
    """Issue 12's defect 7: `mlplatform fraud-api` accepted only a built-in token."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    exe = shutil.which("mlplatform", path=str(Path(sys.executable).parent))
    assert exe, "the mlplatform console script is not installed beside this Python"
    reports.to_parquet(tmp_path / "reports.parquet")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MLPLATFORM_HOME": str(tmp_path), "MLPLATFORM_FRAUD_API_TOKEN": "configured-secret"}
    args = [exe, "fraud-api", "--reports", str(tmp_path / "reports.parquet"), "--port", str(port)]
    server = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1/fraud-reports"
    params = {"reported_from": "2018-04-01T00:00:00", "reported_to": "2018-06-01T00:00:00"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                unauthorised = httpx.get(url, params=params)
                break
            except httpx.ConnectError:
                assert server.poll() is None and time.monotonic() < deadline, "fraud-api did not start"
                time.sleep(0.2)
        answer = httpx.get(url, params=params, headers={"Authorization": "Bearer configured-secret"})
    finally:
        server.terminate()
        printed = server.communicate(timeout=30)[0]
    assert unauthorised.status_code == 401
    assert answer.status_code == 200 and len(answer.json()["data"]) == 100
    assert "configured-secret" not in printed  # a configured secret is never echoed
