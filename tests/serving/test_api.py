"""The service's HTTP API in process (Starlette's test client): validation, limits, auth, cold start, retries.

The scorer is real (online engine over a real store, a trained model in its portable form, the scoring
log in a landing zone); only BentoML's process around it is left out (tests/serving/test_service.py
covers it over a real socket).
"""

import asyncio

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from starlette.testclient import TestClient

from mlplatform.features.definitions import FRAUD
from mlplatform.features.online import OnlineEngine
from mlplatform.models import FEATURES, PortableModel, train_mlp
from mlplatform.online_store import open_online_store
from mlplatform.scoring import Champion, Scorer
from mlplatform.sources.ingest import ingest_scoring_logs
from mlplatform.sources.landing import LocalLandingZone
from serving.app import MAX_BODY, create_app

TX = {"transaction_id": 1, "tx_datetime": "2018-05-10T08:00:00", "customer_id": 7, "terminal_id": 50, "tx_amount": 12.5}


class Fixed:
    """One model version, as the registry's watcher or a Bento provides it."""

    def __init__(self, champion: Champion | None) -> None:
        self.current = champion

    def stop(self) -> None:
        self.current = None


@pytest.fixture(scope="module")
def model() -> PortableModel:
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(rng.normal(size=(400, len(FEATURES))), columns=FEATURES)
    rows["label"] = (rows["tx_amount"] > 1).astype("int64")
    rows["transaction_id"], rows["tx_datetime"] = np.arange(400), pd.Timestamp("2018-04-04")
    trained = train_mlp(rows, max_epochs=2)
    return PortableModel(trained.module, trained.features)


def client(
    tmp_path, model, token: str = "", champion: bool = True, reconnect_seconds: float = 3600
) -> tuple[TestClient, Scorer]:
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}", FRAUD)
    zone = LocalLandingZone(tmp_path / "landing")
    champion_ = Fixed(Champion("7", model) if champion else None)
    scorer = Scorer(FRAUD, OnlineEngine(FRAUD, store), champion_, zone, log_flush_seconds=3600)
    app = create_app(token, reconnect_seconds)
    app.state.scorer = scorer
    return TestClient(app), scorer


