"""Feature engines and the as-of join: wall time and peak memory, each case in a fresh process.

Cases: the 15 reference features on the published dataset with DuckDB, NumPy, Spark and a plain
pandas `groupby().rolling()` implementation, and again at 10x the customers (fast simulator), each
engine three times (the median counts), with the NumPy engine's output compared value for value with
DuckDB's; the as-of join
of a 1M-row spine with one and three 10M-row views, against pandas `merge_asof`.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlplatform.config import handbook_path

REPEATS = 3  # runs of each engine's case, of which the median counts


def _peak_rss_kib() -> int:
    """This process's peak resident memory (VmHWM, which exec resets, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _pandas_features(path: Path) -> pd.DataFrame:
    """The straightforward pandas version (the Handbook's way: groupby + time-based rolling)."""
    df = pd.read_parquet(path)
    out = pd.DataFrame(index=pd.Index(df["TRANSACTION_ID"].to_numpy(), name="TRANSACTION_ID"))
    out["TX_DURING_WEEKEND"] = (df["TX_DATETIME"].dt.day_of_week >= 5).astype(int).to_numpy()
    out["TX_DURING_NIGHT"] = (df["TX_DATETIME"].dt.hour <= 6).astype(int).to_numpy()
    # Sorted by entity then time, a groupby-rolling result lines up with the rows by position.
    by_customer = df.sort_values(["CUSTOMER_ID", "TX_DATETIME"], kind="stable").set_index("TX_DATETIME")
    rolling = by_customer.groupby("CUSTOMER_ID")["TX_AMOUNT"].rolling
    for n in (1, 7, 30):
        window = rolling(f"{n}D")
        out.loc[by_customer["TRANSACTION_ID"].to_numpy(), f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = (
            window.count().to_numpy()
        )
        out.loc[by_customer["TRANSACTION_ID"].to_numpy(), f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = (
            window.mean().to_numpy()
        )
    by_terminal = df.sort_values(["TERMINAL_ID", "TX_DATETIME"], kind="stable").set_index("TX_DATETIME")
    rolling = by_terminal.groupby("TERMINAL_ID")["TX_FRAUD"].rolling
    ids = by_terminal["TRANSACTION_ID"].to_numpy()
    delay = rolling("7D")
    delay_count, delay_frauds = delay.count().to_numpy(), delay.sum().to_numpy()
    for n in (1, 7, 30):
        window = rolling(f"{n + 7}D")
        count = window.count().to_numpy() - delay_count
        frauds = window.sum().to_numpy() - delay_frauds
        out.loc[ids, f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = count
        out.loc[ids, f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = np.divide(
            frauds, count, out=np.zeros_like(frauds), where=count > 0
        )
    return out


def _asof_data(folder: Path, views: int) -> None:
    rng = np.random.default_rng(0)
    base = np.datetime64("2018-04-01T00:00:00")
    span = 180 * 86_400
    spine = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 50_000, 1_000_000),
            "terminal_id": rng.integers(0, 100_000, 1_000_000),
            "ts": base + rng.integers(0, span, 1_000_000).astype("timedelta64[s]"),
        }
    )
    spine.to_parquet(folder / "spine.parquet")
    for i in range(views):
        key = "customer_id" if i != 1 else "terminal_id"
        view = pd.DataFrame(
            {
                key: rng.integers(0, 50_000 if key == "customer_id" else 100_000, 10_000_000),
                "ts": base + rng.integers(0, span, 10_000_000).astype("timedelta64[s]"),
                "a": rng.normal(size=10_000_000),
                "b": rng.normal(size=10_000_000),
            }
        ).drop_duplicates([key, "ts"])
        view.to_parquet(folder / f"view{i}.parquet")


def run_case(case: str, folder: Path) -> dict:
    from mlplatform.duck import connect
    from mlplatform.features.asof import FeatureView, point_in_time_join
    from mlplatform.features.files import compute_file

    started, kernel = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
    rows = 0
    if case.startswith("features-"):
        engine, _, scale = case.removeprefix("features-").partition("-")
        source = folder / "tx10.parquet" if scale == "10x" else handbook_path()
        target = folder / f"{engine}{scale}.parquet"
        if engine == "pandas":
            frame = _pandas_features(source)
            frame.reset_index().to_parquet(target)
            rows = len(frame)
        else:
            rows = compute_file(source, target, engine=engine)  # type: ignore[arg-type]
    elif case.startswith("asof-duckdb"):
        n = int(case[-1])
        con = connect(memory_limit="8GB")
        views = [
            FeatureView(
                f"v{i}",
                f"read_parquet('{folder / f'view{i}.parquet'}')",
                "customer_id" if i != 1 else "terminal_id",
                "ts",
                ("a", "b"),
            )
            for i in range(n)
        ]
        rows = len(point_in_time_join(f"read_parquet('{folder / 'spine.parquet'}')", "ts", views, con=con))
    elif case.startswith("asof-pandas"):
        n = int(case[-1])
        out = pd.read_parquet(folder / "spine.parquet").sort_values("ts")
        for i in range(n):
            key = "customer_id" if i != 1 else "terminal_id"
            view = pd.read_parquet(folder / f"view{i}.parquet").sort_values("ts")
            out = pd.merge_asof(out, view, on="ts", by=key, direction="backward", suffixes=("", f"_v{i}"))
        rows = len(out)
    seconds = time.perf_counter() - started
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
    peak_gib = _peak_rss_kib() / 2**20
    return {"case": case, "rows": rows, "seconds": seconds, "kernel_seconds": kernel, "peak_gib": peak_gib}


def _measure(case: str, folder: Path, repeats: int = 1) -> dict:
    """The case in a fresh process `repeats` times: the median time (this 2-core virtual machine's times vary
    by half from run to run), the kernel's CPU time of each run (where most of that variation lies) and the
    highest peak memory."""
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-m", "bench.features", case, str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            print(f"  {case:<22} FAILED: {error}", flush=True)
            return {"case": case, "error": error}
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    seconds = sorted(r["seconds"] for r in runs)
    result = {**runs[0], "seconds": seconds[len(seconds) // 2], "peak_gib": max(r["peak_gib"] for r in runs)}
    kernel = ", ".join(f"{r['kernel_seconds']:.1f}" for r in sorted(runs, key=lambda r: r["seconds"]))
    spread = f"  (runs {', '.join(f'{x:.1f}' for x in seconds)}; kernel CPU {kernel})" if repeats > 1 else ""
    extra = f"{result['rows']:>12,} rows  {result['seconds']:8.1f} s  peak {result['peak_gib']:5.2f} GiB{spread}"
    print(f"  {case:<22} {extra}", flush=True)
    return result


def _same_values(folder: Path, a: str, b: str) -> bool:
    left, right = pd.read_parquet(folder / f"{a}.parquet"), pd.read_parquet(folder / f"{b}.parquet")
    return list(left.columns) == list(right.columns) and all(left[c].equals(right[c]) for c in left.columns)


def _engines(folder: Path, scale: str, engines: list[str], repeats: int) -> None:
    # Spark, a reference rather than a contender here, runs once.
    results = {e: _measure(f"features-{e}{scale}", folder, 1 if e == "spark" else repeats) for e in engines}
    pandas_ = results.get("pandas", {})
    for engine in ("duckdb", "numpy"):
        if "seconds" in results.get(engine, {}) and "seconds" in pandas_:
            print(f"  {engine}: {pandas_['seconds'] / results[engine]['seconds']:.1f}x faster than pandas")
    if all("seconds" in results.get(e, {}) for e in ("duckdb", "numpy")):
        same = _same_values(folder, f"duckdb{scale.strip('-')}", f"numpy{scale.strip('-')}")
        print(f"  numpy's values {'equal' if same else 'DIFFER FROM'} DuckDB's, column for column")


def main(quick: bool = False) -> None:
    from mlplatform.simulator import SimulationConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("15 reference features, published dataset (1.75M transactions):")
        _engines(folder, "", ["duckdb", "numpy", "pandas", "spark"], 1 if quick else REPEATS)
        if not quick:
            print("10x the customers (fast simulator):")
            simulate(SimulationConfig(customers=50_000, mode="fast")).transactions.to_parquet(folder / "tx10.parquet")
            _engines(folder, "-10x", ["duckdb", "numpy", "pandas"], REPEATS)
        print("as-of join, 1M-row spine against 10M-row views:")
        _asof_data(folder, views=3)
        for n in (1, 3):
            d = _measure(f"asof-duckdb-{n}", folder)
            p = _measure(f"asof-pandas-{n}", folder)
            if "seconds" in d and "seconds" in p:
                print(f"  {n} view(s): DuckDB is {p['seconds'] / d['seconds']:.1f}x faster than merge_asof")


if __name__ == "__main__":
    print(json.dumps(run_case(sys.argv[1], Path(sys.argv[2]))))
