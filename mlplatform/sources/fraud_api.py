"""The client of the third-party fraud-report (chargeback) API.

A fraud becomes known only when its chargeback is reported, days after the transaction. The
provider serves reports by reporting time with bearer auth, cursor pagination and rate limiting
(429 with Retry-After); the client pages through them, retrying 429s, 5xx and network errors with
exponential backoff. (The demo's stand-in provider is in mlplatform/demo.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential


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
