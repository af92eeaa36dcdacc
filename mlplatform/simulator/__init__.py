"""Card-transaction simulator of the Fraud Detection Handbook (see shared/docs/simulator.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mlplatform.arrays import stable_argsort
from mlplatform.simulator import exact, fast
from mlplatform.simulator.frauds import add_frauds
from mlplatform.simulator.pii import personal_data
from mlplatform.simulator.profiles import customer_profiles, reachable_terminals, terminal_profiles

Mode = Literal["exact", "fast"]
Progress = Callable[[int], None]

TRANSACTION_COLUMNS = [
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
]


@dataclass(frozen=True)
class SimulationConfig:
    customers: int = 5_000
    terminals: int = 10_000
    days: int = 183
    start: date = date(2018, 4, 1)
    radius: float = 5.0
    mode: Mode = "exact"
    seed: int = 0  # fast mode only; the exact mode's seeds are fixed by the published algorithm
    workers: int = 0  # 0 = one per CPU


@dataclass(frozen=True)
class Simulation:
    customers: pd.DataFrame  # source-database content, PII included
    terminals: pd.DataFrame
    transactions: pd.DataFrame  # the published dataset's schema


def simulate(config: SimulationConfig = SimulationConfig(), progress: Progress | None = None) -> Simulation:
    """Generates profiles, transactions and fraud labels; `progress` is called with customers done."""
    customers = customer_profiles(config.customers)
    terminals = terminal_profiles(config.terminals)
    reach = reachable_terminals(customers, terminals, config.radius)
    workers = config.workers or os.cpu_count() or 1
    tasks = _exact_tasks(customers, reach, config) if config.mode == "exact" else _fast_tasks(customers, reach, config)
    parts: list[np.ndarray] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for size, part in zip([t[0] for t in tasks], pool.map(_run_task, [t[1:] for t in tasks]), strict=True):
            parts.append(part)
            if progress:
                progress(size)
    rows = np.concatenate(parts)
    # Customers are concatenated in id order; a stable sort on time keeps that order within ties.
    tx = pd.DataFrame(rows[stable_argsort(rows["TX_TIME_SECONDS"])])
    tx["TRANSACTION_ID"] = np.arange(len(tx), dtype=np.int64)
    tx["TX_DATETIME"] = pd.Timestamp(config.start) + pd.to_timedelta(tx["TX_TIME_SECONDS"], unit="s")
    if config.mode == "exact":
        add_frauds(tx, config.customers, config.terminals)
    else:
        scale_cards = max(1, round(3 * config.customers / 5_000))
        scale_terminals = max(1, round(2 * config.terminals / 10_000))
        add_frauds(
            tx,
            config.customers,
            config.terminals,
            terminals_per_day=scale_terminals,
            cards_per_day=scale_cards,
            pick=fast.generator_picker(config.seed),
            sample_rows=fast.generator_sampler(config.seed),
        )
    tx["TX_DATETIME"] = tx["TX_DATETIME"].astype("datetime64[ns]")
    return Simulation(
        customers=with_pii(customers, reach),
        terminals=terminals,
        transactions=tx[TRANSACTION_COLUMNS],
    )


def _exact_tasks(customers: pd.DataFrame, reach, config: SimulationConfig) -> list[tuple]:
    specs: list[exact.CustomerSpec] = [
        (int(c), float(a), float(s), float(m), reach.of(int(c)).tolist())
        for c, a, s, m in zip(
            customers["CUSTOMER_ID"],
            customers["mean_amount"],
            customers["std_amount"],
            customers["mean_nb_tx_per_day"],
            strict=True,
        )
    ]
    return [(len(chunk), "exact", chunk, config.days) for chunk in exact.split(specs, 64)]


def _fast_tasks(customers: pd.DataFrame, reach, config: SimulationConfig) -> list[tuple]:
    n = len(customers)
    blocks = max(1, min(64, n // 500))
    seeds = np.random.SeedSequence(config.seed).spawn(blocks)
    bounds = np.linspace(0, n, blocks + 1).astype(int)
    tasks = []
    for (lo, hi), seed in zip(pairwise(bounds), seeds, strict=True):
        offsets = reach.offsets[lo : hi + 1]
        ids = reach.ids[offsets[0] : offsets[-1]]
        tasks.append(
            (
                int(hi - lo),
                "fast",
                customers["CUSTOMER_ID"].to_numpy()[lo:hi],
                customers["mean_amount"].to_numpy()[lo:hi],
                customers["mean_nb_tx_per_day"].to_numpy()[lo:hi],
                offsets - offsets[0],
                ids,
                config.days,
                seed,
            )
        )
    return tasks


def _run_task(task: tuple) -> np.ndarray:
    kind, *args = task
    return exact.chunk_transactions(*args) if kind == "exact" else fast.chunk_transactions(*args)


def with_pii(customers: pd.DataFrame, reach) -> pd.DataFrame:
    """Adds the source database's PII columns (name, email, card number), deterministic per run."""
    out = customers.copy()
    pii = personal_data(customers["CUSTOMER_ID"].to_numpy(), seed=len(customers))
    out[["name", "email", "card_number"]] = pii.to_numpy()
    out["nb_terminals"] = reach.counts()
    return out


def write(sim: Simulation, out: Path) -> dict[str, Path]:
    """Writes the three tables as Parquet under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.parquet" for name in ("transactions", "customers", "terminals")}
    sim.transactions.to_parquet(paths["transactions"], index=False)
    sim.customers.to_parquet(paths["customers"], index=False)
    sim.terminals.to_parquet(paths["terminals"], index=False)
    return paths
