"""Training the weekly MLP: the default settings against the ones before them.

Settings: the default; the default with torch's own dropout layer (`nn.Dropout`, the layer before
`RandDropout`); the default without the customer's habit and its ratios (the features before them); the
default without the tree-binned encoding (`BINS`); the default with frauds weighted up in the loss
(`CLASS_WEIGHT`, the setting before); and the batch size and learning rate before those (512 at 1e-3, no
bins, weighted, torch's dropout). Features are computed once for the 12 weeks from
2018-05-02 and the reference split (2018-07-25) of evaluation.md; each week's model is trained on its
training window with each setting, both seeds 0 and 1, and tested on its test window. Printed per
setting: training seconds in all, mean epochs, the mean AUC ROC, average precision and CP@100 over the
12 weeks (where a setting is chosen) and the reference split's AP, and the speed-up against the
first. Seed to seed, a week's AP moves by about 0.01; the bins were chosen on 22 paired runs (11 weeks,
2 seeds), where their +0.008 AP was higher in 15.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
import pandas as pd
from torch import nn

from mlplatform.config import handbook_path
from mlplatform.evaluate_file import features_and_labels, scored, split_rows
from mlplatform.evaluation import Metrics, evaluate
from mlplatform.features.definitions import FRAUD, HABIT
from mlplatform.models import BATCH_SIZE, BINS, CLASS_WEIGHT, FEATURES, LEARNING_RATE, RandDropout, train_mlp
from mlplatform.training_sets import Split

# The platform's features without the customer's habit and the ratios to it.
WITHOUT_HABIT = tuple(f.name for f in FRAUD.features if HABIT.name not in (f.name, getattr(f, "denominator", "")))
ALL = tuple(FEATURES)
Setting = tuple[int, float, int, bool, tuple[str, ...], type[nn.Module]]
# batch size, learning rate, bins, class weight, features, dropout layer
SETTINGS: dict[str, Setting] = {
    "before (512 at 1e-3, weighted)": (512, 1e-3, 0, True, WITHOUT_HABIT, nn.Dropout),
    "default with torch's dropout": (BATCH_SIZE, LEARNING_RATE, BINS, CLASS_WEIGHT, ALL, nn.Dropout),
    "default, weighted": (BATCH_SIZE, LEARNING_RATE, BINS, True, ALL, RandDropout),
    "default without bins": (BATCH_SIZE, LEARNING_RATE, 0, CLASS_WEIGHT, ALL, RandDropout),
    "default without the habit": (BATCH_SIZE, LEARNING_RATE, BINS, CLASS_WEIGHT, WITHOUT_HABIT, RandDropout),
    f"default ({BATCH_SIZE} at {LEARNING_RATE:g}, {BINS} bins)": (
        BATCH_SIZE,
        LEARNING_RATE,
        BINS,
        CLASS_WEIGHT,
        ALL,
        RandDropout,
    ),
}


def main(quick: bool = False) -> None:
    first, reference = date(2018, 5, 2), date(2018, 7, 25)
    weeks = 2 if quick else 12
    splits = [Split(first + timedelta(days=7 * k)) for k in range(weeks)] + [Split(reference)]
    seeds = [0] if quick else [0, 1]
    path = handbook_path()
    features, labels = features_and_labels(path, pd.Timestamp(first), splits[-1].end)
    data = [(split, *split_rows(path, features, labels, split)) for split in splits]
    print(f"the weekly MLP, {weeks} weeks from {first} and the reference split {reference}, seeds {seeds}:")
    seconds: dict[str, float] = {}
    for name, (batch_size, learning_rate, bins, weighted, features, dropout_layer) in SETTINGS.items():
        weekly: list[Metrics] = []
        at_reference: list[float] = []
        epochs: list[int] = []
        spent = 0.0
        for seed in seeds:
            for split, train_rows, test_rows in data:
                started = time.perf_counter()
                model = train_mlp(
                    train_rows,
                    seed=seed,
                    batch_size=batch_size,
                    learning_rate=learning_rate,
                    bins=bins,
                    class_weight=weighted,
                    features=features,
                    dropout_layer=dropout_layer,
                )
                spent += time.perf_counter() - started
                metrics = evaluate(scored(model, test_rows, split))
                if split.train_start == reference:
                    at_reference.append(metrics.average_precision)
                else:
                    weekly.append(metrics)
                epochs.append(model.epochs_trained)
        seconds[name] = spent
        means = {m: np.mean([getattr(w, m) for w in weekly]) for m in ("auc_roc", "average_precision")}
        cp = np.mean([w.card_precision_at_100 for w in weekly])
        print(
            f"  {name:<32} {spent:6.1f} s training ({seconds[next(iter(seconds))] / spent:.1f}x the first)  "
            f"{np.mean(epochs):5.1f} epochs  weeks: AUC {means['auc_roc']:.4f} AP {means['average_precision']:.4f} "
            f"CP@100 {cp:.4f}  reference split AP {np.mean(at_reference):.4f}",
            flush=True,
        )
