"""The service's HTTP API (a Starlette app the BentoML service mounts; see service.py for why).

POST /score          one transaction -> its score, the version that made it, and its features on request
POST /score_batch    a JSON list of transactions, scored in one model call
POST /labels         chargebacks as the provider reports them (a JSON list of {transaction_id, reported_at})
Bad input is a 4xx naming the field, never a 5xx: 422 for a missing, mistyped or out-of-range field or a
body that is not JSON, 413 for a body over 1 MiB, 401 without the bearer token when one is set. 503 while
no model has been promoted yet.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplatform.scoring import Label, NoChampion, Scorer, TransactionIn

MAX_BODY = 1 << 20  # bytes
MAX_BATCH = 10_000  # transactions in one /score_batch call
ONE = TypeAdapter(TransactionIn)
MANY = TypeAdapter(list[TransactionIn])
LABELS = TypeAdapter(list[Label])


class HTTPError(Exception):
    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers or {}


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _problem(error: ValidationError, prefix: str = "") -> HTTPError:
    """422 with each offending field named (`transaction_id`, or `[3].customer_id` in a batch)."""
    errors = []
    for e in error.errors(include_url=False, include_input=False):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
        errors.append({"field": prefix + where if where else prefix or "body", "message": e["msg"], "type": e["type"]})
    return HTTPError(422, {"error": "; ".join(f"{e['field']}: {e['message']}" for e in errors), "fields": errors})


async def _body(request: Request) -> bytes:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise HTTPError(413, {"error": f"body over {MAX_BODY} bytes"})
    chunks, size = [], 0
    async for chunk in request.stream():  # a chunked body is counted as it arrives
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPError(413, {"error": f"body over {MAX_BODY} bytes"})
        chunks.append(chunk)
    return b"".join(chunks)


def _authorized(request: Request) -> None:
    token: str = request.app.state.token
    if token and not secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
        raise HTTPError(401, {"error": "missing or invalid bearer token"}, {"WWW-Authenticate": "Bearer"})


async def _handle(request: Request, work) -> Response:
    try:
        _authorized(request)
        return _json(work(await _body(request)))
    except HTTPError as error:
        return _json(error.detail, error.status, error.headers)
    except NoChampion as error:
        return _json({"error": str(error)}, 503)


def _endpoint(adapter: TypeAdapter, act: Callable[[Scorer, Any], object]):
    """A POST endpoint: the body validated by `adapter` (422 naming the field), then `act` on the scorer."""

    async def endpoint(request: Request) -> Response:
        def work(body: bytes) -> object:
            try:
                value = adapter.validate_json(body)
            except ValidationError as error:
                raise _problem(error) from None
            return act(request.app.state.scorer, value)

        return await _handle(request, work)

    return endpoint


def _batch(scorer: Scorer, items: list[TransactionIn]) -> object:
    if not 0 < len(items) <= MAX_BATCH:
        raise HTTPError(422, {"error": f"body: a batch holds 1 to {MAX_BATCH} transactions, not {len(items)}"})
    return scorer.score(items)


def create_app(token: str = "") -> Starlette:
    """The API; `app.state.scorer` is set by whoever owns the scorer (the BentoML service, or a test)."""
    app = Starlette(
        routes=[
            Route("/score", _endpoint(ONE, lambda scorer, item: scorer.score([item])[0]), methods=["POST"]),
            Route("/score_batch", _endpoint(MANY, _batch), methods=["POST"]),
            Route(
                "/labels",
                _endpoint(LABELS, lambda scorer, reports: {"received": len(reports), "marked": scorer.label(reports)}),
                methods=["POST"],
            ),
        ]
    )
    app.state.token = token
    return app
