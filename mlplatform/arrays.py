"""Array helpers shared by the simulator and the feature engines."""

from __future__ import annotations

import numpy as np


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """`np.argsort(values, kind="stable")` for integers, several times faster where each value's offset
    from the smallest and its row fit in one int64: (offset, row) packed and sorted with NumPy's
    vectorised sort."""
    if not len(values):
        return np.zeros(0, dtype=np.intp)
    bits = max(1, len(values).bit_length())
    low, high = int(values.min()), int(values.max())
    if high - low >= 2 ** (62 - bits):
        return np.argsort(values, kind="stable")
    packed = values.astype(np.int64)  # a copy, then in place: one array, not five
    packed -= low
    packed <<= bits
    packed |= np.arange(len(values))
    packed.sort()
    packed &= (1 << bits) - 1
    return packed


def cumulative(values: np.ndarray) -> np.ndarray:
    """The int64 sums of the values before each position: 0, then the running sums (len(values) + 1 of them),
    so that the sum of values[a:b] is cumulative[b] - cumulative[a]."""
    out = np.empty(len(values) + 1, dtype=np.int64)
    out[0] = 0
    np.cumsum(values, out=out[1:])
    return out
