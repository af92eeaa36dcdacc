"""Array helpers shared by the simulator and the feature engines."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ContextDecorator
from importlib import import_module

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


class _SmallPages(ContextDecorator):
    """`with small_pages:` (or `@small_pages` on a function): NumPy's huge-page advice is off for the arrays
    allocated meanwhile, and back as it was after.

    NumPy asks the kernel for huge pages (madvise) for each array of 4 MB and more. Where the kernel's THP
    defrag setting is `madvise` (its default, and this machine's), a fault on such memory may wait while the
    kernel makes a huge page (numpy/numpy#31590), and arrays written end to end once or twice gain little
    from them: the NumPy engine on the published dataset, file in and file out, took a median 1.09 s with
    the advice off around it against 1.13 s (the slowest 1.24 s against 1.75 s; 8 fresh processes each,
    interleaved), the same as with NUMPY_MADVISE_HUGEPAGE=0 (1.09 s). NumPy reads that switch at import and
    offers it at run time only as a private function: where that is gone, nothing changes. The switch is
    process-wide, so it is off from the first block that starts to the last that ends, whatever their
    threads."""

    def __init__(self) -> None:
        self._set: Callable[[bool], bool] | None = getattr(
            import_module("numpy._core.multiarray"), "_set_madvise_hugepage", None
        )
        self._lock = threading.Lock()
        self._blocks = 0
        self._before = False

    def __enter__(self) -> None:
        with self._lock:
            if self._set is not None and not self._blocks:
                self._before = self._set(False)
            self._blocks += 1

    def __exit__(self, *error: object) -> None:
        with self._lock:
            self._blocks -= 1
            if self._set is not None and not self._blocks:
                self._set(self._before)


small_pages = _SmallPages()
