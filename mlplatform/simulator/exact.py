"""Exact transaction generation (simulator.md §4): bit-identical to the published dataset.

Each customer's stream is seeded by its id, so customers are generated independently and the
work is split over processes; the draws inside one customer stay strictly sequential.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np

SECONDS_PER_DAY = 86_400

# One customer's inputs: (customer id, mean amount, std amount, mean tx per day, terminal ids).
CustomerSpec = tuple[int, float, float, float, list[int]]


def customer_transactions(spec: CustomerSpec, nb_days: int) -> list[tuple[int, int, int, int, float]]:
    """All transactions of one customer as (seconds, day, customer, terminal, amount) tuples."""
    customer_id, mean_amount, std_amount, mean_nb_tx, terminals = spec
    py_random = random.Random(customer_id)
    rs = np.random.RandomState(customer_id)
    poisson, normal, uniform = rs.poisson, rs.normal, rs.uniform
    out: list[tuple[int, int, int, int, float]] = []
    for day in range(nb_days):
        for _ in range(poisson(mean_nb_tx)):
            time_tx = int(normal(SECONDS_PER_DAY / 2, 20_000))
            if not 0 < time_tx < SECONDS_PER_DAY:
                continue
            amount = normal(mean_amount, std_amount)
            if amount < 0:
                amount = uniform(0, mean_amount * 2)
            # np.round(amount, 2) is rint(amount * 100) / 100; Python's round() also rounds half to even,
            # and costs a tenth of NumPy's call on a scalar.
            amount = round(amount * 100.0) / 100.0
            if terminals:
                terminal = py_random.choice(terminals)
                out.append((time_tx + day * SECONDS_PER_DAY, day, customer_id, terminal, amount))
    return out


def chunk_transactions(specs: list[CustomerSpec], nb_days: int) -> np.ndarray:
    """Transactions of several customers as a structured array (picklable worker entry point)."""
    rows = [row for spec in specs for row in customer_transactions(spec, nb_days)]
    return np.array(rows, dtype=TX_DTYPE) if rows else np.zeros(0, dtype=TX_DTYPE)


TX_DTYPE = np.dtype(
    [
        ("TX_TIME_SECONDS", np.int64),
        ("TX_TIME_DAYS", np.int64),
        ("CUSTOMER_ID", np.int64),
        ("TERMINAL_ID", np.int64),
        ("TX_AMOUNT", np.float64),
    ]
)


def split(seq: list[CustomerSpec], parts: int) -> Iterator[list[CustomerSpec]]:
    size = max(1, -(-len(seq) // parts))
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
