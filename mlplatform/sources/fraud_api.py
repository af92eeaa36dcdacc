"""The third-party fraud-report (chargeback) API: the demo's local server and the platform's client.

A fraud becomes known only when its chargeback is reported, days after the transaction. The
server serves reports by reporting time with bearer auth, cursor pagination and rate limiting
(429 with Retry-After); the client pages through them, retrying 429s, 5xx and network errors with
exponential backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

REPORT_COLUMNS = ["report_id", "transaction_id", "customer_id", "tx_datetime", "reported_at"]


def reports_from_labels(transactions: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One report per fraudulent transaction, reported 1 to ~30 days later (gamma-distributed, mean ~6 days)."""
    frauds = transactions.loc[transactions["TX_FRAUD"] == 1, ["TRANSACTION_ID", "CUSTOMER_ID", "TX_DATETIME"]]
    rng = np.random.default_rng(seed)
    delay_s = (86_400 * np.minimum(1 + rng.gamma(2.0, 2.5, size=len(frauds)), 30)).astype(np.int64)
    reported = frauds["TX_DATETIME"].to_numpy() + delay_s.astype("timedelta64[s]")
    out = pd.DataFrame(
        {
            "report_id": [f"cb-{t}" for t in frauds["TRANSACTION_ID"]],
            "transaction_id": frauds["TRANSACTION_ID"].to_numpy(),
            "customer_id": frauds["CUSTOMER_ID"].to_numpy(),
            "tx_datetime": frauds["TX_DATETIME"].to_numpy(),
            "reported_at": reported.astype("datetime64[s]"),
        }
    )
    return out.sort_values(["reported_at", "report_id"], ignore_index=True)


def create_app(reports: pd.DataFrame, token: str, max_page_size: int = 500, requests_per_second: float = 0) -> FastAPI:
    """The provider's API over `reports`; `requests_per_second` > 0 turns on rate limiting."""
    app = FastAPI(title="Chargeback reports (demo provider)")
    data = reports.sort_values(["reported_at", "report_id"], ignore_index=True)
    stamps = data["reported_at"].to_numpy()
    last_request = [0.0]
    lock = threading.Lock()

    @app.get("/v1/fraud-reports")
    def list_reports(
        reported_from: str = Query(..., description="inclusive ISO-8601 lower bound on reported_at"),
        reported_to: str = Query(..., description="exclusive ISO-8601 upper bound on reported_at"),
        page_size: int = Query(100, ge=1),
        page_token: int = Query(0, ge=0),
        authorization: str | None = Header(None),
    ) -> Any:
        if authorization != f"Bearer {token}":
            raise HTTPException(401, "missing or invalid bearer token")
        if requests_per_second > 0:
            with lock:
                now = time.monotonic()
                wait = last_request[0] + 1 / requests_per_second - now
                if wait > 0:
                    return JSONResponse({"detail": "rate limited"}, 429, headers={"Retry-After": f"{wait:.3f}"})
                last_request[0] = now
        try:
            lo, hi = np.datetime64(pd.Timestamp(reported_from)), np.datetime64(pd.Timestamp(reported_to))
        except ValueError as exc:
            raise HTTPException(422, f"reported_from/reported_to must be ISO-8601 timestamps: {exc}") from exc
        start, end = np.searchsorted(stamps, [lo, hi], side="left")
        size = min(page_size, max_page_size)
        first = int(start) + page_token
        page = data.iloc[first : min(first + size, int(end))]
        items = [
            {**row, "tx_datetime": row["tx_datetime"].isoformat(), "reported_at": row["reported_at"].isoformat()}
            for row in page.to_dict(orient="records")
        ]
        more = first + size < int(end)
        return {"data": items, "next_page_token": str(page_token + size) if more else None}

    return app


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Starts uvicorn on a background thread (port 0 = any free port) and waits until it listens."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (server.started and server.servers):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fraud-report API did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(url=f"http://{host}:{bound}", server=server, thread=thread)


class RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FraudReportsClient:
    def __init__(self, base_url: str, token: str, page_size: int = 500, attempts: int = 6, timeout: float = 10) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        self.page_size = page_size
        self.attempts = attempts
        self.requests = 0  # sent, retries included

    def close(self) -> None:
        self.http.close()

    def _get_page(self, params: dict[str, Any]) -> dict[str, Any]:
        backoff = wait_exponential(multiplier=0.05, max=5)

        def wait(state) -> float:
            exc = state.outcome.exception()
            hinted = getattr(exc, "retry_after", None)
            return hinted if hinted is not None else backoff(state)

        for attempt in Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, (RetryableError, httpx.TransportError))),
            wait=wait,
            stop=stop_after_attempt(self.attempts),
            reraise=True,
        ):
            with attempt:
                self.requests += 1
                response = self.http.get("/v1/fraud-reports", params=params)
                if response.status_code == 429:
                    raise RetryableError("rate limited", float(response.headers.get("Retry-After", "1")))
                if response.status_code >= 500:
                    raise RetryableError(f"server error {response.status_code}")
                response.raise_for_status()
                return response.json()
        raise AssertionError("unreachable")

    def pages(self, reported_from: str, reported_to: str) -> Iterator[list[dict[str, Any]]]:
        token: str | None = "0"
        while token is not None:
            body = self._get_page(
                {
                    "reported_from": reported_from,
                    "reported_to": reported_to,
                    "page_size": self.page_size,
                    "page_token": token,
                }
            )
            yield body["data"]
            token = body.get("next_page_token")

    def fetch(self, reported_from: str, reported_to: str) -> list[dict[str, Any]]:
        return [item for page in self.pages(reported_from, reported_to) for item in page]