def test_a_transaction_is_scored_with_the_version_and_features_on_request(tmp_path, model):
    api, scorer = client(tmp_path, model)
    plain = api.post("/score", json=TX)
    assert plain.status_code == 200
    body = plain.json()
    assert set(body) == {"transaction_id", "score", "model_name", "model_version"}
    assert body["model_version"] == "7" and 0 <= body["score"] <= 1
    with_features = api.post("/score", json={**TX, "transaction_id": 2, "return_features": True}).json()
    names = [f.reference_name for f in FRAUD.features if f.name != "tx_amount"]
    assert list(with_features["features"]) == names and len(names) == 21
    assert with_features["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2  # transaction 1 is in its history
    # The response's score is the model's for the features the response reports.
    row = {f.name: with_features["features"].get(f.reference_name, TX["tx_amount"]) for f in FRAUD.features}
    assert with_features["score"] == pytest.approx(model.score(pd.DataFrame([row]))[0], abs=1e-7)
    scorer.close()


def test_an_unknown_customer_and_terminal_are_a_cold_start(tmp_path, model):
    api, scorer = client(tmp_path, model)
    body = api.post("/score", json={**TX, "customer_id": 987_654, "terminal_id": 123_456, "return_features": True})
    assert body.status_code == 200
    features = body.json()["features"]
    assert features["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] == 1 and features["CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW"] == 12.5
    assert features["TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 0 and features["TERMINAL_ID_RISK_30DAY_WINDOW"] == 0
    scorer.close()


def test_a_retried_request_counts_once(tmp_path, model):
    api, scorer = client(tmp_path, model)
    first = api.post("/score", json={**TX, "return_features": True}).json()
    retried = api.post("/score", json={**TX, "return_features": True}).json()
    assert retried == first
    later = api.post(
        "/score", json={**TX, "transaction_id": 9, "tx_datetime": "2018-05-10T09:00:00", "return_features": True}
    )
    assert later.json()["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2  # 1 and 9, not 1 twice
    scorer.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in TX.items() if k != "customer_id"}, "customer_id"),
        ({**TX, "customer_id": "seven"}, "customer_id"),
        ({**TX, "transaction_id": 1.5}, "transaction_id"),
        ({**TX, "transaction_id": 2**63}, "transaction_id"),
        ({**TX, "terminal_id": -1}, "terminal_id"),
        ({**TX, "tx_amount": -3.0}, "tx_amount"),
        ({**TX, "tx_amount": "lots"}, "tx_amount"),
        ({**TX, "tx_datetime": "yesterday"}, "tx_datetime"),
        ({**TX, "tx_datetime": "9999-01-01T00:00:00"}, "tx_datetime"),
        ({**TX, "tx_datetime": "2099-12-31T23:00:00-02:00"}, "tx_datetime"),  # 2100-01-01T01:00 in UTC
        ({**TX, "tx_datetime": "2000-01-01T01:00:00+02:00"}, "tx_datetime"),  # 1999-12-31T23:00 in UTC
        ([TX], "body"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(tmp_path, model, body, field):
    api, scorer = client(tmp_path, model)
    response = api.post("/score", json=body)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == [field]
    assert response.json()["error"].startswith(f"{field}: ")
    scorer.close()


def test_malformed_and_oversized_bodies_are_client_errors(tmp_path, model):
    api, scorer = client(tmp_path, model)
    assert api.post("/score", content=b"{not json").status_code == 422
    assert api.post("/score", content=b"").status_code == 422
    assert api.post("/score", content=b"\xff\xfe").status_code == 422
    assert api.post("/score_batch", json=[]).status_code == 422
    bad = api.post("/score_batch", json=[TX, {**TX, "customer_id": None}])
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "[1].customer_id"
    huge = b"[" + b",".join([b'{"transaction_id": 1}'] * (MAX_BODY // 20)) + b"]"
    assert len(huge) > MAX_BODY and api.post("/score_batch", content=huge).status_code == 413
    chunked = api.post("/score_batch", content=iter([huge[: MAX_BODY // 2], huge[MAX_BODY // 2 :]]))
    assert chunked.status_code == 413  # no Content-Length: counted as it arrives
    scorer.close()


def test_a_token_guards_scoring_only_when_set(tmp_path, model):
    api, scorer = client(tmp_path, model, token="s3cret")
    assert api.post("/score", json=TX).status_code == 401
    assert api.post("/score", json=TX, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.post("/labels", json=[], headers={"Authorization": "Basic s3cret"}).status_code == 401
    assert api.post("/score", json=TX, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    scorer.close()


def test_a_response_closes_its_connection_once_per_interval(tmp_path, model):
    """So that clients reconnect and their connections spread over the workers (serving/app.py)."""
    api, scorer = client(tmp_path, model)
    assert "connection" not in api.post("/score", json=TX).headers  # within the interval: kept alive
    scorer.close()
    api, scorer = client(tmp_path / "due", model, reconnect_seconds=0)
    for i in range(3):  # each one due: every response, its score included, asks the client to reconnect
        response = api.post("/score_batch", json=[{**TX, "transaction_id": 10 + i}])
        assert response.status_code == 200 and response.headers["connection"] == "close"
        assert response.json()[0]["transaction_id"] == 10 + i
    scorer.close()


def test_without_a_champion_scoring_is_unavailable_not_an_error(tmp_path, model):
    api, scorer = client(tmp_path, model, champion=False)
    response = api.post("/score", json=TX)
    assert response.status_code == 503 and "promoted" in response.json()["error"]
    scorer.close()


def test_a_batch_is_scored_in_order_and_equals_single_requests(tmp_path, model):
    batch = [
        {**TX, "transaction_id": i, "tx_datetime": f"2018-05-10T08:00:{i:02d}", "customer_id": i % 3} for i in range(20)
    ]
    batch_api, batch_scorer = client(tmp_path / "batch", model)
    scored = batch_api.post("/score_batch", json=batch).json()
    single_api, single_scorer = client(tmp_path / "single", model)
    singles = [single_api.post("/score", json=tx).json() for tx in batch]
    assert [r["transaction_id"] for r in scored] == list(range(20))
    # One float32 rounding apart at most (a row alone or inside a matrix product).
    assert [r["score"] for r in scored] == pytest.approx([r["score"] for r in singles], abs=1e-6)
    batch_scorer.close()
    single_scorer.close()


def _concurrently(app, path: str, bodies: list[dict]) -> list[httpx.Response]:
    """The requests sent at once, as clients on separate connections do."""

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
            return await asyncio.gather(*(api.post(path, json=body) for body in bodies))

    return asyncio.run(send())


def test_single_requests_that_arrive_together_are_scored_in_one_call_each_its_own(tmp_path, model):
    batch = [
        {**TX, "transaction_id": i, "tx_datetime": f"2018-05-10T08:00:{i:02d}", "customer_id": i % 3} for i in range(8)
    ]
    batch[5] = {**batch[5], "return_features": True}
    api, scorer = client(tmp_path / "together", model)
    calls: list[int] = []
    score = scorer.score
    scorer.score = lambda items, *args, **kwargs: calls.append(len(items)) or score(items, *args, **kwargs)  # type: ignore[method-assign]
    responses = _concurrently(api.app, "/score", batch[::-1])  # sent latest first: scored in time order
    assert calls == [8]
    bodies = [r.json() for r in responses][::-1]
    assert [r.status_code for r in responses] == [200] * 8
    assert [b["transaction_id"] for b in bodies] == list(range(8))
    assert ["features" in b for b in bodies] == [i == 5 for i in range(8)]
    assert bodies[5]["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2  # transactions 2 and 5 of customer 2
    batch_api, batch_scorer = client(tmp_path / "batch", model)
    as_batch = batch_api.post("/score_batch", json=batch).json()
    assert [b["score"] for b in bodies] == [b["score"] for b in as_batch]
    scorer.close()  # flushes the log: a line and a request id each
    logged = ingest_scoring_logs(LocalLandingZone(tmp_path / "together" / "landing"), "2018-05-10").accepted
    assert sorted(logged["transaction_id"]) == list(range(8)) and logged["request_id"].nunique() == 8
    batch_scorer.close()


def test_requests_waiting_together_without_a_champion_are_each_unavailable(tmp_path, model):
    api, scorer = client(tmp_path, model, champion=False)
    responses = _concurrently(api.app, "/score", [{**TX, "transaction_id": i} for i in range(3)])
    assert [r.status_code for r in responses] == [503] * 3
    scorer.close()


def test_chargebacks_reported_in_time_mark_the_terminal(tmp_path, model):
    api, scorer = client(tmp_path, model)
    api.post("/score", json={**TX, "tx_datetime": "2018-05-01T08:00:00"})
    marked = api.post(
        "/labels",
        json=[
            {"transaction_id": 1, "reported_at": "2018-05-03T00:00:00Z"},
            {"transaction_id": 404, "reported_at": "2018-05-03T00:00:00"},
        ],
    )
    assert marked.json() == {"received": 2, "marked": 1}
    later = api.post(
        "/score",
        json={
            **TX,
            "transaction_id": 5,
            "customer_id": 8,
            "tx_datetime": "2018-05-08T09:00:00",
            "return_features": True,
        },
    )
    assert later.json()["features"]["TERMINAL_ID_RISK_1DAY_WINDOW"] == 1.0
    assert api.post("/labels", json=[{"transaction_id": 1}]).status_code == 422
    scorer.close()


def test_every_scored_request_is_logged_its_features_named_by_its_files_header(tmp_path, model):
    api, scorer = client(tmp_path, model)
    body = {**TX, "return_features": True}
    responses = [api.post("/score", json={**body, "transaction_id": i}).json() for i in range(3)]
    responses += api.post("/score_batch", json=[{**body, "transaction_id": i} for i in range(3, 20)]).json()
    scorer.close()  # flushes the log
    zone = LocalLandingZone(tmp_path / "landing")
    logged = []
    for key in zone.day_files("2018-05-10", "scoring_logs"):
        header, *lines = (orjson.loads(line) for line in zone.get(key).splitlines())
        names = header["feature_names"]
        assert set(header) == {"feature_names"} and sorted(names) == sorted(responses[0]["features"])
        logged += [{**line, "features": dict(zip(names, line["features"], strict=True))} for line in lines]
    assert [line["transaction_id"] for line in logged] == list(range(20))
    assert [line["score"] for line in logged] == [r["score"] for r in responses]
    assert [line["features"] for line in logged] == [r["features"] for r in responses]
    assert all(type(line["features"]["CUSTOMER_ID_NB_TX_7DAY_WINDOW"]) is int for line in logged)  # counts as integers
    assert len({line["request_id"] for line in logged}) == 20 and {line["model_version"] for line in logged} == {"7"}
    assert set(logged[0]) >= {"received_at", "latency_ms", "tx_amount", "customer_id", "terminal_id", "tx_datetime"}
