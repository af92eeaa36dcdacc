"""Training the weekly MLP: the default batch size and learning rate against the ones before (512 at 1e-3).

Features are computed once for the 12 weeks from 2018-05-02 and the reference split (2018-07-25) of
evaluation.md; each week's model is trained on its training window with each setting, both seeds 0
and 1, and tested on its test window. Printed per setting: training seconds in all, mean epochs,
mean average precision over the 12 weeks (where a setting is chosen), the reference split's, and the
speed-up. Seed to seed, a week's AP moves by about 0.01: the settings are equal when their means
differ by less than that.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from mlplatform.config import handbook_path
from mlplatform.evaluate_file import features_and_labels, scored, split_rows
from mlplatform.evaluation import evaluate
from mlplatform.models import BATCH_SIZE, LEARNING_RATE, train_mlp
from mlplatform.training_sets import Split

SETTINGS: dict[str, tuple[int, float]] = {  # batch size, learning rate
    "before (512 at 1e-3)": (512, 1e-3),
    f"default ({BATCH_SIZE} at {LEARNING_RATE:g})": (BATCH_SIZE, LEARNING_RATE),
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
    for name, (batch_size, learning_rate) in SETTINGS.items():
        weekly: list[float] = []
        at_reference: list[float] = []
        epochs: list[int] = []
        spent = 0.0
        for seed in seeds:
            for split, train_rows, test_rows in data:
                started = time.perf_counter()
                model = train_mlp(train_rows, seed=seed, batch_size=batch_size, learning_rate=learning_rate)
                spent += time.perf_counter() - started
                ap = evaluate(scored(model, test_rows, split)).average_precision
                (at_reference if split.train_start == reference else weekly).append(ap)
                epochs.append(model.epochs_trained)
        seconds[name] = spent
        print(
            f"  {name:<24} {spent:6.1f} s training   {np.mean(epochs):5.1f} epochs   "
            f"AP: weeks {np.mean(weekly):.4f}, reference split {np.mean(at_reference):.4f}"
        )
    before, after = seconds.values()
    print(f"  the default trains {before / after:.1f}x faster")
