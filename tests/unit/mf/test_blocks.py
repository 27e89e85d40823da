"""Block layout: nested boundaries, block contents, re-blocking."""

import numpy as np
import pytest

from mpiml.mf.blocks import BlockLayout, csr_by_row, make_blocks, split_by_owner
from mpiml.partition import block_range


@pytest.mark.parametrize("n,P,b", [(10, 1, 1), (10, 3, 2), (7, 4, 1), (4, 2, 3), (23, 3, 3)])
def test_offsets_nest_inside_rank_ranges(n, P, b):
    lay = BlockLayout(n, n + 1, P, b)
    off = lay.row_offsets
    assert off[0] == 0 and off[-1] == n and len(off) == P * b + 1
    assert np.all(np.diff(off) >= 0)
    for r in range(P):
        assert (off[r * b], off[(r + 1) * b]) == block_range(n, P, r) == lay.user_range(r)


def _ratings(seed=0, m=13, n=11, nnz=70):
    rng = np.random.default_rng(seed)
    flat = rng.choice(m * n, nnz, replace=False)
    return flat // n, flat % n, rng.normal(size=nnz)


@pytest.mark.parametrize("P,b", [(1, 1), (2, 2), (3, 1), (3, 2)])
def test_blocks_hold_exactly_their_ratings_sorted(P, b):
    u, i, r = _ratings()
    lay = BlockLayout(13, 11, P, b)
    total = 0
    for rank in range(P):
        sel = lay.user_owner(u) == rank
        blk = make_blocks(u[sel], i[sel], r[sel], lay, rank)
        for x in range(rank * b, (rank + 1) * b):
            rlo, rhi = lay.row_block_range(x)
            for j in range(lay.d):
                clo, chi = lay.col_block_range(j)
                bu, bi, bv = blk.block(x, j)
                m = (u >= rlo) & (u < rhi) & (i >= clo) & (i < chi)
                want = sorted(zip(u[m].tolist(), i[m].tolist(), r[m].astype(np.float32).tolist()))
                got = list(zip((bu + blk.user_lo).tolist(), (bi + clo).tolist(), bv.tolist()))
                assert got == want
                assert blk.nnz(x, j) == len(want)
                total += len(want)
    assert total == len(u)


def test_make_blocks_rejects_foreign_users():
    u, i, r = _ratings()
    with pytest.raises(ValueError):
        make_blocks(u, i, r, BlockLayout(13, 11, 2), 0)


def test_reblock_to_another_rank_count_keeps_every_rating():
    u, i, r = _ratings(1)
    for P in (2, 3):
        lay = BlockLayout(13, 11, P, 1)
        (us, is_, rs) = split_by_owner(lay.user_owner(u), P, u, i, r)
        got = []
        for rank in range(P):
            blk = make_blocks(us[rank], is_[rank], rs[rank], lay, rank)
            for j in range(lay.d):
                bu, bi, bv = blk.block(rank, j)
                got += list(zip((bu + blk.user_lo).tolist(), (bi + lay.col_block_range(j)[0]).tolist()))
        assert sorted(got) == sorted(zip(u.tolist(), i.tolist()))


def test_split_by_owner_is_stable():
    owner = np.array([2, 0, 2, 1, 0])
    (parts,) = split_by_owner(owner, 3, np.arange(5))
    assert [p.tolist() for p in parts] == [[1, 4], [3], [0, 2]]


def test_csr_by_row():
    indptr, cols, vals = csr_by_row([1, 0, 1, 1], [5, 2, 0, 3], [1.0, 2.0, 3.0, 4.0], 3)
    assert indptr.tolist() == [0, 1, 4, 4]
    assert cols.tolist() == [2, 0, 3, 5] and vals.tolist() == [2.0, 3.0, 4.0, 1.0]
