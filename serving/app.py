"""The service's HTTP API (a Starlette app the BentoML service mounts; see service.py for why).

POST /score          one transaction -> its score, the version that made it, and its features on request
                     (requests that arrive together are scored in one call: see Coalescer)
POST /score_batch    a JSON list of transactions, scored in one model call
POST /labels         chargebacks as the provider reports them (a JSON list of {transaction_id, reported_at})
Bad input is a 4xx naming the field, never a 5xx: 422 for a missing, mistyped or out-of-range field or a
body that is not JSON, 413 for a body over 1 MiB, 401 without the bearer token when one is set. 503 while
no model has been promoted yet.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplatform.scoring import Label, NoChampion, Scorer, TransactionIn

MAX_BODY = 1 << 20  # bytes
MAX_BATCH = 10_000  # transactions in one /score_batch call
# Once a second, a worker closes the connection it answers on (`Connection: close`; the client reconnects).
# BentoML's workers share one listening socket, and a burst of new connections goes to whichever worker wakes
# first (bentoml/BentoML#5426): all on one, the other core idles for as long as they live. A reconnection is
# accepted by a worker waiting for work rather than by one busy scoring, so the connections spread over the
# workers within seconds (nginx's `keepalive_requests` and gRPC's connection age do the same). Once a second
# rather than every Nth response: /score at 16 connections lost 8 % closing every 100th (bench/serving.py).
RECONNECT_SECONDS = 1.0
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


def _endpoint(adapter: TypeAdapter, act: Callable[[State, Any], object]):
    """A POST endpoint: the body validated by `adapter` (422 naming the field), then `act` on the app's state
    (its result awaited if it is awaitable). A response closes its connection if the app's last to do so was
    `reconnect_seconds` ago or more."""

    async def endpoint(request: Request) -> Response:
        response = await _answer(request)
        state = request.app.state
        now = time.monotonic()
        if now >= state.reconnect_at:
            state.reconnect_at = now + state.reconnect_seconds
            response.headers["Connection"] = "close"
        return response

    async def _answer(request: Request) -> Response:
        try:
            _authorized(request)
            try:
                value = adapter.validate_json(await _body(request))
            except ValidationError as error:
                raise _problem(error) from None
            result = act(request.app.state, value)
            return _json(await result if inspect.isawaitable(result) else result)
        except HTTPError as error:
            return _json(error.detail, error.status, error.headers)
        except NoChampion as error:
            return _json({"error": str(error)}, 503)

    return endpoint


class Coalescer:
    """Single /score requests that arrive together, scored in one `Scorer.score` call: the first to arrive
    waits for the requests already read from other connections (one turn of the event loop), and all are
    scored as a batch is, in time order. Each keeps its own response and its own line in the scoring log.
    Under load, several requests share one store transaction, one model call and one feature computation:
    bench/serving.py's 16 connections, 3,130-3,276 requests/s against 2,161-2,263 scored one by one (p99
    12 ms against 17-18 ms; runs interleaved); one client alone waits for nobody (p50 0.77 ms either way)."""

    def __init__(self) -> None:
        self._waiting: list[tuple[TransactionIn, asyncio.Future]] = []
        self._since = 0.0

    async def score(self, scorer: Scorer, item: TransactionIn) -> object:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._waiting.append((item, done))
        if len(self._waiting) == 1:
            self._since = time.time()
            loop.call_soon(self._score_waiting, scorer)
        return await done

    def _score_waiting(self, scorer: Scorer) -> None:
        waiting, self._waiting = self._waiting, []
        try:
            results = scorer.score([item for item, _ in waiting], self._since, one_request_each=True)
        except Exception as error:  # each waiting request answers it (NoChampion: 503)
            for _, done in waiting:
                if not done.done():
                    done.set_exception(error)
            return
        for (_, done), result in zip(waiting, results, strict=True):
            if not done.done():  # not cancelled (its client gone)
                done.set_result(result)


async def _score(state: State, item: TransactionIn) -> object:
    coalescer: Coalescer = state.coalescer
    return await coalescer.score(state.scorer, item)


def _score_batch(state: State, items: list[TransactionIn]) -> object:
    if not 0 < len(items) <= MAX_BATCH:
        raise HTTPError(422, {"error": f"body: a batch holds 1 to {MAX_BATCH} transactions, not {len(items)}"})
    scorer: Scorer = state.scorer
    return scorer.score(items)


def _labels(state: State, reports: list[Label]) -> object:
    scorer: Scorer = state.scorer
    return {"received": len(reports), "marked": scorer.label(reports)}


def create_app(token: str = "", reconnect_seconds: float = RECONNECT_SECONDS) -> Starlette:
    """The API; `app.state.scorer` is set by whoever owns the scorer (the BentoML service, or a test)."""
    app = Starlette(
        routes=[
            Route("/score", _endpoint(ONE, _score), methods=["POST"]),
            Route("/score_batch", _endpoint(MANY, _score_batch), methods=["POST"]),
            Route("/labels", _endpoint(LABELS, _labels), methods=["POST"]),
        ]
    )
    app.state.token = token
    app.state.coalescer = Coalescer()
    app.state.reconnect_seconds = reconnect_seconds
    app.state.reconnect_at = time.monotonic() + reconnect_seconds
    return app
