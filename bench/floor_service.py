"""The floor under /score_batch for bench/serving.py: the scorer's own HTTP stack (the BentoML service's
settings, the mounted API of serving/app.py with its validation and response encoding) with a scorer
that answers every transaction with a constant: no features, no store, no model, no scoring log."""

import bentoml

from mlplatform.scoring import TransactionIn
from serving.app import create_app
from serving.service import SETTINGS, keep_loaded_objects


class Constant:
    def score(self, items: list[TransactionIn]) -> list[dict[str, object]]:
        return [
            {"transaction_id": t["transaction_id"], "score": 0.0, "model_name": "floor", "model_version": "0"}
            for t in items
        ]


api = create_app()


@bentoml.service(name="floor", **SETTINGS)
@bentoml.asgi_app(api, path="/")
class Floor:
    def __init__(self) -> None:
        api.state.scorer = Constant()
        keep_loaded_objects()
