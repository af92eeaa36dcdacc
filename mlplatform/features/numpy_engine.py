"""The NumPy engine: a FeatureSet computed with one sort per entity, cumulative sums and binary search.

Per entity the events are sorted once by (key, time). The events of a window (t - w - d, t - d] lie
between two positions of that order, found by binary search, so a window's count, exact amount sum and
fraud count are differences of cumulative sums: the same few array passes whatever the window's length.
Ties follow the DuckDB engine: a window ending at t holds every event at t.

Amounts are summed in exact micro-units and divided once, as the DuckDB engine does with its decimal
sums, so every value equals DuckDB's bit for bit (tests/features/test_engine_parity.py). The online
engine uses this module's arithmetic for its windows and request-time features.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import numpy as np
import pandas as pd

from mlplatform.arrays import cumulative, small_pages, stable_argsort
from mlplatform.features.definitions import (
    AMOUNT,
    EVENT_ID,
    EVENT_TIME,
    LABEL,
    FeatureSet,
    RatioFeature,
    RequestFeature,
    WindowFeature,
)

US = 1_000_000  # microseconds per second; amounts are summed in millionths ("micros")
HOUR_US = 3_600 * US
DAY_US = 24 * HOUR_US
BLOCK = 65_536  # events (of whole keys) whose windows are computed together


def micros(delta: timedelta) -> int:
    return int(pd.Timedelta(delta).value // 1_000)


def amount_micros(amount: np.ndarray) -> np.ndarray:
    """Amounts in millionths, exactly (as the DuckDB engine's decimal(18, 6))."""
    scaled = amount * US
    np.rint(scaled, out=scaled)
    return scaled.astype(np.int64)


def request_values(f: RequestFeature, time_us: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """A request-time feature of each event."""
    if f.transform == "identity":
        if f.column == AMOUNT:
            return amount
        if f.column == EVENT_TIME:
            return time_us
        raise ValueError(f"{f.name}: the array engines read {AMOUNT} and {EVENT_TIME}, not {f.column}")
    # In place after the first division: each new array of a million events is pages the kernel must find.
    if f.transform == "is_weekend":  # 1970-01-01 was a Thursday (Monday = 0)
        day = time_us // DAY_US
        day += 3
        day %= 7
        return (day >= 5).astype(np.int64)
    if f.transform == "is_night":
        hour = time_us // HOUR_US
        hour %= 24
        return (hour <= 6).astype(np.int64)
    raise ValueError(f"unknown transform {f.transform!r}")


def ratio_values(f: RatioFeature, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """A ratio feature from its two columns: `f.default` where the denominator is 0 (NaN stays NaN, as SQL's
    NULL stays NULL)."""
    numerator, denominator = numerator.astype(np.float64, copy=False), denominator.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = numerator / denominator
    ratio[denominator == 0] = f.default
    return ratio


def summed(f: WindowFeature) -> str | None:
    """The per-event value a window feature sums: exact amounts for a mean, known frauds for a label rate."""
    return {"count": None, "mean": "amount", "label_rate": "fraud"}[f.aggregation]


def aggregate(f: WindowFeature, count: np.ndarray, total: np.ndarray | None) -> np.ndarray:
    """A window feature from its window's event count and the window's sum of `summed(f)`."""
    if f.aggregation == "count":
        return count
    if total is None:
        raise ValueError(f"{f.name}: a {f.aggregation} needs the window's sum of {summed(f)}")
    if f.aggregation == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / US
            mean /= count  # in place: (total / US) / count, one array fewer
        mean[count == 0] = 0.0  # an empty window (only a delayed one can be) has mean 0, as SQL's coalesce
        return mean
    if f.aggregation == "label_rate":  # an empty window sums to 0, and 0 / 1 is its rate
        return total / np.maximum(count, 1)
    raise ValueError(f"unknown aggregation {f.aggregation!r}")


@small_pages  # its arrays are written end to end (see mlplatform/arrays.py)
def feature_arrays(
    features: FeatureSet,
    time_us: np.ndarray,
    amount: np.ndarray,
    fraud: np.ndarray,
    keys: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Every feature of each event, in the events' order: times in microseconds, amounts as received, the
    known-fraud flag (0/1) and each entity's key column, all parallel arrays."""
    for f in features.features:
        if isinstance(f, WindowFeature) and f.aggregation == "mean" and f.column != AMOUNT:
            raise ValueError(f"{f.name}: the array engines average {AMOUNT}, not {f.column}")
    micro_amount = amount_micros(amount)
    by_entity: dict[str, list[WindowFeature]] = {}
    for f in features.features:
        if isinstance(f, WindowFeature):
            by_entity.setdefault(f.entity, []).append(f)
    by_time = np.argsort(time_us, kind="stable")  # cheap on events already (nearly) in time order
    # The entities are independent, and NumPy's sorts and searches release the GIL: one thread each.
    with ThreadPoolExecutor(max_workers=max(1, len(by_entity))) as pool:
        done = pool.map(
            lambda e: _entity_windows(by_entity[e], keys[e], time_us, by_time, micro_amount, fraud), by_entity
        )
        columns = {name: values for computed in done for name, values in computed.items()}
    for f in features.features:
        if isinstance(f, RequestFeature):
            columns[f.name] = request_values(f, time_us, amount)
    for f in features.features:  # in declaration order: a ratio reads features declared before it
        if isinstance(f, RatioFeature):
            columns[f.name] = ratio_values(f, columns[f.numerator], columns[f.denominator])
    return {f.name: columns[f.name].astype(f.dtype, copy=False) for f in features.features}


def compute(events: pd.DataFrame, features: FeatureSet, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """Features of every event (or of those at or after `since`, the rest serving as history): the DuckDB
    engine's `compute`, value for value, in its row order (time, then id) and with its columns."""
    time_us = events[EVENT_TIME].to_numpy("datetime64[us]").astype(np.int64)
    ids = events[EVENT_ID].to_numpy(np.int64)
    fraud = events[LABEL].to_numpy(np.int64) if LABEL in events else np.zeros(len(events), dtype=np.int64)
    keys = {e: events[e].to_numpy(np.int64) for e in features.entities}
    columns = feature_arrays(features, time_us, events[AMOUNT].to_numpy(np.float64), fraud, keys)
    order = np.lexsort((ids, time_us))
    if since is not None:
        order = order[time_us[order] >= pd.Timestamp(since).value // 1_000]
    out = {EVENT_ID: ids[order], EVENT_TIME: events[EVENT_TIME].to_numpy()[order]}
    out.update({e: keys[e][order] for e in features.entities})
    out.update({name: values[order] for name, values in columns.items()})
    return pd.DataFrame(out)


def _sort(key: np.ndarray, by_time: np.ndarray) -> np.ndarray:
    """The order by key, then time: a stable sort by key of the events in time order."""
    return by_time[stable_argsort(key[by_time])]


def _entity_windows(
    windows: list[WindowFeature],
    key: np.ndarray,
    time_us: np.ndarray,
    by_time: np.ndarray,
    amount: np.ndarray,
    fraud: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every window feature of one entity, for each event in the events' order."""
    if not len(key):
        return {f.name: np.zeros(0) for f in windows}
    s = _sort(key, by_time)
    k = key[s]
    values = {"amount": amount, "fraud": fraud}
    summed_here = {name for f in windows if (name := summed(f)) is not None}
    # A window (t - d - w, t - d] holds the key's events after the position of t - d - w and up to that of
    # t - d (for d = 0, every event of the key at t): each offset is one binary search.
    offsets = sorted({o for f in windows for o in (micros(f.delay), micros(f.delay + f.window))})
    # (key, time) packed into one ascending int64 (key's number in the block * span + time), so that one
    # binary search finds a position within the event's own key. The events are taken in blocks of whole
    # keys, about BLOCK events each, so that a block's searches and temporaries stay in the CPU's cache
    # (and the kernel is not asked for fresh pages for each); a block holds few enough keys for the
    # product to fit (all of them unless a key's times span centuries).
    base = int(time_us.min()) - offsets[-1]
    span = int(time_us.max()) - base + 1
    key_starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    # Blocks start at the key holding each BLOCK-th event, and at every (2**62 // span)-th key.
    by_size = key_starts[np.searchsorted(key_starts, np.arange(0, len(k), BLOCK), side="right") - 1]
    starts = np.union1d(by_size, key_starts[:: max(1, 2**62 // span)]).tolist()
    out: dict[str, np.ndarray] = {}
    for a, b in zip(starts, [*starts[1:], len(k)], strict=True):
        rows = s[a:b]
        packed = np.zeros(b - a, dtype=np.int64)
        np.cumsum(k[a + 1 : b] != k[a : b - 1], out=packed[1:])
        packed *= span
        packed += time_us[rows]
        packed -= base
        position = {
            o: _run_ends(packed) if o == 0 else np.searchsorted(packed, packed - o, side="right") for o in offsets
        }
        running = {name: cumulative(values[name][rows]) for name in summed_here}
        for f in windows:
            hi, lo = position[micros(f.delay)], position[micros(f.delay + f.window)]
            column = summed(f)
            total = None
            if column:
                total = running[column][hi]
                total -= running[column][lo]
            result = aggregate(f, hi - lo, total)
            if f.name not in out:
                out[f.name] = np.empty(len(k), dtype=result.dtype)
            out[f.name][rows] = result
    return out


def _run_ends(ascending: np.ndarray) -> np.ndarray:
    """`np.searchsorted(ascending, ascending, side="right")` in one pass: one past each value's last copy."""
    ends = np.append(np.flatnonzero(ascending[1:] != ascending[:-1]) + 1, len(ascending))
    return np.repeat(ends, np.diff(ends, prepend=0))
