"""`mlplatform evaluate`: features, split, training and the protocol's metrics for any transactions file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlplatform.evaluation import Metrics, evaluate
from mlplatform.features import engines
from mlplatform.features.definitions import REFERENCE
from mlplatform.models import ModelKind, train
from mlplatform.training_sets import Split, build


@dataclass(frozen=True)
class Evaluation:
    metrics: Metrics
    predictions: pd.DataFrame  # transaction_id, score: one row per test transaction
    train_rows: int
    train_frauds: int


def evaluate_file(input_path: Path, split: Split, model: ModelKind = "mlp", seed: int = 0) -> Evaluation:
    """Computes the reference features with the platform's engine, builds the split, trains, scores."""
    history_start = pd.Timestamp(split.train_start) - REFERENCE.history
    tx = pd.read_parquet(input_path, filters=[("TX_DATETIME", ">=", history_start), ("TX_DATETIME", "<", split.end)])
    events = tx.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ]
    features = engines.compute(events, REFERENCE, since=pd.Timestamp(split.train_start))
    frauds = events.loc[events["tx_fraud"] == 1, ["transaction_id"]]
    # As in the protocol, a label counts as known once the delay period has passed.
    labels = frauds.assign(label=1, known_at=pd.Timestamp.min)
    rows = build(features, labels, split)
    train_rows, test_rows = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    if train_rows.empty or test_rows.empty or not train_rows["label"].any():
        first, last = (tx["TX_DATETIME"].min(), tx["TX_DATETIME"].max()) if len(tx) else ("none", "none")
        raise ValueError(
            f"{input_path} has {len(train_rows)} training rows ({int(train_rows['label'].sum())} frauds) and "
            f"{len(test_rows)} test rows for a split starting {split.train_start} (its transactions near it: "
            f"{first} .. {last}); choose a training start with frauds in the window and days after it"
        )
    scorer = train(model, train_rows, seed)
    scored = test_rows.assign(
        score=scorer.score(test_rows), day=(test_rows["tx_datetime"] - pd.Timestamp(split.train_start)).dt.days
    )
    return Evaluation(
        metrics=evaluate(scored),
        predictions=scored[["transaction_id", "score"]].reset_index(drop=True),
        train_rows=len(train_rows),
        train_frauds=int(train_rows["label"].sum()),
    )
