"""Customer and terminal profiles and the terminals each customer can reach (simulator.md §1-3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Reachability:
    """Terminals available to each customer, as CSR arrays: customer c uses ids[offsets[c]:offsets[c+1]]."""

    offsets: np.ndarray
    ids: np.ndarray

    def of(self, customer: int) -> np.ndarray:
        return self.ids[self.offsets[customer] : self.offsets[customer + 1]]

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def customer_profiles(n_customers: int, seed: int = 0) -> pd.DataFrame:
    """Draws customer profiles with NumPy's legacy generator in the published order."""
    rs = np.random.RandomState(seed)
    # Legacy uniform(low, high, size) draws the same stream as repeated scalar calls, so one
    # (n, 4) draw reproduces the per-customer order x, y, mean_amount, mean_nb_tx_per_day.
    u = rs.random_sample((n_customers, 4))
    lows = np.array([0.0, 0.0, 5.0, 0.0])
    highs = np.array([100.0, 100.0, 100.0, 4.0])
    draws = lows + (highs - lows) * u
    mean_amount = draws[:, 2]
    return pd.DataFrame(
        {
            "CUSTOMER_ID": np.arange(n_customers, dtype=np.int64),
            "x_customer_id": draws[:, 0],
            "y_customer_id": draws[:, 1],
            "mean_amount": mean_amount,
            "std_amount": mean_amount / 2,
            "mean_nb_tx_per_day": draws[:, 3],
        }
    )


def terminal_profiles(n_terminals: int, seed: int = 1) -> pd.DataFrame:
    """Draws terminal locations with NumPy's legacy generator in the published order."""
    rs = np.random.RandomState(seed)
    u = rs.random_sample((n_terminals, 2)) * 100.0
    return pd.DataFrame(
        {
            "TERMINAL_ID": np.arange(n_terminals, dtype=np.int64),
            "x_terminal_id": u[:, 0],
            "y_terminal_id": u[:, 1],
        }
    )


def reachable_terminals(
    customers: pd.DataFrame, terminals: pd.DataFrame, radius: float, chunk: int = 256
) -> Reachability:
    """Terminals strictly closer than `radius` to each customer, in ascending id order."""
    xy_t = terminals[["x_terminal_id", "y_terminal_id"]].to_numpy(dtype=float)
    xy_c = customers[["x_customer_id", "y_customer_id"]].to_numpy(dtype=float)
    counts = np.zeros(len(xy_c), dtype=np.int64)
    parts: list[np.ndarray] = []
    for start in range(0, len(xy_c), chunk):
        block = xy_c[start : start + chunk]
        # The published code's operations (square, sum over x and y, sqrt), so the boundary is identical;
        # the sum of two squares written out, on 2-D blocks, is the same sum at a third of the cost.
        dx = block[:, 0, None] - xy_t[None, :, 0]
        squares = dx * dx
        dy = block[:, 1, None] - xy_t[None, :, 1]
        squares += dy * dy
        # Only the pairs that can be inside get a square root: sqrt(s) < r implies s < r² (1 + 1e-9).
        rows, cols = np.nonzero(squares < radius * radius * (1 + 1e-9))
        inside = np.sqrt(squares[rows, cols]) < radius
        rows, cols = rows[inside], cols[inside]
        counts[start : start + len(block)] = np.bincount(rows, minlength=len(block))
        parts.append(cols.astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return Reachability(offsets=offsets, ids=ids)
