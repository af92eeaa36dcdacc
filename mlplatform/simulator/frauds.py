"""Fraud scenarios (simulator.md §5), vectorised over day slices of the time-sorted table."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pandas as pd

from mlplatform.arrays import stable_argsort

# Draws `k` distinct ids out of `population` for a given day.
Picker = Callable[[int, int, int], np.ndarray]
# Picks k of the candidate row positions for a given day.
RowSampler = Callable[[int, np.ndarray, int], np.ndarray]


def pandas_sample_picker(day: int, population: int, k: int) -> np.ndarray:
    """What pandas `Series.sample(n=k, random_state=day)` picks from a 0..population-1 id range."""
    return np.random.RandomState(day).permutation(population)[:k]


def python_random_sampler(day: int, rows: np.ndarray, k: int) -> np.ndarray:
    """What `random.seed(day); random.sample(rows, k)` picks (the published code)."""
    return np.asarray(random.Random(day).sample(list(rows), k=k), dtype=np.int64)


def add_frauds(
    tx: pd.DataFrame,
    n_customers: int,
    n_terminals: int,
    *,
    terminals_per_day: int = 2,
    cards_per_day: int = 3,
    pick: Picker = pandas_sample_picker,
    sample_rows: RowSampler = python_random_sampler,
) -> pd.DataFrame:
    """Labels `tx` (sorted by time, index = TRANSACTION_ID) with the three fraud scenarios, in place."""
    days = tx["TX_TIME_DAYS"].to_numpy()
    terminal = tx["TERMINAL_ID"].to_numpy()
    customer = tx["CUSTOMER_ID"].to_numpy()
    amount = tx["TX_AMOUNT"].to_numpy(copy=True)
    fraud = np.zeros(len(tx), dtype=np.int64)
    scenario = np.zeros(len(tx), dtype=np.int64)

    rule = amount > 220
    fraud[rule], scenario[rule] = 1, 1

    last_day = int(days.max()) if len(tx) else 0

    def day_slice(first: int, length: int) -> slice:
        lo, hi = np.searchsorted(days, [first, first + length], side="left")
        return slice(int(lo), int(hi))

    at_terminal = _RowsByKey(terminal, n_terminals)
    for day in range(last_day):
        window = day_slice(day, 28)
        hit = at_terminal.rows(pick(day, n_terminals, terminals_per_day), window)
        fraud[hit], scenario[hit] = 1, 2

    of_customer = _RowsByKey(customer, n_customers)
    for day in range(last_day):
        window = day_slice(day, 14)
        candidates = of_customer.rows(pick(day, n_customers, cards_per_day), window)
        chosen = sample_rows(day, candidates, len(candidates) // 3)
        amount[chosen] = amount[chosen] * 5
        fraud[chosen], scenario[chosen] = 1, 3

    tx["TX_AMOUNT"] = amount
    tx["TX_FRAUD"] = fraud
    tx["TX_FRAUD_SCENARIO"] = scenario
    return tx


class _RowsByKey:
    """Row positions grouped by key (ids 0..n-1), ascending within each key: the rows of a few keys inside a
    slice of rows without scanning the slice."""

    def __init__(self, keys: np.ndarray, n: int) -> None:
        self.order = stable_argsort(keys)
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n))])

    def rows(self, keys: np.ndarray, window: slice) -> np.ndarray:
        """Ascending positions of the rows inside `window` whose key is one of `keys` (distinct)."""
        parts = []
        for key in keys:
            rows = self.order[self.starts[key] : self.starts[key + 1]]
            lo, hi = np.searchsorted(rows, [window.start, window.stop])
            parts.append(rows[lo:hi])
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
