"""Fast transaction generation: the same distributions as the exact mode, drawn in bulk.

Not bit-identical to the published run, but statistically equivalent: per customer-day
Poisson counts, a normal time of day truncated to (0, 86400), a normal amount redrawn
uniformly when negative, and a uniformly chosen reachable terminal.
"""

from __future__ import annotations

import numpy as np

from mlplatform.simulator.exact import SECONDS_PER_DAY, TX_DTYPE


def chunk_transactions(
    customer_ids: np.ndarray,
    mean_amount: np.ndarray,
    mean_nb_tx: np.ndarray,
    offsets: np.ndarray,
    terminal_ids: np.ndarray,
    nb_days: int,
    seed: np.random.SeedSequence,
) -> np.ndarray:
    """Transactions of a block of customers; `offsets`/`terminal_ids` are the block's CSR lists."""
    rng = np.random.default_rng(seed)
    n = len(customer_ids)
    counts = rng.poisson(np.repeat(mean_nb_tx[:, None], nb_days, axis=1))
    per_customer_day = counts.ravel()
    cust_pos = np.repeat(np.repeat(np.arange(n), nb_days), per_customer_day)
    day = np.repeat(np.tile(np.arange(nb_days), n), per_customer_day)

    time_tx = rng.normal(SECONDS_PER_DAY / 2, 20_000, size=len(day)).astype(np.int64)
    keep = (time_tx > 0) & (time_tx < SECONDS_PER_DAY)
    n_terminals = np.diff(offsets)
    keep &= n_terminals[cust_pos] > 0
    cust_pos, day, time_tx = cust_pos[keep], day[keep], time_tx[keep]

    mean = mean_amount[cust_pos]
    amount = rng.normal(mean, mean / 2)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    amount = np.round(amount, 2)

    pick = (rng.random(len(cust_pos)) * n_terminals[cust_pos]).astype(np.int64)
    terminal = terminal_ids[offsets[cust_pos] + pick]

    out = np.empty(len(cust_pos), dtype=TX_DTYPE)
    out["TX_TIME_SECONDS"] = time_tx + day * SECONDS_PER_DAY
    out["TX_TIME_DAYS"] = day
    out["CUSTOMER_ID"] = customer_ids[cust_pos]
    out["TERMINAL_ID"] = terminal
    out["TX_AMOUNT"] = amount
    return out


def generator_picker(seed: int):
    """Compromised ids drawn with a seeded `Generator` (fast mode's counterpart of pandas' sample)."""

    def pick(day: int, population: int, k: int) -> np.ndarray:
        rng = np.random.default_rng([seed, day])
        return rng.choice(population, size=min(k, population), replace=False)

    return pick


def generator_sampler(seed: int):
    def sample(day: int, rows: np.ndarray, k: int) -> np.ndarray:
        rng = np.random.default_rng([seed, day, 1])
        return rng.choice(rows, size=k, replace=False) if k else rows[:0]

    return sample
