"""Evaluation metrics of shared/docs/evaluation.md: AUC ROC, Average Precision and Card Precision@k."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


@dataclass(frozen=True)
class Metrics:
    auc_roc: float
    average_precision: float
    card_precision_at_100: float
    test_transactions: int
    test_frauds: int

    def rounded(self) -> dict[str, float | int]:
        """Every metric to 3 decimals, as the protocol reports them."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def card_precision_at_k(test: pd.DataFrame, k: int = 100) -> tuple[float, list[float]]:
    """Mean over test days of the share of fraudulent cards among the k highest-scored cards.

    `test` has `day`, `customer_id`, `label` and `score`. Per day, a card's score and label are the
    maxima over its transactions; cards found in the top k with a fraud on an earlier day are
    removed before ranking later days. Ties in score are broken by customer id, so it is repeatable.
    """
    detected: set[int] = set()
    per_day = []
    for _, day in test.groupby("day", sort=True):
        cards = day[~day["customer_id"].isin(detected)].groupby("customer_id")[["score", "label"]].max()
        top = cards.reset_index().sort_values(["score", "customer_id"], ascending=[False, True]).head(k)
        found = top.loc[top["label"] == 1, "customer_id"]
        per_day.append(len(found) / k)
        detected.update(int(c) for c in found)
    return (float(np.mean(per_day)) if per_day else 0.0), per_day


def evaluate(test: pd.DataFrame, k: int = 100) -> Metrics:
    """All protocol metrics for scored test rows (`day`, `customer_id`, `label`, `score`)."""
    labels, scores = test["label"].to_numpy(), test["score"].to_numpy()
    cp, _ = card_precision_at_k(test, k)
    return Metrics(
        auc_roc=float(roc_auc_score(labels, scores)),
        average_precision=float(average_precision_score(labels, scores)),
        card_precision_at_100=cp,
        test_transactions=len(test),
        test_frauds=int(labels.sum()),
    )
