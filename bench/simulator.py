"""Simulator throughput: exact vs fast mode at 1x and 10x the customers (183 days)."""

import time

from mlplatform.simulator import SimulationConfig, simulate


def _run(config: SimulationConfig) -> tuple[int, float]:
    started = time.perf_counter()
    tx = simulate(config).transactions
    return len(tx), time.perf_counter() - started


def main(quick: bool = False) -> None:
    days = 30 if quick else 183
    for scale in (1, 10):
        customers, terminals = 5_000 * scale, 10_000
        timings: dict[str, float] = {}
        for mode in ("exact", "fast"):
            n, seconds = _run(SimulationConfig(customers=customers, terminals=terminals, days=days, mode=mode))
            timings[mode] = seconds
            rate = n / seconds
            print(f"{scale:>3}x customers  {mode:<5}  {n:>12,} tx  {seconds:8.1f} s  {rate:>12,.0f} tx/s", flush=True)
        print(f"     fast mode is {timings['exact'] / timings['fast']:.1f}x faster than exact at {scale}x", flush=True)
