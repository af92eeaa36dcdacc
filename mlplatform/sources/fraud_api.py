"""The client of the third-party fraud-report (chargeback) API.

A fraud becomes known only when its chargeback is reported, days after the transaction. The
provider serves reports by reporting time with bearer auth, cursor pagination and rate limiting
(429 with Retry-After). The client pages through them and retries what may pass (429, 5xx, network
errors, a body that is not the JSON expected) with exponential backoff, each wait capped and all of
them within one overall deadline; it stops on a page token it has seen before (a provider looping),
and every error names the endpoint. (The demo's stand-in provider is in mlplatform/demo.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

PATH = "/v1/fraud-reports"


class FraudApiError(RuntimeError):
    """The provider could not be read: the message names the endpoint and why."""


class FraudReportsClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        page_size: int = 500,
        attempts: int = 6,
        timeout: float = 10,
        deadline: float = 300,
        max_wait: float = 30,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}  # no token: none is sent
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.url = base_url.rstrip("/") + PATH
        self.page_size, self.attempts, self.timeout = page_size, attempts, timeout
        self.deadline, self.max_wait = deadline, max_wait
        self.requests = 0  # sent, retries included

    def close(self) -> None:
        self.http.close()

    def _get_page(self, params: dict[str, Any], until: float) -> dict[str, Any]:
        problem = ""
        for attempt in range(self.attempts):
            left = until - time.monotonic()
            if left <= 0:
                break
            self.requests += 1
            wait = min(0.05 * 2**attempt, 5.0)  # exponential backoff, unless the provider says how long
            try:
                response = self.http.get(PATH, params=params, timeout=min(self.timeout, left))
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                    wait = _retry_after(response.headers.get("Retry-After")) or wait
                elif response.status_code >= 400:  # 401, 403, 404, 422: retrying cannot help
                    raise FraudApiError(f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")
                else:
                    body = _page(response)
                    if body is not None:
                        return body
                    problem = f"not the expected JSON page: {response.text[:80]!r}"
            if attempt + 1 < self.attempts:
                time.sleep(max(0.0, min(wait, self.max_wait, until - time.monotonic())))
        if time.monotonic() >= until:
            raise FraudApiError(f"{self.url}: no complete answer within the {self.deadline:g} s deadline ({problem})")
        raise FraudApiError(f"{self.url}: gave up after {self.requests} requests ({problem})")

    def pages(self, reported_from: str, reported_to: str) -> Iterator[list[dict[str, Any]]]:
        until = time.monotonic() + self.deadline  # one deadline for every page and retry
        token: str | None = "0"
        seen: set[str] = set()
        while token is not None:
            if token in seen:
                raise FraudApiError(f"{self.url}: page token {token!r} came back twice (the provider loops)")
            seen.add(token)
            params = {"reported_from": reported_from, "reported_to": reported_to, "page_size": self.page_size}
            body = self._get_page({**params, "page_token": token}, until)
            yield body["data"]
            token = body.get("next_page_token")

    def fetch(self, reported_from: str, reported_to: str) -> list[dict[str, Any]]:
        return [item for page in self.pages(reported_from, reported_to) for item in page]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds, or an HTTP date); None when absent or unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds() if when.tzinfo else -1
    return seconds if seconds >= 0 else None


def _page(response: httpx.Response) -> dict[str, Any] | None:
    """The page, or None when the body is not a JSON object with a list of reports."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    token = body.get("next_page_token")
    return body if token is None or isinstance(token, str) else None
