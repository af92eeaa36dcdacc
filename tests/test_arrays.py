"""Array helpers against the NumPy calls they stand for."""

import numpy as np

from mlplatform.arrays import stable_argsort


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
