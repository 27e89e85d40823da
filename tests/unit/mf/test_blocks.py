"""Block layout: nested boundaries, block contents, re-blocking."""

import numpy as np
import pytest

from mpiml.mf.blocks import (BlockLayout, auto_blocks_per_rank, csr_by_row, l2_cache_bytes, make_blocks,
                             split_by_owner)
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


# ------------------------------------------------------- automatic blocking
def test_auto_blocks_is_the_smallest_b_whose_rows_fit_half_the_cache():
    # 50k users + 20k items, k = 32 float32: 128 B a row, 70k rows = 8.5 MiB on one rank.
    for P, cache in [(1, 2 << 20), (2, 2 << 20), (1, 1 << 20), (4, 512 << 10)]:
        b, why = auto_blocks_per_rank(50_000, 20_000, P, 32, 4, cache)

        def block_bytes(bb):
            return (-(-50_000 // (P * bb)) + -(-20_000 // (P * bb))) * 128
        assert b > 1 and block_bytes(b) <= cache // 2 < block_bytes(b - 1), (P, cache, b)
        assert f"half the {cache // 1024} KiB L2" in why
    assert auto_blocks_per_rank(50_000, 20_000, 1, 32, 4, 2 << 20)[0] == 9
    # float64 rows are twice as large: twice the blocks
    assert auto_blocks_per_rank(50_000, 20_000, 1, 32, 8, 2 << 20)[0] == 18
    # small problems: one block per rank
    assert auto_blocks_per_rank(41, 31, 3, 4, 4, 1 << 20)[0] == 1


def test_auto_blocks_is_capped_at_one_user_and_item_per_block():
    b, why = auto_blocks_per_rank(10, 1_000_000, 2, 64, 8, 4096)
    assert b == 5 and "capped at 5" in why
    assert BlockLayout(10, 1_000_000, 2, b).row_offsets.tolist() == list(range(11))


def _sysfs(root, entries):
    for n, (level, kind, size) in enumerate(entries):
        d = root / f"index{n}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return str(root)


def test_l2_cache_bytes_reads_sysfs(tmp_path):
    root = _sysfs(tmp_path / "a", [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "2048K"),
                                   (3, "Unified", "307200K")])
    assert l2_cache_bytes(root) == 2 << 20
    assert l2_cache_bytes(_sysfs(tmp_path / "b", [(1, "Data", "32K"), (2, "Unified", "1M")])) == 1 << 20
    assert l2_cache_bytes(_sysfs(tmp_path / "c", [(1, "Data", "32K"), (3, "Unified", "8M")])) is None
    assert l2_cache_bytes(_sysfs(tmp_path / "d", [(2, "Unified", "garbage")])) is None
    assert l2_cache_bytes(str(tmp_path / "missing")) is None
