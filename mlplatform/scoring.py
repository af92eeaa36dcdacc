"""Real-time scoring: a transaction in, its features from the online engine, the champion's score out.

The service (serving/) is HTTP around this. The champion is the registry's alias, watched: a new one
is loaded beside the one serving, then swapped in with one assignment, so no request fails and each
response names the version that scored it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, NotRequired, Protocol

import numpy as np
from pydantic import AfterValidator, BaseModel, Field, field_validator
from typing_extensions import TypedDict  # pydantic needs typing_extensions' TypedDict before Python 3.12

from mlplatform.config import Settings
from mlplatform.features.definitions import FRAUD, FeatureSet, RequestFeature
from mlplatform.features.online import OnlineEngine
from mlplatform.models import PortableModel
from mlplatform.online_store import Transactions, open_online_store
from mlplatform.scoring_log import FEATURE_NAMES, ScoringLog, Value
from mlplatform.sources.ingest import EARLIEST, LATEST, MAX_AMOUNT
from mlplatform.sources.landing import LandingZone, open_landing_zone
from mlplatform.tracking import CHAMPION, MODEL_NAME, Tracking, champion_version, load_model

log = logging.getLogger(__name__)
Id = Annotated[int, Field(strict=True, ge=0, le=2**63 - 1)]
# The range as datetimes: a comparison with a pandas Timestamp costs ~3 us, and each transaction makes two
# (validating a batch of 1,000 took 4.8 ms against 1.4 ms with these, measured here).
TIME_RANGE = (EARLIEST.to_pydatetime(), LATEST.to_pydatetime())
FOLLOW_SECONDS = 0.5  # how often a worker applies to its copy of the online store what the other workers wrote


def _in_range(value: datetime) -> datetime:
    utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if not TIME_RANGE[0] <= utc < TIME_RANGE[1]:
        raise ValueError(f"must be from {EARLIEST.date()} to before {LATEST.date()}")
    return utc


class TransactionIn(TypedDict):
    """One transaction to score (the fields a card processor emits; no label; other keys are ignored).
    Validated as a TypedDict, not a model: a batch of 1,000 in 1.9 ms against 5.0-5.5 ms (measured here)."""

    transaction_id: Id
    tx_datetime: Annotated[datetime, AfterValidator(_in_range)]  # ISO 8601; an offset is made UTC, a naive time is UTC
    customer_id: Id  # an unknown customer or terminal is a cold start (no history), not an error
    terminal_id: Id
    tx_amount: Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
    return_features: NotRequired[bool]


class Label(BaseModel):
    """A chargeback as the provider reports it."""

    transaction_id: Id
    reported_at: datetime

    @field_validator("reported_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclass(frozen=True)
class Champion:
    version: str
    model: PortableModel


class NoChampion(RuntimeError):
    """No version of the model has been promoted yet."""


class LiveModel:
    """The registry's champion, reloaded when the alias moves (`watch`); `current` is swapped atomically."""

    def __init__(self, tracking: Tracking) -> None:
        self.tracking = tracking
        self.current: Champion | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Loads the champion if the alias points elsewhere than the one serving; True if it changed."""
        try:
            version = champion_version(self.tracking)
        except Exception as error:  # the registry is unreachable: keep serving what we have
            log.debug("champion alias not readable: %s", error)
            return False
        if version is None or (self.current is not None and self.current.version == version):
            return False
        self.current = Champion(version, load_model(self.tracking, version))  # loaded beside, then one assignment
        log.info("serving %s version %s", MODEL_NAME, version)
        return True

    def watch(self, interval: float) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # a version that fails to load is not served; the next poll tries again
                    log.exception("could not load the new champion")

        self._thread = threading.Thread(target=loop, name="champion-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


class Models(Protocol):
    """Where a scorer's model comes from: `current` is read once per call."""

    current: Champion | None

    def stop(self) -> None: ...


