"""alltoallv's send buffer: a view when the parts lie back to back, else a copy;
always the concatenation of the parts."""

import numpy as np
import pytest

from mpiml.comm.operations import _back_to_back

S = np.arange(20, dtype=np.int64)
M = np.arange(12, dtype=np.int64).reshape(6, 2)


@pytest.mark.parametrize("parts, view", [
    ([S[0:3], S[3:3], S[3:10], S[10:20]], True),     # a shuffle's cut of one sorted array
    ([S[2:5], S[5:9]], True),
    ([S[3:3], S[0:4]], True),                        # an empty part anywhere
    ([M[1:3].reshape(-1), M[3:4].reshape(-1)], True),  # rows of a 2-D array
    ([S[0:3], S[4:6]], False),                       # a gap
    ([S[5:8], S[0:5]], False),                       # out of order
    ([np.arange(3), np.arange(4)], False),           # separate arrays
    ([S[0:4].astype(np.int32), S[4:6].astype(np.int32)], False),
    ([S[0:0], S[0:0]], None),
])
def test_back_to_back_is_the_concatenation(parts, view):
    got = _back_to_back(parts, np.dtype(np.int64))
    assert got.dtype == np.int64
    assert np.array_equal(got, np.concatenate(parts))
    if view is not None:
        assert np.shares_memory(got, parts[0].base if parts[0].base is not None else parts[0]) == view
