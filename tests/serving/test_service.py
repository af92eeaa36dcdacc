"""The scoring service as users run it: `mlplatform serve` (BentoML) in a subprocess, called over HTTP.

The champion is trained on the published data's week before the scored day and the online store holds
every transaction and chargeback before that day, so every served feature must equal the offline
(DuckDB) engine's, and every score the registered model's on those features.
"""

import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from assets.raw_sources import raw_scoring_logs
from mlplatform.config import Settings, handbook_path
from mlplatform.demo import ScoringSetup, prepare_scoring, request_bodies, wait_ready
from mlplatform.features.definitions import FRAUD
from mlplatform.tracking import Tracking, load_model, promote
from resources import build_resources
from tests.conftest import free_port, stop
from tests.models.test_tracking import register

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available"),
]
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REFERENCE_NAMES = {f.reference_name: f.name for f in FRAUD.features if f.name != "tx_amount"}


@dataclass
class Served:
    url: str
    settings: Settings
    setup: ScoringSetup
    process: subprocess.Popen
    logged: list[dict] = field(default_factory=list)  # every response, as the log must hold them

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("serving") / "home"
    settings = Settings.from_env({"MLPLATFORM_HOME": str(home)})
    setup = prepare_scoring(settings)
    port = free_port()
    env = {
        **os.environ,
        "MLPLATFORM_HOME": str(home),
        "MLPLATFORM_SERVING_TOKEN": TOKEN,
        "MLPLATFORM_CHAMPION_POLL_SECONDS": "0.5",
    }
    exe = shutil.which("mlplatform", path=str(Path(sys.executable).parent))
    log = open(home / "serve.log", "w")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen([exe, "serve", "--port", str(port), "--workers", "1"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
    except RuntimeError as error:
        pytest.fail(f"{error}: {(home / 'serve.log').read_text()[-3000:]}")
    yield Served(url, settings, setup, process)
    stop(process, log, grace=30)


def payload(row: pd.Series, **extra) -> dict:
    return {**request_bodies(row.to_frame().T)[0], **extra}


def assert_served_as_offline(served: Served, responses: list[dict], rows: pd.DataFrame) -> None:
    offline = served.setup.offline.set_index("transaction_id").loc[rows["transaction_id"]]
    served_features = pd.DataFrame([r["features"] for r in responses]).rename(columns=REFERENCE_NAMES)
    for name in REFERENCE_NAMES.values():
        np.testing.assert_array_equal(served_features[name].to_numpy(float), offline[name].to_numpy(float), name)
    model = load_model(Tracking.of(served.settings), served.setup.version)
    expected = model.score(offline.reset_index())
    np.testing.assert_allclose([r["score"] for r in responses], expected, rtol=0, atol=1e-6)


def test_health_and_metrics_are_open_and_scoring_needs_the_token(served):
    for path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(served.url + path).status_code == 200
    assert "bentoml_" in httpx.get(served.url + "/metrics").text  # BentoML's own Prometheus metrics
    tx = payload(served.setup.transactions.iloc[0])
    assert httpx.post(served.url + "/score", json=tx).status_code == 401
    assert httpx.post(served.url + "/score", json=tx, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_served_features_and_scores_equal_the_offline_ones(served):
    rows = served.setup.transactions.iloc[:200]
    responses = []
    with served.client() as client:
        for i, (_, row) in enumerate(rows.iterrows()):
            responses.append(client.post("/score", json=payload(row, return_features=True)).raise_for_status().json())
            if i % 20 == 19:  # a retry of an earlier request: the same answer, and it counts once
                again = client.post("/score", json=payload(rows.iloc[i - 7], return_features=True)).json()
                assert again == responses[i - 7]
                served.logged.append(again)
    served.logged += responses
    assert {r["model_version"] for r in responses} == {served.setup.version}
    assert_served_as_offline(served, responses, rows)


def test_a_batch_is_served_as_its_transactions_one_by_one(served):
    rows = served.setup.transactions.iloc[200:500]
    with served.client() as client:
        responses = client.post("/score_batch", json=[payload(r, return_features=True) for _, r in rows.iterrows()])
    assert responses.status_code == 200
    served.logged += responses.json()
    assert [r["transaction_id"] for r in responses.json()] == rows["transaction_id"].tolist()
    assert_served_as_offline(served, responses.json(), rows)


def test_bad_input_over_http_is_a_client_error(served):
    good = payload(served.setup.transactions.iloc[500])
    with served.client() as client:
        assert client.post("/score", json={k: v for k, v in good.items() if k != "tx_amount"}).status_code == 422
        assert client.post("/score", json={**good, "tx_amount": -1}).json()["fields"][0]["field"] == "tx_amount"
        assert client.post("/score", json={**good, "tx_datetime": "not a time"}).status_code == 422
        assert client.post("/score", content=b"{").status_code == 422
        assert client.post("/score_batch", content=b"[" + b"1," * (1 << 20) + b"1]").status_code == 413
        assert client.get("/score").status_code == 405


def test_a_new_champion_is_swapped_in_under_load_without_a_failed_request(served):
    rows = served.setup.transactions.iloc[500:]
    results: list[tuple[float, float, int, str]] = []  # sent, answered, status, version
    done = threading.Event()

    def load(offset: int) -> None:
        with served.client() as client:
            for _, row in itertools.cycle(list(rows.iloc[offset::4].iterrows())):
                if done.is_set():
                    return
                sent = time.monotonic()
                try:
                    response = client.post("/score", json=payload(row))
                    answer = response.json()
                    results.append((sent, time.monotonic(), response.status_code, answer.get("model_version", "")))
                    served.logged.append(answer)
                except httpx.HTTPError as error:
                    results.append((sent, time.monotonic(), 0, type(error).__name__))

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    tracking = Tracking.of(served.settings)
    newer, _, _ = register(tracking, "2018-04-25", served.setup.day, seed=11)  # decided later: the new champion
    promote(tracking, newer)
    promoted_at = time.monotonic()
    # The load goes on until a response names the new version (at most a minute), then a second more.
    while time.monotonic() - promoted_at < 60 and not any(r[3] == newer.version for r in list(results)):
        time.sleep(0.1)
    time.sleep(1)
    done.set()
    for t in threads:
        t.join()
    assert len(results) > 100
    assert [r for r in results if r[2] != 200] == []
    versions = [r[3] for r in sorted(results)]
    assert versions[0] == served.setup.version and versions[-1] == newer.version
    # Once a response names the new version, no request sent after it is answered by the old (one worker swaps
    # once; requests already in flight at the swap may still finish with the old one).
    swapped_at = min(answered for _, answered, _, v in results if v == newer.version)
    assert {v for sent, _, _, v in results if sent > swapped_at} == {newer.version}
    assert swapped_at - promoted_at < 30  # polled every 0.5 s, then loaded beside the old one (slack for a busy CI)


def test_every_scored_request_lands_in_raw_scoring_logs(served):
    stop(served.process, open(os.devnull, "w"), grace=30)  # noqa: SIM115 - a clean shutdown flushes the log
    result = materialize(
        [raw_scoring_logs],
        partition_key=served.setup.day,
        resources=build_resources(served.settings),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    accepted = result.output_for_node("raw_scoring_logs", "raw_scoring_logs")[served.setup.day]
    quarantined = result.output_for_node("raw_scoring_logs", "raw_scoring_logs_quarantine")[served.setup.day]
    assert len(quarantined) == 0
    assert len(accepted) == len(served.logged)  # one row per scored request, retries included
    by_request = accepted.sort_values("received_at").drop_duplicates("transaction_id", keep="last")
    scores = {r["transaction_id"]: r["score"] for r in served.logged}
    assert all(scores[t] == s for t, s in zip(by_request["transaction_id"], by_request["score"], strict=True))
    assert set(accepted["model_version"]) >= {served.setup.version}
    assert (accepted["latency_ms"] > 0).all() and accepted["features"].str.contains(
        "CUSTOMER_ID_NB_TX_1DAY_WINDOW"
    ).all()
