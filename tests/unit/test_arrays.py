import numpy as np
import pytest

from mpiml.arrays import union_sorted, unique_sorted


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_same_as_numpy(n):
    rng = np.random.default_rng(n)
    a, b = rng.integers(0, 50, n), rng.integers(-5, 30, n // 2 + 1)
    assert np.array_equal(unique_sorted(a), np.unique(a))
    assert np.array_equal(union_sorted(a, b), np.union1d(a, b))
    assert unique_sorted(a).dtype == a.dtype
