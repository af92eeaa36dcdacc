"""The fraud scorer as one BentoML service: `bentoml serve serving.service:FraudScorer` (or `mlplatform serve`).

Its endpoints are the Starlette app of serving/app.py, mounted on the service: a mounted app answers
2.7x the requests of BentoML's own @bentoml.api endpoints here (bench/serving.py) and returns 422 for
invalid input as HTTP says (BentoML's own validation answers 400). BentoML supplies the process model
(workers), /livez, /readyz (true once the champion is loaded and the store replayed) and /metrics
(Prometheus). Per-request tracing and access logs are off: they cost more than scoring does. The scoring
paths are excluded from BentoML's OpenTelemetry middleware, which runs even at a sample rate of 0:
measured here on a mounted app that does nothing, 3,200-3,500 requests/s with it, 7,000-8,800 without.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import bentoml
import torch
from pydantic import BaseModel, Field

from mlplatform import telemetry
from mlplatform.bentos import MODEL
from mlplatform.config import Settings
from mlplatform.models import PortableModel
from mlplatform.scoring import Champion, Scorer
from mlplatform.tracking import FEATURE_NAMES
from serving.app import create_app


class Arguments(BaseModel):
    """`bentoml serve ... --arg workers=N`."""

    # One process per core (measured here on 2 cores, bench/serving.py's load: 2,650-2,700 requests/s with
    # 2 workers against 2,340-2,600 with 3; one more than cores paid only while tracing took a third of a request).
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)


arguments = bentoml.use_arguments(Arguments)
# Loaded from a built Bento, this file is <bento>/src/serving/service.py, beside the Bento's bento.yaml.
FROM_A_BENTO = (Path(__file__).resolve().parents[2] / "bento.yaml").exists()
api = create_app()


# The service's settings; bench/floor_service.py serves the same API on them with nothing to score.
SETTINGS: dict[str, Any] = {
    "workers": arguments.workers,
    "traffic": {"timeout": 30},
    "logging": {"access": {"enabled": False}},
    "tracing": {"sample_rate": 0.0, "excluded_urls": ["/score", "/labels"]},
}


def keep_loaded_objects() -> None:
    """What is loaded now lives as long as the worker: keep it out of every collection, and collect the
    young generation less often (a request allocates many short-lived objects)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@bentoml.service(name="fraud_scorer", **SETTINGS)
@bentoml.asgi_app(api, path="/")
class FraudScorer:
    def __init__(self) -> None:
        telemetry.off()
        # The workers share the cores: torch's own threads on top only contend (measured here, a batch of
        # 1,000 through the model while the other core was busy: 2.2-2.6 ms on 2 threads, 0.65 ms on 1).
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // arguments.workers))
        settings = Settings.from_env()
        # A built Bento serves the model packaged with it; `mlplatform serve` serves the registry's champion.
        bundled = settings.serving_model == "bento" or (settings.serving_model == "auto" and FROM_A_BENTO)
        self.scorer = Scorer.from_settings(settings, BundledModel() if bundled else None)
        api.state.scorer = self.scorer
        api.state.token = settings.serving_token
        keep_loaded_objects()

    def __is_ready__(self) -> bool:
        return self.scorer.model.current is not None

    @bentoml.on_shutdown
    def close(self) -> None:
        self.scorer.close()


class BundledModel:
    """The model packaged in the Bento (mlplatform/bentos.py): fixed, so there is nothing to watch."""

    def __init__(self) -> None:
        packaged = bentoml.models.get(f"{MODEL}:latest")
        module = torch.export.load(packaged.path_of("model.pt2")).module()
        metadata = packaged.info.metadata
        features = [str(name) for name in metadata[FEATURE_NAMES]]  # type: ignore[union-attr]  # a list
        self.current: Champion | None = Champion(str(metadata["mlflow_version"]), PortableModel(module, features))

    def stop(self) -> None:
        """Nothing runs in the background."""
