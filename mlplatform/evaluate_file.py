"""`mlplatform evaluate`: features, split, training and the protocol's metrics for any transactions file,
on one split or week after week (the Handbook's prequential protocol, its chapter 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from mlplatform.evaluation import Metrics, evaluate
from mlplatform.features import engines
from mlplatform.features.definitions import FRAUD
from mlplatform.models import ModelKind, Scorer, train
from mlplatform.training_sets import Split, build


@dataclass(frozen=True)
class Evaluation:
    metrics: Metrics
    predictions: pd.DataFrame  # transaction_id, score: one row per test transaction
    train_rows: int
    train_frauds: int


@dataclass(frozen=True)
class Week:
    """One split of a prequential evaluation: the model and the protocol's baseline on the same rows."""

    split: Split
    model: Metrics
    baseline: Metrics

    @property
    def beats_baseline(self) -> bool:
        return self.model.average_precision > self.baseline.average_precision


def features_and_labels(input_path: Path, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The platform's features of every transaction from `start` to before `end` (the history before `start`
    read too), and the labels, each known once the protocol's delay has passed."""
    tx = pd.read_parquet(input_path, filters=[("TX_DATETIME", ">=", start - FRAUD.history), ("TX_DATETIME", "<", end)])
    events = tx.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ]
    features = engines.compute(events, FRAUD, since=start)
    labels = events.loc[events["tx_fraud"] == 1, ["transaction_id"]].assign(label=1, known_at=pd.Timestamp.min)
    return features, labels


def split_rows(input_path: Path, features: pd.DataFrame, labels: pd.DataFrame, split: Split):
    rows = build(features, labels, split)
    train_rows, test_rows = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    if train_rows.empty or test_rows.empty or not train_rows["label"].any():
        times = features["tx_datetime"]
        first, last = (times.min(), times.max()) if len(times) else ("none", "none")
        raise ValueError(
            f"{input_path} has {len(train_rows)} training rows ({int(train_rows['label'].sum())} frauds) and "
            f"{len(test_rows)} test rows for a split starting {split.train_start} (its transactions near it: "
            f"{first} .. {last}); choose a training start with frauds in the window and days after it"
        )
    return train_rows, test_rows


def scored(scorer: Scorer, test_rows: pd.DataFrame, split: Split) -> pd.DataFrame:
    return test_rows.assign(
        score=scorer.score(test_rows), day=(test_rows["tx_datetime"] - pd.Timestamp(split.train_start)).dt.days
    )


def evaluate_file(input_path: Path, split: Split, model: ModelKind = "mlp", seed: int = 0) -> Evaluation:
    """Computes the platform's features with its engine, builds the split, trains, scores."""
    features, labels = features_and_labels(input_path, pd.Timestamp(split.train_start), split.end)
    train_rows, test_rows = split_rows(input_path, features, labels, split)
    test = scored(train(model, train_rows, seed), test_rows, split)
    return Evaluation(
        metrics=evaluate(test),
        predictions=test[["transaction_id", "score"]].reset_index(drop=True),
        train_rows=len(train_rows),
        train_frauds=int(train_rows["label"].sum()),
    )


def complete_weeks(input_path: Path, first: Split) -> int:
    """How many splits like `first`, from it a week apart, end within the file's days."""
    last = pd.read_parquet(input_path, columns=["TX_DATETIME"])["TX_DATETIME"].max()
    days = (last.normalize() + pd.Timedelta(days=1) - pd.Timestamp(first.train_start)).days
    span = first.train_days + first.delay_days + first.test_days
    return max(0, (days - span) // 7 + 1)


def prequential(input_path: Path, first: Split, weeks: int, model: ModelKind = "mlp", seed: int = 0) -> list[Week]:
    """`first` and the `weeks - 1` splits after it, each a week later: features computed once for them all,
    then per split the model and the logistic baseline trained on its window and tested on its test days."""
    splits = [
        Split(first.train_start + timedelta(days=7 * k), first.train_days, first.delay_days, first.test_days)
        for k in range(weeks)
    ]
    features, labels = features_and_labels(input_path, pd.Timestamp(first.train_start), splits[-1].end)
    out = []
    for split in splits:
        train_rows, test_rows = split_rows(input_path, features, labels, split)
        metrics = {
            kind: evaluate(scored(train(kind, train_rows, seed), test_rows, split)) for kind in (model, "logreg")
        }
        out.append(Week(split, metrics[model], metrics["logreg"]))
    return out
