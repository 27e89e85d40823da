import numpy as np
import pytest

from mpiml.errors import ConfigError
from mpiml.partition import (block_offsets, block_owner, block_range, block_sizes, grid_shape,
                             hash_owner, require_nonempty)


@pytest.mark.parametrize("n", [0, 1, 5, 7, 100, 101])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 16])
def test_blocks_tile_rows_and_differ_by_at_most_one(n, size):
    ranges = [block_range(n, size, r) for r in range(size)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    for (a, b), (c, d) in zip(ranges, ranges[1:]):
        assert b == c
    lens = [b - a for a, b in ranges]
    assert max(lens) - min(lens) <= 1
    assert lens == list(block_sizes(n, size))
    assert list(block_offsets(n, size)) == [a for a, _ in ranges] + [n]
    for r, (a, b) in enumerate(ranges):
        for i in range(a, b):
            assert block_owner(i, n, size) == r
    if n:
        owners = block_owner(np.arange(n), n, size)
        assert list(owners) == [r for r, (a, b) in enumerate(ranges) for _ in range(a, b)]


def test_more_ranks_than_rows_gives_empty_blocks_and_a_clear_check():
    assert [block_range(2, 4, r) for r in range(4)] == [(0, 1), (1, 2), (2, 2), (2, 2)]
    with pytest.raises(ConfigError, match="2 rows cannot be split over 4 ranks"):
        require_nonempty(2, 4)
    require_nonempty(4, 4)


def test_bad_arguments():
    with pytest.raises(ValueError):
        block_range(10, 0, 0)
    with pytest.raises(ValueError):
        block_range(10, 2, 2)
    with pytest.raises(ValueError):
        block_owner(10, 10, 2)


def test_hash_owner_is_deterministic_and_balanced():
    keys = np.arange(100_000)
    own = hash_owner(keys, 7)
    assert np.array_equal(own, hash_owner(keys, 7))
    counts = np.bincount(own, minlength=7)
    assert counts.min() > 0.9 * counts.mean()


def test_grid_shape():
    assert grid_shape(1) == (1, 1)
    assert grid_shape(6) == (2, 3)
    assert grid_shape(7) == (1, 7)
    assert grid_shape(16) == (4, 4)
