"""Charts drawn to PNG (headless): ROC and precision-recall curves of scored test rows, bars and trends."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
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


def bars(values: dict[str, float], threshold: float, title: str) -> bytes:
    """A horizontal bar per name (e.g. each feature's PSI), the threshold drawn as a line; PNG."""
    figure, ax = plt.subplots(figsize=(5, 0.25 * len(values) + 1))
    names = list(values)
    heights = [values[n] for n in names]
    ax.barh(names, heights, color=["tab:red" if v > threshold else "tab:blue" for v in heights])
    ax.axvline(threshold, color="grey", linestyle=":")
    ax.invert_yaxis()
    ax.set(title=title)
    ax.tick_params(labelsize=7)
    return _png(figure)


def trend(frame: pd.DataFrame, title: str, threshold: float | None = None) -> bytes:
    """One line per column of `frame` (indexed by day); PNG."""
    figure, ax = plt.subplots(figsize=(6, 3))
    for column in frame.columns:
        ax.plot(pd.to_datetime(frame.index), frame[column], marker=".", label=str(column))
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle=":")
    ax.set(title=title)
    ax.tick_params(labelsize=7)
    figure.autofmt_xdate()
    if len(frame.columns) <= 8:
        ax.legend(fontsize=7)
    return _png(figure)