class Scorer:
    def __init__(
        self,
        features: FeatureSet,
        engine: OnlineEngine,
        model: Models,
        landing_zone: LandingZone | None,
        log_flush_seconds: float = 1.0,
    ) -> None:
        """Every scored transaction is logged to `landing_zone` (if given), its files headed by the names of
        their features."""
        self.features = features
        self.engine = engine
        self.model = model
        # The reference features a response may return: all but the raw amount, which the request holds.
        reported = [
            (i, f.reference_name, f.dtype == "int64")
            for i, f in enumerate(features.features)
            if not (isinstance(f, RequestFeature) and f.transform == "identity")
        ]
        self.reported_names = [name for _, name, _ in reported]
        self.reported_columns = [i for i, _, _ in reported]
        self.reported_is_whole = [whole for _, _, whole in reported]
        # The log holds them as two arrays, the whole numbers' columns then the others', so that counts are
        # written as integers; its files' header names them in that order.
        logged = [[(i, name) for i, name, whole in reported if whole == w] for w in (True, False)]
        self._logged = [np.array([i for i, _ in part], dtype=np.intp) for part in logged]
        self.log = None
        if landing_zone is not None:
            header = {FEATURE_NAMES: [name for part in logged for _, name in part]}
            self.log = ScoringLog(landing_zone, log_flush_seconds, header=header)

    @classmethod
    def from_settings(cls, settings: Settings, model: Models | None = None, features: FeatureSet = FRAUD) -> Scorer:
        """The configured store and landing zone; by default the registry's champion, loaded now and watched."""
        store = open_online_store(settings.online_store, features)
        store.warm()  # before the service reports ready, not in its first request
        store.follow(FOLLOW_SECONDS)
        if model is None:
            model = LiveModel(Tracking.of(settings))
            model.refresh()
            model.watch(settings.champion_poll_seconds)
        zone = open_landing_zone(settings.landing_uri, settings.aws_endpoint_url)
        return cls(features, OnlineEngine(features, store), model, zone)

    def close(self) -> None:
        self.model.stop()
        if self.log is not None:
            self.log.close()
        self.engine.store.close()

    def score(
        self, items: list[TransactionIn], received: float | None = None, one_request_each: bool = False
    ) -> list[dict[str, object]]:
        """Scores the transactions in one model call (each also joins its customer's and terminal's history).
        The log gives them one request id, numbered, or with `one_request_each` an id each."""
        received = time.time() if received is None else received
        champion = self.model.current  # one version for the whole call
        if champion is None:
            raise NoChampion(f"no {MODEL_NAME} version has been promoted to {CHAMPION} yet")
        n = len(items)
        batch = Transactions(
            np.fromiter((t["transaction_id"] for t in items), np.int64, n),
            np.fromiter((_us(t["tx_datetime"]) for t in items), np.int64, n),
            np.fromiter((t["tx_amount"] for t in items), np.float64, n),
            {
                "customer_id": np.fromiter((t["customer_id"] for t in items), np.int64, n),
                "terminal_id": np.fromiter((t["terminal_id"] for t in items), np.int64, n),
            },
            np.zeros(n, dtype=np.int64),
        )
        values = self.engine.compute(batch)
        scores = champion.model.score_array(values[:, self._columns(tuple(champion.model.features))])
        latency_ms = round((time.time() - received) * 1000, 3)
        version = champion.version
        out: list[dict[str, object]] = [
            {"transaction_id": tx, "score": score, "model_name": MODEL_NAME, "model_version": version}
            for tx, score in zip(batch.transaction_id.tolist(), scores.tolist(), strict=True)
        ]
        asked = [k for k, item in enumerate(items) if item.get("return_features")]
        if asked:
            columns = {name: column[asked].tolist() for name, column in self._reported(values).items()}
            for j, k in enumerate(asked):
                out[k]["features"] = {name: column[j] for name, column in columns.items()}
        if self.log is not None:
            if n == 1 or one_request_each:
                request_ids = [uuid.uuid4().hex for _ in range(n)]
            else:
                request_id = uuid.uuid4().hex
                request_ids = [f"{request_id}-{i}" for i in range(n)]
            fields: dict[str, Value] = {
                "request_id": request_ids,
                "received_at": datetime.fromtimestamp(received, UTC).replace(tzinfo=None).isoformat(),
                "transaction_id": batch.transaction_id,
                "tx_datetime": batch.time_us.view("datetime64[us]"),
                "customer_id": batch.keys["customer_id"],
                "terminal_id": batch.keys["terminal_id"],
                "tx_amount": batch.amount,
                "features": (values[:, self._logged[0]].astype(np.int64), values[:, self._logged[1]]),
                "score": scores,
                "model_version": version,
                "latency_ms": latency_ms,
            }
            self.log.append(batch.time_us, fields)
        return out

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a few models' columns, for the scorer's lifetime
    def _columns(self, model_features: tuple[str, ...]) -> np.ndarray:
        """Where each of a model's input features is among the engine's columns."""
        return np.array([self.engine.names.index(name) for name in model_features])

    def _reported(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """The reported features' columns, in order: whole numbers as int64, the others float64."""
        return {
            name: values[:, i].astype(np.int64) if whole else values[:, i]
            for name, i, whole in zip(self.reported_names, self.reported_columns, self.reported_is_whole, strict=True)
        }

    def label(self, labels: list[Label]) -> int:
        ids = np.fromiter((x.transaction_id for x in labels), np.int64, len(labels))
        return self.engine.label(ids, np.fromiter((_us(x.reported_at) for x in labels), np.int64, len(labels)))


def _us(moment: datetime) -> int:
    """Microseconds since the epoch of a naive UTC datetime."""
    return (moment - datetime(1970, 1, 1)) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, microsecond=1) - datetime(1970, 1, 1)
