"""Array helpers against the NumPy calls they stand for."""

import threading

import numpy as np
import pytest

from mlplatform.arrays import small_pages, stable_argsort


def test_stable_argsort_is_numpys_stable_argsort_for_any_integers():
    rng = np.random.default_rng(0)
    cases = [
        rng.integers(0, 50, 10_000),  # many ties: rows keep their order within a value
        rng.integers(-(2**40), 2**40, 1_000),  # negative values
        np.array([-(2**62), 0, 2**62, 0]),  # too wide to pack: NumPy's own sort
        np.array([7]),
        np.zeros(0, dtype=np.int64),
    ]
    for values in cases:
        assert np.array_equal(stable_argsort(values), np.argsort(values, kind="stable"))


def _advice(value: bool) -> bool:
    """Sets NumPy's huge-page advice; returns what it was."""
    return np._core.multiarray._set_madvise_hugepage(value)


@pytest.mark.skipif(
    not hasattr(np._core.multiarray, "_set_madvise_hugepage"), reason="this NumPy has no run-time huge-page switch"
)
def test_small_pages_turns_numpys_huge_page_advice_off_until_the_last_block_ends():
    started, release = threading.Event(), threading.Event()

    @small_pages
    def long_block() -> None:
        started.set()
        release.wait(10)

    before = _advice(True)
    try:
        other = threading.Thread(target=long_block)
        other.start()
        started.wait(10)
        with small_pages, small_pages:  # nested
            assert _advice(False) is False
        assert _advice(False) is False  # the other thread's block still runs
        release.set()
        other.join(10)
        assert _advice(True) is True  # back as it was before the first block
        _advice(False)
        with small_pages:
            pass
        assert _advice(False) is False  # left off when it was off
    finally:
        _advice(before)
