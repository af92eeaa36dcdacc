"""ROC and precision-recall curves of scored test rows, drawn to PNG (headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def curves(labels: np.ndarray, scores: dict[str, np.ndarray], title: str) -> dict[str, bytes]:
    """`roc.png` and `precision_recall.png`, one line per model (name -> scores of the same rows)."""
    roc, ax_roc = plt.subplots(figsize=(5, 4))
    pr, ax_pr = plt.subplots(figsize=(5, 4))
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(labels, score)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, score):.3f})")
        precision, recall, _ = precision_recall_curve(labels, score)
        ax_pr.plot(recall, precision, label=f"{name} (AP {average_precision_score(labels, score):.3f})")
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC, {title}")
    ax_pr.set(xlabel="recall", ylabel="precision", title=f"Precision-recall, {title}")
    for ax in (ax_roc, ax_pr):
        ax.legend(loc="lower right" if ax is ax_roc else "upper right", fontsize=8)
    return {"roc.png": _png(roc), "precision_recall.png": _png(pr)}
