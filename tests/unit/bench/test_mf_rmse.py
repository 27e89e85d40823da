"""Helpers of ``mpiml bench mf --rmse-table`` (the table itself launches MPI jobs)."""

import numpy as np

from mpiml.bench import mf_rmse


def test_load_ratings_skips_a_header_and_reads_three_columns(tmp_path):
    p = tmp_path / "r.inter"
    p.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n"
                 "186\t302\t4.5\t891717742\n")
    np.testing.assert_array_equal(mf_rmse.load_ratings(p), [[196, 242, 3], [186, 302, 4.5]])
    q = tmp_path / "r.txt"
    q.write_text("1 2 3\n4 5 1\n")
    assert mf_rmse.load_ratings(q).shape == (2, 3)


def test_split_is_dense_seeded_and_drops_unseen_test_ids():
    rng = np.random.default_rng(3)
    a = np.column_stack([rng.integers(100, 140, 2000) * 7, rng.integers(0, 60, 2000) + 5, rng.random(2000)])
    tr, te = mf_rmse.split(a)
    tr2, te2 = mf_rmse.split(a)
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)
    assert 0.05 < len(te) / len(a) < 0.15
    assert set(np.unique(tr[:, 0])) == set(range(int(tr[:, 0].max()) + 1))
    assert np.isin(te[:, 0], tr[:, 0]).all() and np.isin(te[:, 1], tr[:, 1]).all()
    # the values are the input's, each used once (the random values are distinct)
    assert len(np.intersect1d(tr[:, 2], te[:, 2])) == 0 and np.isin(np.r_[tr[:, 2], te[:, 2]], a[:, 2]).all()


def test_find_real():
    assert mf_rmse.find_real("none")[0] is None
    assert str(mf_rmse.find_real("x.txt")[0]) == "x.txt"
    path, why = mf_rmse.find_real("auto")
    assert (path is None) != (why is None)
    if path is not None:
        assert path.name == "ml-100k.inter" and path.exists()
