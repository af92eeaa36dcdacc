"""Scoring throughput on the full published dataset: the torch MLP and the logistic baseline.

Both are trained on the reference split; then every one of the 1.75M transactions' features is
scored in one pass (features computed beforehand, as batch predictions read them from the lake).
"""

import time
from datetime import date

import pandas as pd
import torch

from mlplatform.config import handbook_path
from mlplatform.features import duckdb_engine
from mlplatform.features.definitions import FRAUD
from mlplatform.models import MAX_EPOCHS, Scorer, train_logreg, train_mlp
from mlplatform.training_sets import Split, build


def main(quick: bool = False) -> None:
    tx = pd.read_parquet(handbook_path())
    events = tx.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ]
    features = duckdb_engine.compute(events, FRAUD)
    labels = events.loc[events["tx_fraud"] == 1, ["transaction_id"]].assign(label=1, known_at=pd.Timestamp.min)
    rows = build(features, labels, Split(date(2018, 7, 25)))
    train_rows = rows[rows["split"] == "train"]
    models: dict[str, Scorer] = {
        "logreg": train_logreg(train_rows),
        "mlp": train_mlp(train_rows, max_epochs=5 if quick else MAX_EPOCHS),
    }
    print(f"scoring {len(features):,} transactions on {torch.get_num_threads()} threads:")
    rates = {}
    for name, model in models.items():
        started = time.perf_counter()
        scores = model.score(features)
        seconds = time.perf_counter() - started
        rates[name] = len(scores) / seconds
        print(f"  {name:<7} {seconds:6.2f} s  {rates[name]:>12,.0f} tx/s")
    print(f"  the MLP scores at {rates['mlp'] / rates['logreg']:.1f}x the baseline's rate")
