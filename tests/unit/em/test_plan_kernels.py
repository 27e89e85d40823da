"""The planner's linear-time helpers against the numpy operations they replace."""

import numpy as np
import pytest

from mpiml.em import kernels, keys
from mpiml.em.keys import KeySpace, holders_from_key_sets, joined, shared_holders_from_key_sets
from mpiml.em.plan import sorted_positions
from mpiml.partition import hash_owner


def key_sets(n, seed, n_keys=3000, top=5000):
    rng = np.random.default_rng(seed)
    # overlapping sets of different sizes, one of them empty when n > 2
    return [np.unique(rng.integers(0, top, rng.integers(0, n_keys))) if r != 1 or n < 3
            else np.empty(0, np.int64) for r in range(n)]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_group_by_owner_is_a_stable_argsort(size):
    rng = np.random.default_rng(size)
    owner = rng.integers(0, size, 5000).astype(np.int16)
    values = rng.integers(-10 ** 12, 10 ** 12, 5000)
    out, cuts = kernels.group_by_owner(values, owner, size)
    order = np.argsort(owner, kind="stable")
    assert np.array_equal(out, values[order])
    assert np.array_equal(cuts, np.searchsorted(owner[order], np.arange(size + 1)))


def test_sorted_positions_equal_searchsorted():
    rng = np.random.default_rng(4)
    work = np.unique(rng.integers(0, 10 ** 6, 20000))
    for q in (np.sort(rng.integers(-5, 10 ** 6 + 5, 3000)),     # absent keys, repeats, ends
              np.sort(rng.choice(work, 500, replace=False)),
              rng.integers(0, 10 ** 6, 300),                    # not ascending: fallback
              np.empty(0, np.int64)):
        assert np.array_equal(sorted_positions(work, q), np.searchsorted(work, q))
    assert np.array_equal(sorted_positions(np.empty(0, np.int64), [3, 4]), [0, 0])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8, 9, 12])
def test_holders_by_merge_equal_holders_by_sort(n):
    sets = key_sets(n, seed=n)
    # the reference: lexsort path of parallel (key, rank) arrays
    ref = keys.holders_from_pairs(np.concatenate(sets),
                                  np.concatenate([np.full(k.size, r) for r, k in enumerate(sets)]))
    h = holders_from_key_sets(sets)
    assert np.array_equal(h.keys, ref.keys) and np.array_equal(h.ptr, ref.ptr)
    assert np.array_equal(h.ranks, ref.ranks) and h.ranks.dtype == keys.rank_dtype(n)
    sh, n_keys = shared_holders_from_key_sets(sets)
    want = ref.shared()
    assert n_keys == ref.keys.size
    assert np.array_equal(sh.keys, want.keys) and np.array_equal(sh.ptr, want.ptr)
    assert np.array_equal(sh.ranks, want.ranks)
    if n >= 2:
        assert 0 < sh.keys.size < ref.keys.size


def test_merge_reads_back_to_back_sets_in_place():
    sets = key_sets(3, seed=9)
    buf, offs = joined(sets)
    views = [buf[offs[r]:offs[r + 1]] for r in range(3)]
    again, offs2 = joined(views)
    assert np.shares_memory(again, buf) and np.array_equal(offs, offs2)
    assert not np.shares_memory(joined(sets)[0], sets[0])      # separate arrays: a copy
    h, _ = shared_holders_from_key_sets(views)
    ref, _ = shared_holders_from_key_sets(sets)
    assert np.array_equal(h.keys, ref.keys) and np.array_equal(h.ranks, ref.ranks)


@pytest.mark.parametrize("n_tgt", [50, 70_000])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_packed_keys_unpack_to_each_owners_keys(n_tgt, size):
    space = KeySpace(40, n_tgt)
    rng = np.random.default_rng(n_tgt + size)
    s = rng.integers(0, space.n_src, 4000)
    params = np.unique(space.param_key(s, rng.integers(0, n_tgt, s.size)))
    own = np.r_[params, space.total_key(np.unique(space.source_of(params)))]
    word_owner = hash_owner(np.arange(space.n_src), size).astype(np.int16)
    targets = np.empty(params.size, np.uint16 if n_tgt <= 2 ** 16 else np.int32)
    runs, rc, tc, tot, oc = kernels.pack_keys_by_owner(own, word_owner, space.n_tgt,
                                                       space.n_param, size, targets)
    dest = word_owner[space.source_of(own)]
    for q in range(size):
        out = np.empty(tc[q + 1] - tc[q] + oc[q + 1] - oc[q], np.int64)
        kernels.unpack_keys(runs[rc[q]:rc[q + 1]], targets[tc[q]:tc[q + 1]],
                            tot[oc[q]:oc[q + 1]], space.n_tgt, space.n_param, out)
        assert np.array_equal(out, own[dest == q])
