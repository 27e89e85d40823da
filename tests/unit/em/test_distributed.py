"""Distributed IBM1 on 1-4 simulated ranks equals the dense serial reference."""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.distributed import DistributedIBM1
from mpiml.em.plan import TOPOLOGIES
from mpiml.io.corpus import read_parallel
from tests.fakecomm import run_ranks
from tests.naive.ibm1 import ibm1_dense, viterbi_dense
from tests.unit.em.simulate import train_fake_ranks

N_ITER = 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """43 lines (uneven over 2, 3, 4 ranks), one empty pair, words on one rank only."""
    sp = synthetic_parallel(40, n_words=25, seed=9, p_spurious=0.2)
    src = [list(s) for s in sp.src_sents]
    tgt = [list(t) for t in sp.tgt_sents]
    src += [["lonely", "s1"], [], ["lonely"]]      # last lines -> last rank only
    tgt += [["solo", "t9"], ["orphan"], ["solo"]]
    d = tmp_path_factory.mktemp("ibm1")
    e, f = d / "c.e", d / "c.f"
    e.write_text("".join(" ".join(s) + "\n" for s in src))
    f.write_text("".join(" ".join(t) + "\n" for t in tgt))
    kept = [i for i, s in enumerate(src) if s]
    ref_src, ref_tgt = [src[i] for i in kept], [tgt[i] for i in kept]
    return (e, f), ref_src, ref_tgt, kept, len(src)


def user_tree(topology, size):
    if topology == "tree":     # a star around the last rank
        return [(r, size - 1) for r in range(size - 1)]
    return None


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_theta_equals_serial_reference(corpus, topology, size):
    paths, ref_src, ref_tgt, kept, n_lines = corpus
    si, ti, thetas, lls = ibm1_dense(ref_src, ref_tgt, N_ITER)
    results = train_fake_ranks(size, paths, topology, N_ITER, tree_edges=user_tree(topology, size))
    seen = {}
    for res in results:
        c = res["corpus"]
        assert c.n_empty == 1
        rows = [si[c.src_vocab[s]] for s in (res["keys"] // c.n_tgt).tolist()]
        cols = [ti[c.tgt_vocab[t]] for t in (res["keys"] % c.n_tgt).tolist()]
        for it in range(N_ITER):
            np.testing.assert_allclose(res["thetas"][it], thetas[it][rows, cols], rtol=1e-12,
                                       atol=0)
            rec = res["records"][it]
            assert rec.loglik == pytest.approx(lls[it], rel=1e-12)
            assert rec.iteration == it + 1
        # theta of a key is bit-identical on every rank that holds it
        for k, v in zip(res["keys"].tolist(), res["thetas"][-1].tolist()):
            assert seen.setdefault(k, v) == v
    ll = [r.loglik for r in results[0]["records"]]
    assert all(b >= a for a, b in zip(ll, ll[1:]))
    if size > 1 and topology != "allreduce":
        assert results[0]["records"][0].bytes_total == results[0]["plan_info"].bytes_total
    # the lonely word lives on the last rank only
    last = results[-1]["corpus"]
    assert "lonely" in {last.src_vocab[s] for s in last.src.tolist()}
    for res in results[:-1]:
        assert "lonely" not in {res["corpus"].src_vocab[s] for s in res["corpus"].src.tolist()}

    # Viterbi alignments, written in corpus order, match the reference argmax
    c0 = results[0]["corpus"]
    table = np.zeros_like(thetas[-1])
    for k, v in seen.items():
        table[si[c0.src_vocab[k // c0.n_tgt]], ti[c0.tgt_vocab[k % c0.n_tgt]]] = v
    ref_lines = viterbi_dense(ref_src, ref_tgt, si, ti, table)
    expect = [""] * n_lines
    for line, text in zip(kept, ref_lines):
        expect[line] = text
    assert [x for res in results for x in res["align"]] == expect


def test_ttable_export_and_alignment_file(corpus, tmp_path):
    paths, ref_src, ref_tgt, kept, n_lines = corpus
    out = tmp_path / "align.txt"

    def body(comm):
        c = read_parallel(comm, *paths)
        m = DistributedIBM1(comm, "junction-tree").fit(c, 3)
        m.write_alignments(out)
        return m.export_ttable(2), m.state(), c

    results = run_ranks(3, body)
    assert all(r[0] is None for r in results[1:])
    text, c = results[0][0], results[0][2]
    theta = {}
    for _, st, _ in results:
        theta.update(zip(st["keys"].tolist(), st["theta"].tolist()))
    expect = []
    for s in range(c.n_src):
        row = sorted(((-v, k % c.n_tgt) for k, v in theta.items() if k // c.n_tgt == s))[:2]
        expect += [f"{c.src_vocab[s]}\t{c.tgt_vocab[t]}\t{-v:.8g}" for v, t in row]
    assert text.splitlines() == expect
    lines = out.read_text().split("\n")
    assert len(lines) == n_lines + 1 and lines[-1] == ""


@pytest.mark.parametrize("resume_size", [3, 2])
def test_resume_from_state(corpus, resume_size):
    paths = corpus[0]

    def train(n_iter):
        def body(comm):
            m = DistributedIBM1(comm, "allpairs").fit(read_parallel(comm, *paths), n_iter)
            return m.state()
        return run_ranks(3, body)

    full = train(3)
    half = train(2)
    keys = np.concatenate([s["keys"] for s in half])
    theta = np.concatenate([s["theta"] for s in half])

    def resume(comm):
        m = DistributedIBM1(comm, "allpairs").setup(read_parallel(comm, *paths))
        m.load_state(keys, theta, 2)
        m.iterate()
        return m.state()

    resumed = run_ranks(resume_size, resume)
    want = {}
    for s in full:
        want.update(zip(s["keys"].tolist(), s["theta"].tolist()))
    for s in resumed:
        assert s["iteration"] == 3
        got = s["theta"]
        ref = np.array([want[k] for k in s["keys"].tolist()])
        if resume_size == 3:
            assert np.array_equal(got, ref)          # bit-identical at the same rank count
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_more_ranks_than_lines(tmp_path, topology):
    e, f = tmp_path / "t.e", tmp_path / "t.f"
    e.write_text("a b\nb c\n\nc a\n")
    f.write_text("x y\ny z\nq\nz x\n")
    src, tgt = [["a", "b"], ["b", "c"], ["c", "a"]], [["x", "y"], ["y", "z"], ["z", "x"]]
    si, ti, thetas, lls = ibm1_dense(src, tgt, 3)
    results = train_fake_ranks(6, (e, f), topology, 3, tree_edges=user_tree(topology, 6))
    assert [r["corpus"].n_pairs for r in results] == [1, 1, 0, 1, 0, 0]
    for res in results:
        c = res["corpus"]
        assert res["records"][-1].loglik == pytest.approx(lls[-1], rel=1e-12)
        for k, v in zip(res["keys"].tolist(), res["thetas"][-1].tolist()):
            ref = thetas[-1][si[c.src_vocab[k // c.n_tgt]], ti[c.tgt_vocab[k % c.n_tgt]]]
            assert v == pytest.approx(ref, rel=1e-12)
    assert [x for r in results for x in r["align"]] == ["0-0 1-1", "0-0 1-1", "", "0-0 1-1"]
